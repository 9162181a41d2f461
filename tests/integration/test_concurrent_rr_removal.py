"""Two operators remove the two route reflectors of a cluster at the same moment: the
cluster row lock makes them take turns, so one removal is queued and the other refused."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from apps.fabric.models import RouteReflector
from apps.fabric.services import route_reflector_remove_start
from apps.jobs.models import Job
from tests.factories import make_cluster, make_rr

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_concurrent_removals_never_take_the_last_route_reflector(settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (make test starts one)")
    settings.FABRIC_TASK_QUEUE = "unconsumed"  # only the decision is under test
    cluster = make_cluster()
    reflectors = [make_rr(cluster=cluster, state="ready") for _ in range(2)]
    barrier, outcomes, lock = threading.Barrier(2), [], threading.Lock()

    def remove(rr: RouteReflector) -> None:
        try:
            barrier.wait()
            route_reflector_remove_start(rr=rr)
            outcome = "queued"
        except ValidationError as exc:
            outcome = " ".join(exc.messages)
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    for _ in range(5):  # a few rounds: the race window is small
        RouteReflector.objects.filter(cluster=cluster).update(state="ready")
        Job.objects.all().delete()
        outcomes.clear()
        threads = [threading.Thread(target=remove, args=(rr,)) for rr in reflectors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert outcomes.count("queued") == 1, outcomes
        refused = next(o for o in outcomes if o != "queued")
        assert "last ready route reflector" in refused, outcomes
        assert Job.objects.filter(kind="route_reflector_remove").count() == 1
        states = sorted(
            RouteReflector.objects.filter(cluster=cluster).values_list("state", flat=True)
        )
        assert states == ["ready", "removing"]
