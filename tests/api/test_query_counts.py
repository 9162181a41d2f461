"""Lists of many VMs cost a fixed number of queries (no N+1)."""

import netaddr
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.compute.models import VirtualMachine
from apps.ipam.models import IPAddress, address_key
from tests.factories import make_network, make_pool

VM_COUNT = 10_000


def test_a_page_of_10000_vms_costs_a_fixed_number_of_queries(world):
    pool = make_pool(network=make_network(cluster=world.cluster, prefix="185.200.0.0/16"),
                     first="185.200.0.1", last="185.200.255.254")  # fmt: skip
    vms = VirtualMachine.objects.bulk_create(
        VirtualMachine(
            tenant=world.tenant_a, plan=world.plan, cluster=world.cluster, name=f"bulk-{n}"
        )  # fmt: skip
        for n in range(VM_COUNT)
    )
    first = int(netaddr.IPAddress("185.200.0.1"))
    IPAddress.objects.bulk_create(
        IPAddress(pool=pool, address=str(netaddr.IPAddress(first + n)), family=4,
                  key=address_key(netaddr.IPAddress(first + n)), status="allocated", vm=vm)
        for n, vm in enumerate(vms)
    )  # fmt: skip

    for who in ("admin", "alice"):
        client = world.client(who)
        client.get("/api/v1/vms/", {"page_size": 1})  # warm up: the key's last_used write
        counts = []
        for page_size in (10, 1000):
            with CaptureQueriesContext(connection) as queries:
                response = client.get("/api/v1/vms/", {"page_size": page_size, "ordering": "name"})
            assert response.status_code == 200
            body = response.json()
            assert body["count"] == VM_COUNT and len(body["results"]) == page_size
            assert all(row["ipv4"] for row in body["results"])
            counts.append(len(queries))
        assert counts[0] == counts[1] <= 6, (who, counts)
        page = client.get("/api/v1/vms/", {"page_size": 5000})  # capped at 1000
        assert len(page.json()["results"]) == 1000
