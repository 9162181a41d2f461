"""Adding a node to a cluster that already has 100 (each a real BIRD peering with both RRs):
the time of `node_add`, beside the same workflow with no other node (same run), and how many
of the existing BGP sessions the RRs' reconfiguration reset (target 0)."""

import subprocess
import time
from pathlib import Path

from bench.common import setup_django, table, timer

setup_django()

import netaddr  # noqa: E402

from apps.fabric.models import Node  # noqa: E402
from apps.fabric.workflows import apply_route_reflector  # noqa: E402
from bench.labbench import LAB_DIR, PREFIX, add_node, bench_lab, provisioned_cluster, run_inline  # noqa: E402
from lab.netns import Lab, lab_down, sh  # noqa: E402
from tests.e2e.conftest import birdc  # noqa: E402

EXISTING = 100
SIM_CONF = """router id {ip};
protocol device {{ scan time 60; }}
{sessions}"""
SIM_SESSION = """protocol bgp {name} {{ local {ip} as {asn}; neighbor {rr} as {asn}; direct;
  strict bind yes; ipv4 {{ import none; export none; }}; }}
"""


def start_simulated_nodes(lab: Lab, count: int) -> list[str]:
    """`count` BIRD instances in one namespace on the underlay, one address each."""
    ns, fabric = f"{PREFIX}-many", f"{PREFIX}-fabric"
    net = netaddr.IPNetwork(lab.underlay)
    addresses = [str(net[100 + i]) for i in range(count)]
    sh(f"ip netns add {ns}")
    sh(f"ip -n {fabric} link add v-many type veth peer name eth0 netns {ns}")
    sh(f"ip -n {fabric} link set v-many master br0 up")
    sh(f"ip -n {ns} link set eth0 up && ip -n {ns} link set lo up")
    for address in addresses:
        sh(f"ip -n {ns} addr add {address}/{net.prefixlen} dev eth0")
    directory = Path(LAB_DIR, "many")
    directory.mkdir(exist_ok=True)
    for i, address in enumerate(addresses):
        sessions = "".join(SIM_SESSION.format(name=f"rr{j}", ip=address, asn=lab.asn, rr=rr.address)
                           for j, rr in enumerate(lab.by_role("rr")))  # fmt: skip
        conf = directory / f"n{i}.conf"
        conf.write_text(SIM_CONF.format(ip=address, sessions=sessions))
        sh(f"ip netns exec {ns} bird -c {conf} -s {directory}/n{i}.ctl -P {directory}/n{i}.pid")
    return addresses


def established(lab: Lab, rr: str) -> dict[str, str]:
    since = {}
    for line in birdc(lab, rr, "show protocols").splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "BGP" and "Established" in line:
            since[parts[0]] = f"{parts[4]} {parts[5]}"
    return since


def apply_route_reflectors(run) -> None:
    for rr in run.job.target.route_reflectors.order_by("pk"):
        apply_route_reflector(run, rr)


def main() -> None:
    lab = bench_lab(nodes=2)
    try:
        cluster = provisioned_cluster(lab)
        with timer() as alone:
            add_node(lab, cluster, "node1")
        Node.objects.filter(name="node1").delete()

        addresses = start_simulated_nodes(lab, EXISTING)
        for i, address in enumerate(addresses):
            Node.objects.create(cluster=cluster, name=f"sim{i}", underlay_ip=address,
                                hypervisor="netns", ssh_private_key="unused", vcpus=1,
                                memory_mb=1024, disk_gb=10, state=Node.State.READY)  # fmt: skip
        run_inline("cluster_provision", cluster, apply_route_reflectors)  # learn all 100
        deadline = time.monotonic() + 120
        while min(len(established(lab, rr.name)) for rr in lab.by_role("rr")) < EXISTING + 1:
            if time.monotonic() > deadline:
                raise TimeoutError("the 100 simulated nodes did not all reach Established")
            time.sleep(0.5)
        time.sleep(10)  # let sessions that just came up settle (collision resolution)
        before = {rr.name: established(lab, rr.name) for rr in lab.by_role("rr")}
        with timer() as crowded:
            add_node(lab, cluster, "node2")
        after = {rr.name: established(lab, rr.name) for rr in lab.by_role("rr")}
    finally:
        subprocess.run(["ip", "netns", "del", f"{PREFIX}-many"], check=False)
        for pidfile in Path(LAB_DIR, "many").glob("*.pid"):
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
        lab_down(directory=LAB_DIR, prefix=PREFIX)
    sessions = sum(len(b) for b in before.values())
    reset = [f"{rr}:{p}" for rr, b in before.items() for p, since in b.items()
             if after[rr].get(p) != since]  # fmt: skip
    table(["existing nodes", "node_add s", "x alone", "RR sessions before", "sessions reset"],
          [[0, alone(), 1.0, "", ""],
           [EXISTING, crowded(), crowded() / alone(), sessions, len(reset)]])  # fmt: skip
    if reset:
        print("reset:", ", ".join(reset))


if __name__ == "__main__":
    main()
