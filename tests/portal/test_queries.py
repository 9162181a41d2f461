"""Lists stay fast with 10,000 VMs: a page costs a fixed number of queries, not one per row."""

import netaddr
import pytest
from django.contrib.contenttypes.models import ContentType

from apps.compute.models import VirtualMachine
from apps.fabric.models import Node
from apps.ipam.models import IPAddress, address_key
from apps.jobs.models import Job
from tests.factories import make_network, make_pool

pytestmark = pytest.mark.django_db

VMS = 10_000
# session, user, memberships, then the page: count, rows, their addresses, filter choices.
MAX_QUERIES = 10


@pytest.fixture
def crowded(world):
    """10,000 VMs (a quarter of them tenant A's) with an address each, 2,000 jobs, 300 nodes."""
    cluster = world.cluster
    pool = make_pool(network=make_network(cluster=cluster, prefix="45.0.0.0/18"),
                     first="45.0.0.10", last="45.0.63.250")  # fmt: skip
    nodes = Node.objects.bulk_create(
        Node(cluster=cluster, name=f"bulk-{i}", underlay_ip=f"10.7.{i // 250}.{i % 250 + 1}",
             ssh_private_key="key", vcpus=64, memory_mb=262144, disk_gb=4000, state="ready")
        for i in range(300)
    )  # fmt: skip
    states = ["running", "running", "stopped", "provisioning", "failed"]
    vms = VirtualMachine.objects.bulk_create(
        VirtualMachine(
            tenant=world.tenant_a if i % 4 == 0 else world.tenant_b,
            cluster=cluster,
            plan=world.plan,
            name=f"bulk-vm-{i}",
            node=nodes[i % len(nodes)],
            vnet_name=f"vnet{i + 100}",
            state=states[i % len(states)],
        )
        for i in range(VMS)
    )
    first = int(netaddr.IPAddress("45.0.0.10"))
    addresses = []
    for i, vm in enumerate(vms):
        address = netaddr.IPAddress(first + i)
        addresses.append(
            IPAddress(pool=pool, address=str(address), family=4, key=address_key(address),
                      status="allocated", vm=vm)
        )  # fmt: skip
    IPAddress.objects.bulk_create(addresses)
    vm_type = ContentType.objects.get_for_model(VirtualMachine)
    Job.objects.bulk_create(
        Job(kind="vm_create", target_type=vm_type, target_id=vm.pk, target_repr=vm.name,
            tenant_id=vm.tenant_id, state="failed" if i % 10 == 0 else "succeeded")
        for i, vm in enumerate(vms[:2000])
    )  # fmt: skip
    return world


STAFF_QUERIES = (
    "",
    "?page=40",
    "?q=bulk-vm-77",
    "?q=45.0.1.",
    "?state=stopped&cluster={cluster}",
    "?tenant={tenant}",
)


def test_vm_lists_are_bounded(crowded, django_assert_max_num_queries):
    """Staff (every filter, any page) and a tenant (scoped to its VMs) alike."""
    operator, alice = crowded.client("operator"), crowded.client("alice")
    for query in STAFF_QUERIES:
        url = "/vms/" + query.format(cluster=crowded.cluster.pk, tenant=crowded.tenant_b.pk)
        with django_assert_max_num_queries(MAX_QUERIES, info=url):
            response = operator.get(url)
        assert response.status_code == 200, url
    first = operator.get("/vms/").content.decode()
    assert "of 10002" in first  # the world's two VMs and the bulk ones
    assert first.count('href="/vms/') >= 50

    with django_assert_max_num_queries(MAX_QUERIES):
        response = alice.get("/vms/?page=3")
    page = response.content.decode()
    assert response.status_code == 200
    assert "of 2501" in page  # tenant A's 2,500 bulk VMs and web-a, nothing of B's
    assert "web-b" not in page


def test_job_and_node_lists_are_bounded(crowded, django_assert_max_num_queries):
    operator, alice = crowded.client("operator"), crowded.client("alice")
    with django_assert_max_num_queries(MAX_QUERIES):
        response = operator.get("/jobs/?state=failed")
    assert response.status_code == 200 and "of 200" in response.content.decode()
    with django_assert_max_num_queries(MAX_QUERIES):
        response = alice.get("/jobs/")
    assert response.status_code == 200
    with django_assert_max_num_queries(MAX_QUERIES):
        response = operator.get("/nodes/?page=2")
    assert response.status_code == 200 and "bulk-" in response.content.decode()


def test_dashboard_and_detail_pages_are_bounded(crowded, django_assert_max_num_queries):
    client = crowded.client("operator")
    with django_assert_max_num_queries(12):
        assert client.get("/dashboard/").status_code == 200
    # the cluster page: + the hypervisors its nodes run, + the header's count of running jobs
    with django_assert_max_num_queries(18):
        assert client.get(f"/clusters/{crowded.cluster.pk}/").status_code == 200
    with django_assert_max_num_queries(9):  # session, user, memberships, then 5 whatever the size
        part = client.get(f"/clusters/{crowded.cluster.pk}/topology/").content.decode()
    assert part.count('class="topo-box topo-node"') == 24 and "277 more nodes not drawn" in part
    with django_assert_max_num_queries(20):
        assert client.get(f"/nodes/{Node.objects.get(name='bulk-7').pk}/").status_code == 200


def test_live_parts_and_the_jobs_indicator_are_bounded(crowded, django_assert_max_num_queries):
    """What htmx polls every few seconds costs what the page does, or less, for any size."""
    operator, alice = crowded.client("operator"), crowded.client("alice")
    newest = Job.objects.order_by("-pk").values("pk")[:50]  # on the first page of each list
    Job.objects.filter(pk__in=newest).update(state="running", finished=None)
    parts = [
        (operator, "/vms/?state=provisioning", "vm-list-live"),
        (operator, "/vms/?page=40", "vm-list-live"),
        (alice, "/vms/?page=3", "vm-list-live"),
        (operator, "/jobs/?state=running", "job-list-live"),
        (alice, "/jobs/", "job-list-live"),
    ]
    for client, url, marker in parts:
        with django_assert_max_num_queries(MAX_QUERIES, info=url):
            response = client.get(url, HTTP_HX_REQUEST="true")
        part = response.content.decode()
        assert response.status_code == 200 and part.lstrip().startswith(f'<div id="{marker}"')
        assert 'data-live="true"' in part, url  # provisioning VMs, running jobs on each
    with django_assert_max_num_queries(12):
        response = operator.get("/dashboard/", HTTP_HX_REQUEST="true")
    assert response.content.decode().lstrip().startswith('<div id="dashboard-live"')
    with django_assert_max_num_queries(5):  # session, user, memberships, the count
        response = operator.get("/jobs/running/")
    assert 'data-count="50"' in response.content.decode()
