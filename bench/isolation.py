"""What the node packet filter costs (workers/firewall.py), each figure beside its baseline
from the same run:

1. order -> route: vm_create (in-process, the code a worker runs) until the /32 is in the
   core's kernel table, with the filter, then with it removed (tables deleted, the
   per-guest nft lines skipped);
2. core -> guest TCP throughput (iperf3, 3 s) with and without the tables;
3. adding one guest's elements (the `network_attach` nft line, in a throwaway network
   namespace) on a node that already has 0, 1,000 and 10,000 guests.
"""

import json
import subprocess
import time

from bench.common import median, percentile, setup_django, table

setup_django()

from apps.compute.models import Plan, VirtualMachine  # noqa: E402
from apps.compute.services import vm_order  # noqa: E402
from apps.compute.workflows import vm_create  # noqa: E402
from apps.jobs.models import Job  # noqa: E402
from apps.jobs.runner import run_job  # noqa: E402
from apps.tenancy.models import Tenant  # noqa: E402
from bench.labbench import LAB_DIR, PREFIX, RouteWatch, add_node, bench_lab, provisioned_cluster  # noqa: E402
from lab.netns import lab_down  # noqa: E402
from lab.seeding.records import lab_vm_namespace_prefix  # noqa: E402
from workers import firewall  # noqa: E402

ORDERS = 10
ADDS = 50


def order_to_route(cluster, plan, tenant, watch, count: int, tag: str) -> list[float]:
    times = []
    for i in range(count):
        start = time.monotonic()
        vm = vm_order(tenant=tenant, plan=plan, cluster=cluster, name=f"{tag}{i}")
        run_job(Job.objects.get(target_id=vm.pk, kind="vm_create").pk, vm_create)
        address = vm.ip_addresses.get(family=4).address
        times.append(watch.wait(address) - start)
    return times


def throughput(lab, vm: VirtualMachine) -> float:
    """Gbit/s from the core to the guest, iperf3 for 3 s."""
    guest = f"{lab_vm_namespace_prefix(lab)}{vm.pk}"
    address = vm.ip_addresses.get(family=4).address
    server = subprocess.Popen(  # noqa: S603
        ["ip", "netns", "exec", guest, "iperf3", "-s", "-1", "-B", address],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        out = subprocess.run(
            ["ip", "netns", "exec", lab.core.namespace, "iperf3", "-c", address, "-t", "3",
             "-J"], capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        server.kill()
        server.wait()
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def remove_filter(lab) -> None:
    for host in lab.by_role("node"):
        host.run(f"nft delete table inet {firewall.TABLE}; nft delete table arp {firewall.TABLE}",
                 check=False)  # fmt: skip


def add_cost(existing: int) -> tuple[float, float]:
    """(median ms, p95 ms) of one guest's add-element command with `existing` guests."""
    guests = tuple(
        firewall.GuestAddresses(f"vnet{i}", f"100.64.{i // 250}.{i % 250 + 1}",
                                f"2001:db8:100::{i + 1:x}")
        for i in range(existing)
    )  # fmt: skip
    config = firewall.NodeFirewallConfig("bench", "10.0.0.1", "fe80::1", ("198.18.0.0/24",), (),
                                         guests)  # fmt: skip
    adds = [
        firewall.attach_lines(firewall.GuestAddresses(
            f"vnetx{i}", f"100.100.0.{i + 1}", f"2001:db8:200::{i + 1:x}"))[1]
        for i in range(ADDS)
    ]  # fmt: skip
    timed = "".join(f"s=$(date +%s%N); {cmd}; e=$(date +%s%N); echo $((e - s))\n" for cmd in adds)
    script = f"nft -f /dev/stdin\n{timed}"
    out = subprocess.run(
        ["unshare", "-n", "sh", "-ec", script], input=firewall.render_node_firewall(config),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ms = [int(line) / 1e6 for line in out.split()]
    return median(ms), percentile(ms, 95)


def main() -> None:
    lab = bench_lab(nodes=1)
    try:
        cluster = provisioned_cluster(lab)
        add_node(lab, cluster, "node1")
        tenant = Tenant.objects.create(name="iso-bench", max_vms=1000)
        plan = Plan.objects.create(name="iso-bench", vcpus=1, memory_mb=256, disk_gb=1)
        watch = RouteWatch(lab)
        with_filter = order_to_route(cluster, plan, tenant, watch, ORDERS, "f")
        gbits_filtered = [throughput(lab, VirtualMachine.objects.get(name="f0")) for _ in "12"]
        remove_filter(lab)
        attach_lines = firewall.attach_lines
        firewall.attach_lines = lambda guest, **kw: []
        try:
            without = order_to_route(cluster, plan, tenant, watch, ORDERS, "n")
        finally:
            firewall.attach_lines = attach_lines
        gbits_open = [throughput(lab, VirtualMachine.objects.get(name="f0")) for _ in "12"]
        watch.close()
    finally:
        lab_down(directory=LAB_DIR, prefix=PREFIX)
    table(
        ["order -> core route", "orders", "median s", "p95 s", "with / without"],
        [["with the filter", ORDERS, median(with_filter), percentile(with_filter, 95),
          median(with_filter) / median(without)],
         ["without", ORDERS, median(without), percentile(without, 95), 1.0]],
    )  # fmt: skip
    print()
    table(
        ["core -> guest iperf3", "runs", "median Gbit/s", "with / without"],
        [["with the filter", 2, median(gbits_filtered),
          median(gbits_filtered) / median(gbits_open)],
         ["without", 2, median(gbits_open), 1.0]],
    )  # fmt: skip
    print()
    rows = []
    first = None
    for existing in (0, 1000, 10000):
        p50, p95 = add_cost(existing)
        first = first or p50
        rows.append([f"{existing:,}", ADDS, p50, p95, p50 / first])
    table(["guests already on the node", "adds", "median ms", "p95 ms", "x empty node"], rows)


if __name__ == "__main__":
    main()
