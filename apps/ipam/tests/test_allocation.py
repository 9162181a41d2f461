"""IP allocation: never twice, never leaked, exhaustion reported, cost flat in the pool.

One battery for both databases: `make test` runs it on PostgreSQL, then once more on
SQLite (the `both_databases` marker; scripts/test.sh). One-off on SQLite:
`DATABASE_URL=sqlite:///var/t.sqlite3 pytest apps/ipam/tests/test_allocation.py`.
"""

import random
import threading

import netaddr
import pytest
from django.db import connection, connections

from apps.billing.models import UsageEvent
from apps.compute.models import VirtualMachine
from apps.compute.services import vm_order
from apps.ipam.models import IPAddress, IPPool, address_key
from apps.ipam.services import PoolExhausted, ip_allocate, ip_release, ip_reserve
from tests.factories import (
    make_network,
    make_plan,
    make_pool,
    make_ready_cluster,
    make_tenant,
    make_vm,
)

pytestmark = pytest.mark.both_databases


@pytest.fixture
def cluster_with_pool(db):
    cluster = make_ready_cluster()
    network = make_network(cluster=cluster, prefix="203.0.113.0/24")
    pool = make_pool(network=network, first="203.0.113.10", last="203.0.113.19",
                     excluded="203.0.113.12, 203.0.113.15-203.0.113.16")  # fmt: skip
    return cluster, pool


def test_allocations_are_sequential_unique_and_skip_excluded(cluster_with_pool):
    cluster, pool = cluster_with_pool
    got = [ip_allocate(cluster=cluster, vm=make_vm(cluster=cluster)).address for _ in range(7)]
    assert got == [
        "203.0.113.10", "203.0.113.11", "203.0.113.13", "203.0.113.14",
        "203.0.113.17", "203.0.113.18", "203.0.113.19",
    ]  # fmt: skip
    with pytest.raises(PoolExhausted, match="full"):
        ip_allocate(cluster=cluster, vm=make_vm(cluster=cluster))


def test_allocation_is_idempotent_per_vm_and_family(cluster_with_pool):
    cluster, _ = cluster_with_pool
    vm = make_vm(cluster=cluster)
    first = ip_allocate(cluster=cluster, vm=vm)
    again = ip_allocate(cluster=cluster, vm=vm)
    assert first.pk == again.pk
    assert IPAddress.objects.filter(vm=vm).count() == 1


def test_released_addresses_are_reused_after_the_cursor_wraps(cluster_with_pool):
    cluster, _ = cluster_with_pool
    vms = [make_vm(cluster=cluster) for _ in range(7)]
    for vm in vms:
        ip_allocate(cluster=cluster, vm=vm)
    assert ip_release(vm=vms[1]) == ["203.0.113.11"]
    assert ip_release(vm=vms[1]) == []
    assert ip_allocate(cluster=cluster, vm=make_vm(cluster=cluster)).address == "203.0.113.11"


def test_cluster_without_a_pool_says_so(db):
    cluster = make_ready_cluster()
    with pytest.raises(PoolExhausted, match="no IPv4 pool"):
        ip_allocate(cluster=cluster, vm=make_vm(cluster=cluster))


def test_ipv6_allocation_from_a_v6_pool(db):
    cluster = make_ready_cluster()
    make_pool(network=make_network(cluster=cluster, prefix="2001:db8:100::/64"),
              first="2001:db8:100::10", last="2001:db8:100::ffff")  # fmt: skip
    ip = ip_allocate(cluster=cluster, vm=make_vm(cluster=cluster), family=6)
    assert ip.address == "2001:db8:100::10" and ip.family == 6


def test_order_on_an_exhausted_pool_saves_nothing(cluster_with_pool):
    cluster, _ = cluster_with_pool
    tenant, plan = make_tenant(max_vms=100), make_plan()
    for i in range(7):
        vm_order(tenant=tenant, plan=plan, cluster=cluster, name=f"web{i}")
    before = (VirtualMachine.objects.count(), IPAddress.objects.count())
    with pytest.raises(PoolExhausted):
        vm_order(tenant=tenant, plan=plan, cluster=cluster, name="one-too-many")
    assert (VirtualMachine.objects.count(), IPAddress.objects.count()) == before
    assert not VirtualMachine.objects.filter(name="one-too-many").exists()


def test_allocation_query_count_does_not_grow_with_the_pool(db):
    from django.test.utils import CaptureQueriesContext

    cluster = make_ready_cluster()
    make_pool(network=make_network(cluster=cluster, prefix="198.51.100.0/24"),
              first="198.51.100.1", last="198.51.100.254")  # fmt: skip
    counts = []
    for n in range(200):
        vm = make_vm(cluster=cluster)
        with CaptureQueriesContext(connection) as queries:
            ip_allocate(cluster=cluster, vm=vm)
        if n in (1, 199):
            counts.append(len(queries))
    assert counts[0] == counts[1] <= 12, counts


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_never_share_an_address(settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (make test starts one)")
    # No worker may build (and, failing without nodes, undo) these VMs during the test.
    settings.FABRIC_TASK_QUEUE = "unconsumed"
    cluster = make_ready_cluster()
    make_pool(network=make_network(cluster=cluster, prefix="198.51.100.0/24"),
              first="198.51.100.1", last="198.51.100.40")  # fmt: skip
    tenant, plan = make_tenant(max_vms=1000), make_plan()
    results: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        try:
            for i in range(6):
                try:
                    vm = vm_order(tenant=tenant, plan=plan, cluster=cluster, name=f"c{n}-{i}")
                    outcome = vm.ip_addresses.get().address
                except PoolExhausted:
                    outcome = "exhausted"
                with lock:
                    results.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    addresses = [r for r in results if r != "exhausted"]
    assert len(results) == 60
    assert len(addresses) == 40 == len(set(addresses))
    assert results.count("exhausted") == 20
    assert all(netaddr.IPAddress(a) in netaddr.IPNetwork("198.51.100.0/24") for a in addresses)
    assert IPAddress.objects.count() == 40
    assert VirtualMachine.objects.count() == 40
    assert not IPAddress.objects.filter(vm__isnull=True, status="allocated").exists()


# --- next-fit, exclusions, families, pools and the ledger: the same answers on PostgreSQL
# (one statement searches and inserts) and on SQLite (three statements) ----------------------


def allocate(cluster, count: int = 1, family: int = 4) -> list[str]:
    return [
        ip_allocate(cluster=cluster, vm=make_vm(cluster=cluster), family=family).address
        for _ in range(count)
    ]


def test_allocation_continues_after_the_cursor_before_reusing_released_addresses(
    cluster_with_pool,
):
    cluster, pool = cluster_with_pool
    vm = make_vm(cluster=cluster)
    ip_allocate(cluster=cluster, vm=vm)
    allocate(cluster, 2)
    ip_release(vm=vm)
    ip = ip_allocate(cluster=cluster, vm=make_vm(cluster=cluster))
    assert (ip.address, ip.key, ip.family, ip.pool_id) == (
        "203.0.113.14", address_key("203.0.113.14"), 4, pool.pk
    )  # fmt: skip
    pool.refresh_from_db()
    assert pool.cursor == ip.key
    assert IPAddress.objects.get(pk=ip.pk).address == "203.0.113.14"


def test_a_cursor_in_an_excluded_range_and_the_wrap_around_skip_excluded_addresses(db):
    cluster = make_ready_cluster()
    pool = make_pool(network=make_network(cluster=cluster, prefix="203.0.113.0/24"),
                     first="203.0.113.10", last="203.0.113.19",
                     excluded="203.0.113.10-203.0.113.11\n203.0.113.17-203.0.113.19")  # fmt: skip
    IPPool.objects.filter(pk=pool.pk).update(cursor=address_key("203.0.113.17"))
    assert allocate(cluster, 5) == [
        "203.0.113.12", "203.0.113.13", "203.0.113.14", "203.0.113.15", "203.0.113.16"
    ]  # fmt: skip
    with pytest.raises(PoolExhausted, match="^Every IPv4 pool of cluster .* is full.$"):
        allocate(cluster)


def test_free_addresses_between_used_ones_are_found_after_the_wrap(cluster_with_pool):
    cluster, pool = cluster_with_pool
    vms = [make_vm(cluster=cluster) for _ in range(7)]
    for vm in vms:
        ip_allocate(cluster=cluster, vm=vm)
    ip_release(vm=vms[3])  # .14
    ip_release(vm=vms[5])  # .18
    ip_reserve(pool=pool, address="203.0.113.18", status=IPAddress.Status.RESERVED)
    assert allocate(cluster) == ["203.0.113.14"]
    with pytest.raises(PoolExhausted):
        allocate(cluster)


def test_pools_are_used_in_order_and_the_next_when_one_is_full(db):
    cluster = make_ready_cluster()
    later = make_network(cluster=cluster, prefix="203.0.113.0/24")
    earlier = make_network(cluster=cluster, prefix="198.51.100.0/24")
    make_pool(network=later, name="a", first="203.0.113.10", last="203.0.113.10")
    make_pool(network=earlier, name="b", first="198.51.100.20", last="198.51.100.20")
    make_pool(network=earlier, name="a", first="198.51.100.10", last="198.51.100.11",
              excluded="198.51.100.11")  # fmt: skip
    assert allocate(cluster, 3) == ["198.51.100.10", "198.51.100.20", "203.0.113.10"]
    with pytest.raises(PoolExhausted, match="^Every IPv4 pool of cluster .* is full.$"):
        allocate(cluster)


def test_ipv6_exclusions_cursor_and_wrap_around(db):
    cluster = make_ready_cluster()
    excluded = "2001:db8:100::fff2-2001:db8:100::ffff, 2001:db8:100::1:1"
    pool = make_pool(network=make_network(cluster=cluster, prefix="2001:db8:100::/64"),
                     first="2001:db8:100::fff0", last="2001:db8:100::1:3",
                     excluded=excluded)  # fmt: skip
    IPPool.objects.filter(pk=pool.pk).update(cursor=address_key("2001:db8:100::1:2"))
    got = allocate(cluster, 5, family=6)
    assert got == ["2001:db8:100::1:3", "2001:db8:100::fff0", "2001:db8:100::fff1",
                   "2001:db8:100::1:0", "2001:db8:100::1:2"]  # fmt: skip
    assert list(IPAddress.objects.filter(pool=pool).values_list("key", flat=True)) == sorted(
        address_key(a) for a in got
    )
    with pytest.raises(PoolExhausted, match="IPv6"):
        allocate(cluster, family=6)
    with pytest.raises(PoolExhausted, match="no IPv4 pool"):
        allocate(cluster, family=4)


def test_an_existing_address_is_returned_without_a_ledger_row(cluster_with_pool):
    cluster, _ = cluster_with_pool
    vm = make_vm(cluster=cluster)
    first = ip_allocate(cluster=cluster, vm=vm)
    again = ip_allocate(cluster=cluster, vm=vm)
    assert (again.pk, again.address) == (first.pk, first.address)
    assert UsageEvent.objects.filter(vm=vm).count() == 1


def test_the_allocation_is_in_the_ledger(cluster_with_pool):
    cluster, _ = cluster_with_pool
    vm = make_vm(cluster=cluster)
    ip = ip_allocate(cluster=cluster, vm=vm)
    event = UsageEvent.objects.get(vm=vm)
    assert (event.event_type, event.address, event.family, event.at) == (
        UsageEvent.Type.IP_ASSIGNED, ip.address, 4, ip.created
    )  # fmt: skip
    assert (event.tenant_id, event.plan_id, event.plan_name, event.kind) == (
        vm.tenant_id, vm.plan_id, vm.plan.name, vm.plan.kind
    )  # fmt: skip


# The lock, the claim (the address after the cursor is free), and on SQLite, which has no
# data-modifying CTEs, the cursor and the ledger row as statements of their own.
STATEMENTS = {"postgresql": 2, "sqlite": 5}


def test_an_allocation_is_a_fixed_number_of_statements(cluster_with_pool):
    from django.test.utils import CaptureQueriesContext

    cluster, _ = cluster_with_pool
    allocate(cluster)
    vm = make_vm(cluster=cluster)
    with CaptureQueriesContext(connection) as queries:
        ip_allocate(cluster=cluster, vm=vm)
    sql = [q["sql"] for q in queries.captured_queries]
    transaction_control = [s for s in sql if s.split()[0] in ("BEGIN", "COMMIT", "SAVEPOINT",
                                                               "RELEASE")]  # fmt: skip
    assert len(sql) - len(transaction_control) == STATEMENTS[connection.vendor], sql
    assert len(transaction_control) <= 2, sql


def next_fit(pool: IPPool, used: set[int]) -> int | None:
    """The address the allocator must take, found the obvious way: every address after the
    cursor, then every one from the start up to it, the first neither excluded nor used."""
    first, last = int(pool.first), int(pool.last)
    after = int(pool.cursor, 16) + 1 if pool.cursor else first
    after = after if first <= after <= last else first
    excluded = pool.excluded_set()
    for candidate in [*range(after, last + 1), *range(first, after)]:
        if candidate not in used and netaddr.IPAddress(candidate, 4) not in excluded:
            return candidate
    return None


@pytest.mark.parametrize("seed", range(20))
def test_the_allocator_takes_what_a_plain_next_fit_takes(db, seed):
    """Random exclusions, reservations, allocations and cursor: the address taken is the
    one a plain walk over the pool names."""
    rng = random.Random(seed)
    cluster = make_ready_cluster()
    network = make_network(cluster=cluster, prefix="198.51.100.0/24")
    excluded = set()
    for _ in range(rng.randrange(4)):
        start = rng.randrange(10, 60)
        excluded.add(f"198.51.100.{start}-198.51.100.{min(59, start + rng.randrange(4))}")
    pool = make_pool(network=network, first="198.51.100.10", last="198.51.100.59",
                     excluded=", ".join(sorted(excluded)))  # fmt: skip
    free = [a for a in range(10, 60) if netaddr.IPAddress(f"198.51.100.{a}")
            not in pool.excluded_set()]  # fmt: skip
    for a in rng.sample(free, rng.randrange(len(free) + 1)):
        ip_reserve(pool=pool, address=f"198.51.100.{a}", status=IPAddress.Status.RESERVED)
    IPPool.objects.filter(pk=pool.pk).update(
        cursor=address_key(f"198.51.100.{rng.randrange(10, 60)}")
    )
    for _ in range(3):
        pool.refresh_from_db()
        used = {int(netaddr.IPAddress(a)) for a in pool.addresses.values_list("address", flat=True)}
        expected = next_fit(pool, used)
        if expected is None:
            with pytest.raises(PoolExhausted):
                allocate(cluster)
            break
        assert allocate(cluster) == [str(netaddr.IPAddress(expected))]
