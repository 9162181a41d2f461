"""200 VM orders from 20 concurrent API clients against one /24: no address handed out
twice, every order answered 202 with an address or 409 "pool exhausted", nothing leaked."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client

from apps.compute.models import VirtualMachine
from apps.ipam.models import IPAddress
from apps.tenancy.models import Membership, Role
from apps.tenancy.services import api_key_create
from tests.factories import make_network, make_plan, make_pool, make_ready_cluster, make_tenant

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLIENTS, ORDERS_EACH, POOL_SIZE = 20, 10, 150


def test_200_concurrent_orders_never_share_an_address(settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (make test starts one)")
    settings.FABRIC_TASK_QUEUE = "unconsumed"  # no worker builds (or undoes) these VMs
    cluster = make_ready_cluster()
    make_pool(network=make_network(cluster=cluster, prefix="198.51.100.0/24"),
              first="198.51.100.55", last="198.51.100.204")  # fmt: skip
    tenant, plan = make_tenant(max_vms=1000), make_plan()
    user = get_user_model().objects.create_user("billing")
    Membership.objects.create(user=user, tenant=tenant, role=Role.TENANT_USER)
    _, secret = api_key_create(name="billing", user=user)
    answers, lock = [], threading.Lock()

    def client(n: int) -> None:
        http = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="127.0.0.1")
        try:
            for i in range(ORDERS_EACH):
                order = {"plan": plan.pk, "cluster": cluster.pk, "name": f"c{n}-{i}"}
                response = http.post("/api/v1/vms/", order, content_type="application/json")
                with lock:
                    answers.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == CLIENTS * ORDERS_EACH
    assert {status for status, _ in answers} == {202, 409}
    given = [body["ipv4"] for status, body in answers if status == 202]
    refused = [body["error"] for status, body in answers if status == 409]
    assert len(given) == len(set(given)) == POOL_SIZE
    assert len(refused) == CLIENTS * ORDERS_EACH - POOL_SIZE
    assert all(e["code"] == "pool_exhausted" and "cluster" in e["fields"] for e in refused)
    assert VirtualMachine.objects.count() == IPAddress.objects.count() == POOL_SIZE
    assert not IPAddress.objects.filter(vm__isnull=True, status="allocated").exists()
