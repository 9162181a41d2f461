"""The periodic BGP session collection: which devices it asks, and that a device that does
not answer keeps its last states, marked stale with their time. (Against real BIRD over
SSH: tests/e2e/test_bgp_sessions.py.)"""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.fabric import bgp_sessions
from apps.fabric.bgp_sessions import Answer, collect_bgp_sessions
from apps.fabric.models import BgpSessionState
from apps.fabric.services import bgp_sessions_record
from apps.jobs.models import Job
from tests.factories import make_cluster, make_node, make_rr
from workers.bird import BgpSession

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def established(name: str) -> BgpSession:
    return BgpSession(name=name, state="Established", info="Established", since="", neighbor="",
                      description="", routes_imported=0, routes_exported=3)  # fmt: skip


def test_unreachable_devices_keep_their_last_states_marked_stale(settings):
    settings.FABRIC_SSH_HOST_KEY_POLICY = "insecure"
    cluster = make_cluster(state="ready")
    node = make_node(cluster=cluster, state="ready", ssh_host="127.0.0.1", ssh_port=closed_port(),
                     ssh_private_key="", ssh_password="not-used")  # fmt: skip
    bad_key = make_node(cluster=cluster, state="draining")  # the factory's key is not a key
    unknown_key = make_rr(cluster=cluster, state="ready", ssh_host_key="",
                          ssh_host="127.0.0.1", ssh_port=closed_port())  # fmt: skip
    then = timezone.now() - timedelta(minutes=3)
    bgp_sessions_record(device=node, seen_at=then, sessions={"rr_1": established("rr_1")})
    settings.FABRIC_SSH_HOST_KEY_POLICY = "strict"  # the RR without a key is never logged in to

    summary = collect_bgp_sessions()

    assert (summary["devices"], summary["answered"]) == (3, 0)
    assert any("HostKeyUnknown" in line for line in summary["stale"])
    assert any(line.startswith(f"node {bad_key.name}: KeyImportError") for line in summary["stale"])
    row = BgpSessionState.objects.get(node=node)
    assert (row.state, row.routes_exported, row.seen_at, row.stale) == ("Established", 3, then,
                                                                        True)  # fmt: skip
    assert "NodeUnreachable" in row.stale_reason
    assert not BgpSessionState.objects.filter(route_reflector=unknown_key).exists()
    assert not Job.objects.exists()  # a pass writes no job rows


def test_devices_not_started_or_being_removed_are_not_asked(settings):
    cluster = make_cluster(state="ready")
    make_node(cluster=cluster, state="new")
    make_node(cluster=cluster, state="removing")
    make_rr(cluster=cluster, state="removing")
    make_rr(cluster=cluster, state="new")

    assert collect_bgp_sessions() == {"devices": 0, "answered": 0, "stale": []}


def test_the_beat_schedule_runs_the_collection(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["bgp-sessions"]
    assert entry["task"] == "fabric.bgp_sessions_collect"
    assert entry["options"]["expires"] <= entry["schedule"]


def test_a_device_that_cannot_be_recorded_does_not_stop_the_pass(monkeypatch):
    """One device's answer failing to record (removed meanwhile, a bad row) leaves it marked
    stale with why, and the devices after it are recorded all the same."""
    cluster = make_cluster(state="ready")
    first, second = make_node(cluster=cluster, state="ready"), make_node(cluster=cluster,
                                                                        state="ready")  # fmt: skip
    answer = Answer(sessions={"rr_1": established("rr_1")})
    monkeypatch.setattr(bgp_sessions, "read_sessions", lambda *args, **kw: answer)
    recorded = bgp_sessions.bgp_sessions_record

    def record(*, device, **kwargs):
        if device.pk == first.pk:
            raise ValueError("a row that does not fit")
        return recorded(device=device, **kwargs)

    monkeypatch.setattr(bgp_sessions, "bgp_sessions_record", record)
    summary = collect_bgp_sessions()

    assert summary["answered"] == 1
    assert summary["stale"] == [f"node {first.name}: ValueError: a row that does not fit"]
    assert BgpSessionState.objects.get(node=second).state == "Established"
