"""The engine against real BIRD 2, sshd and the Junos simulator, through a real worker.

Everything is driven through the services (the same calls the API and portal make) and
executed by the Celery worker process over SSH and netmiko.
"""

import json
from pathlib import Path

import pytest

from apps.compute.models import VirtualMachine
from apps.compute.services import vm_delete_start, vm_order
from apps.fabric.services import cluster_provision_start
from apps.ipam.models import IPAddress
from tests.conftest import wait_for
from tests.e2e.conftest import (
    add_node,
    assert_succeeded,
    birdc,
    build_cluster,
    core_routes,
    ping,
    wait_job,
)
from tests.factories import make_plan, make_tenant

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]


def protocol_since(lab, host: str) -> dict[str, str]:
    since = {}
    for line in birdc(lab, host, "show protocols").splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "BGP" and "Established" in line:
            since[parts[0]] = f"{parts[4]} {parts[5]}"
    return since


def test_cluster_nodes_and_vms_converge_in_the_lab(lab, celery_worker_process):
    cluster = build_cluster(lab, group="VMLAB")  # a group of its own: a real commit

    # 1. provisioning: both RRs configured, the border gateway committed and confirmed
    assert_succeeded(wait_job(cluster_provision_start(cluster=cluster)))
    events = [e["event"] for e in json.loads(Path(lab.junos_dir, "events.json").read_text())]
    assert events[-3:] == ["commit_check", "commit_confirmed", "confirmed"]
    committed = "\n".join(json.loads(Path(lab.junos_dir, "committed.json").read_text()))
    assert "set protocols bgp group VMLAB neighbor 198.18.0.2" in committed
    assert "route-filter 203.0.113.0/24 orlonger" in committed
    cluster.refresh_from_db()
    assert cluster.state == "ready"

    # 2. two nodes: node_add succeeds, sessions node<->RR and RR<->core are Established
    nodes = [add_node(lab, cluster, "node1"), add_node(lab, cluster, "node2")]
    for node in nodes:
        assert_succeeded(wait_job(node, "node_add"))
        node.refresh_from_db()
        assert node.state == "ready" and node.facts["bird"].startswith("BIRD version 2")
    for rr in lab.by_role("rr"):
        established = protocol_since(lab, rr.name)
        assert {f"node_{n.pk}" for n in nodes} | {"border_gateway"} <= set(established)

    # 3. one VM per node: the /32 reaches the core via the right node, and answers pings
    tenant, plan = make_tenant(), make_plan()
    vms = [vm_order(tenant=tenant, plan=plan, cluster=cluster, name=f"web{i}") for i in (1, 2)]
    for vm in vms:
        assert_succeeded(wait_job(vm, "vm_create"))
    vms = [VirtualMachine.objects.select_related("node").get(pk=vm.pk) for vm in vms]
    assert {vm.node.name for vm in vms} == {"node1", "node2"}
    routes = wait_for(lambda: (r := core_routes(lab)) and len(r) >= 2 and r, timeout=20)
    for vm in vms:
        address = vm.ip_addresses.get(family=4).address
        assert vm.state == "running"
        assert routes[f"{address}/32"] == vm.node.underlay_ip
        assert ping(lab, lab.core.namespace, address)
    a, b = (vm.ip_addresses.get(family=4).address for vm in vms)
    assert ping(lab, f"fabvm-{vms[0].pk}", b), "VM-to-VM across nodes"

    # 4. a third node: both RRs hold it, and the sessions that existed were not reset
    before = {rr.name: protocol_since(lab, rr.name) for rr in lab.by_role("rr")}
    node3 = add_node(lab, cluster, "node3")
    assert_succeeded(wait_job(node3, "node_add"))
    for rr in lab.by_role("rr"):
        after = protocol_since(lab, rr.name)
        assert f"node_{node3.pk}" in after
        assert {p: after[p] for p in before[rr.name]} == before[rr.name]

    # 5. delete a VM: its /32 leaves the core, its address returns to the pool
    gone = vms[0]
    address = gone.ip_addresses.get(family=4).address
    assert_succeeded(wait_job(vm_delete_start(vm=gone)))
    wait_for(lambda: f"{address}/32" not in core_routes(lab), timeout=20)
    assert not IPAddress.objects.filter(address=address).exists()
    gone.refresh_from_db()
    assert gone.state == "deleted"

    # 6. one RR stops: the core keeps every route through the other
    remaining = vms[1].ip_addresses.get(family=4).address
    lab.hosts["rr1"].run(f"kill $(cat {lab.hosts['rr1'].bird_socket.removesuffix('.ctl')}.pid)")
    wait_for(lambda: "border_gateway" not in protocol_since(lab, "rr1"), timeout=10)
    assert wait_for(lambda: f"{remaining}/32" in core_routes(lab), timeout=10)
    assert ping(lab, lab.core.namespace, remaining)
