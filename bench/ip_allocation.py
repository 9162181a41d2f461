"""IP allocation on PostgreSQL: 10,000 sequential allocations from one pool, 20 concurrent
allocators, and the naive approach (build the set of used addresses, take the first free)
measured in the same run at the same fill levels."""

import threading

import netaddr

from bench.common import median, percentile, setup_django, table, timer

setup_django()

from django.db import connections, transaction  # noqa: E402

from apps.compute.models import Plan, VirtualMachine  # noqa: E402
from apps.fabric.models import Cluster  # noqa: E402
from apps.ipam.models import IPAddress, IPPool, Network, address_key  # noqa: E402
from apps.ipam.services import ip_allocate  # noqa: E402
from apps.tenancy.models import Tenant  # noqa: E402

TOTAL = 10_000
LEVELS = (0, 5_000, 9_900)


def fresh_cluster(name: str, prefix: str) -> tuple[Cluster, IPPool]:
    cluster = Cluster.objects.create(name=name, bgp_asn=65000, bgp_community="65000:1")
    network = Network.objects.create(cluster=cluster, prefix=prefix)
    net = netaddr.IPNetwork(prefix)
    pool = IPPool.objects.create(network=network, name="p", first_address=str(net[1]),
                                 last_address=str(net[-2]))  # fmt: skip
    return cluster, pool


def make_vms(cluster: Cluster, count: int) -> list[VirtualMachine]:
    tenant = Tenant.objects.create(name=f"bench-{cluster.name}", max_vms=10**6)
    plan, _ = Plan.objects.get_or_create(name="bench", vcpus=1, memory_mb=512, disk_gb=1)
    return VirtualMachine.objects.bulk_create(
        VirtualMachine(tenant=tenant, cluster=cluster, plan=plan, name=f"vm{i}")
        for i in range(count)
    )


@transaction.atomic
def naive_allocate(pool: IPPool, vm: VirtualMachine) -> IPAddress:
    """The baseline: read every used address, walk the range, take the first free one."""
    IPPool.objects.select_for_update().get(pk=pool.pk)
    used = set(IPAddress.objects.filter(pool=pool).values_list("address", flat=True))
    for address in netaddr.iter_iprange(pool.first_address, pool.last_address):
        if str(address) not in used:
            return IPAddress.objects.create(pool=pool, address=str(address), family=4,
                                            key=address_key(address), status="allocated",
                                            vm=vm)  # fmt: skip
    raise RuntimeError("full")


def sequential() -> None:
    cluster, pool = fresh_cluster("seq", "44.0.0.0/16")
    vms = make_vms(cluster, TOTAL)
    durations = []
    for vm in vms:
        with timer() as t:
            ip_allocate(cluster=cluster, vm=vm)
        durations.append(t())
    assert IPAddress.objects.filter(pool=pool).count() == TOTAL

    naive_cluster, naive_pool = fresh_cluster("naive", "45.0.0.0/16")
    naive_vms = make_vms(naive_cluster, TOTAL + 200)
    rows = []
    for level in LEVELS:
        filled = IPAddress.objects.filter(pool=naive_pool).count()
        IPAddress.objects.bulk_create(
            IPAddress(pool=naive_pool, address=str(a), family=4, key=address_key(a),
                      status="allocated", vm=naive_vms[i])
            for i, a in zip(range(filled, level),
                            netaddr.iter_iprange(naive_pool.network.ip_network[1 + filled],
                                                 naive_pool.last_address), strict=False)
        )  # fmt: skip
        naive = []
        for vm in naive_vms[level + 100 : level + 150]:
            with timer() as t:
                naive_allocate(naive_pool, vm)
            naive.append(t())
        IPAddress.objects.filter(vm__in=naive_vms[level + 100 : level + 150]).delete()
        ours = durations[level : level + 100]
        rows.append([level, median(ours) * 1000, percentile(ours, 99) * 1000,
                     median(naive) * 1000, median(naive) / median(ours)])  # fmt: skip
    print(f"{TOTAL} sequential allocations from one pool: {sum(durations):.1f} s in all, "
          f"median {median(durations) * 1000:.3f} ms")  # fmt: skip
    table(["already allocated", "ours p50 ms", "ours p99 ms", "naive p50 ms",
           "naive / ours"], rows)  # fmt: skip


def concurrent(clients: int = 20, each: int = 100) -> None:
    cluster, pool = fresh_cluster("conc", "46.0.0.0/16")
    vms = make_vms(cluster, clients * each)
    latencies, lock = [], threading.Lock()

    def client(chunk: list[VirtualMachine]) -> None:
        try:
            for vm in chunk:
                with timer() as t:
                    ip_allocate(cluster=cluster, vm=vm)
                with lock:
                    latencies.append(t())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(vms[i * each : (i + 1) * each],))
               for i in range(clients)]  # fmt: skip
    with timer() as wall:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    addresses = list(IPAddress.objects.filter(pool=pool).values_list("address", flat=True))
    assert len(addresses) == len(set(addresses)) == clients * each
    table(["clients", "allocations", "wall s", "allocations/s", "p50 ms", "p99 ms",
           "duplicates"],
          [[clients, len(latencies), wall(), len(latencies) / wall(),
            median(latencies) * 1000, percentile(latencies, 99) * 1000, 0]])  # fmt: skip


if __name__ == "__main__":
    for model in (IPAddress, VirtualMachine, IPPool, Network, Cluster):
        model.objects.all().delete()
    sequential()
    print()
    concurrent()
