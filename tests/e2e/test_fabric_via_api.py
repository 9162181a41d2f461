"""The whole product against the lab, driven only through the REST API (as an operator and
a tenant would) and executed by the real Celery worker over SSH and netmiko."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from apps.jobs.models import JobStep
from apps.tenancy.models import Membership, Role
from apps.tenancy.services import api_key_create
from lab.seeding.records import lab_vm_namespace_prefix
from tests.conftest import wait_for
from tests.e2e.api_client import Api
from tests.e2e.conftest import (
    birdc,
    core_routes,
    junos_committed,
    junos_events,
    ping,
    spare_address,
)

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]


def junos_state(lab) -> tuple[list[str], list[str]]:
    return junos_committed(lab), junos_events(lab)


def established_since(lab, host: str) -> dict[str, str]:
    since = {}
    for line in birdc(lab, host, "show protocols").splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "BGP" and "Established" in line:
            since[parts[0]] = f"{parts[4]} {parts[5]}"
    return since


@pytest.fixture
def operator(live_server) -> Api:
    user = get_user_model().objects.create_user("ops", password="not-used-here-1")
    Membership.objects.create(user=user, role=Role.OPERATOR)
    admin = get_user_model().objects.create_superuser("root", password="not-used-here-2")
    _, secret = api_key_create(name="e2e operator", user=user)
    _, admin_secret = api_key_create(name="e2e admin", user=admin)
    api = Api(live_server.url, secret)
    api.admin = Api(live_server.url, admin_secret)
    return api


def test_operator_and_tenant_drive_the_fabric_through_the_api(lab, operator, celery_worker_process):
    api = operator
    # 1. the cluster, its network and pool, the border gateway (the simulator), two RRs
    cluster = api.post("/clusters/", {"name": "lab", "bgp_asn": lab.asn,
                                      "bgp_community": f"{lab.asn}:100"})  # fmt: skip
    network = api.post("/networks/", {"cluster": cluster["id"], "prefix": lab.public})
    pool = {"network": network["id"], "name": "main", "first_address": "203.0.113.10",
            "last_address": "203.0.113.50"}  # fmt: skip
    api.post("/pools/", pool)
    bgw = api.admin.post("/border-gateways/", {
        "cluster": cluster["id"], "name": "mx1", "mgmt_host": "127.0.0.1",
        "mgmt_port": lab.junos_port, "username": lab.junos_username,
        "password": lab.junos_password, "peering_ip": lab.core.address, "peer_asn": lab.asn,
        "bgp_group": "VMAPI", "policy_name": "VMAPI", "ssh_host_key": lab.junos_host_key,
    })  # fmt: skip
    assert "password" not in bgw
    for rr in lab.by_role("rr"):
        api.admin.post("/route-reflectors/", {
            "cluster": cluster["id"], "name": rr.name, "peering_ip": rr.address,
            "ssh_private_key": lab.ssh_private_key, "bird_config_path": rr.bird_conf,
            "bird_socket_path": rr.bird_socket, "ssh_host_key": lab.host_key(rr.name),
        })  # fmt: skip
    started = api.post(f"/clusters/{cluster['id']}/provision/", expect=202)
    api.succeeded(started["job"])
    committed, events = junos_state(lab)
    assert events[-3:] == ["commit_check", "commit_confirmed", "confirmed"]  # not rolled back
    assert f"set protocols bgp group VMAPI neighbor {lab.hosts['rr2'].address}" in committed
    assert "set policy-options policy-statement VMAPI term isp-ipv4 from route-filter " \
           "203.0.113.0/24 orlonger" in committed  # fmt: skip

    # 2. two nodes; every node<->RR and RR<->core session is Established
    def add_node(name: str) -> dict:
        host = lab.hosts[name]
        node = api.admin.post("/nodes/", {
            "cluster": cluster["id"], "name": name, "underlay_ip": host.address,
            "hypervisor": "netns", "ssh_private_key": lab.ssh_private_key,
            "ssh_host_key": lab.host_key(name), "bird_config_path": host.bird_conf,
            "bird_socket_path": host.bird_socket,
            "vcpus": 8, "memory_mb": 16384, "disk_gb": 200,
            "hypervisor_options": {"namespace_prefix": lab_vm_namespace_prefix(lab)},
            "persist_host_config": False,  # the lab's nodes share this machine's /etc
        }, expect=202)  # fmt: skip
        assert node["persist_host_config"] is False
        job = api.succeeded(node["job"])
        assert [s["name"] for s in job["steps"]].count("rr_apply_config") == 2
        return node

    nodes = [add_node("node1"), add_node("node2")]
    for rr in lab.by_role("rr"):
        assert {f"node_{n['id']}" for n in nodes} | {"border_gateway"} <= set(
            established_since(lab, rr.name))  # fmt: skip
    assert {"lab_rr1", "lab_rr2"} <= set(established_since(lab, "core"))

    # 3. a tenant with its own key orders one VM per node
    tenant = api.admin.post("/tenants/", {"name": "acme", "max_vms": 10})
    plan = api.post("/plans/", {"name": "small", "kind": "vm", "vcpus": 1, "memory_mb": 1024,
                                "disk_gb": 10})  # fmt: skip
    key = api.admin.post("/api-keys/", {"name": "acme billing", "tenant": tenant["id"],
                                        "role": "tenant_user"})  # fmt: skip
    customer = Api(api.base_url.removesuffix("/api/v1"), key["key"])
    order = {"plan": plan["id"], "cluster": cluster["id"]}
    vms = []
    for name in ("web1", "web2"):
        vm = customer.post("/vms/", {**order, "name": name}, expect=202,
                           headers={"Idempotency-Key": f"order-{name}"})  # fmt: skip
        again = customer.post("/vms/", {**order, "name": name}, expect=202,
                              headers={"Idempotency-Key": f"order-{name}"})  # fmt: skip
        assert again["id"] == vm["id"]  # a retried order is the same VM
        customer.succeeded(vm["job"])
        seen = customer.get(f"/vms/{vm['id']}/")
        assert "node" not in seen and "vnet_name" not in seen  # tenants never see where
        vms.append(api.get(f"/vms/{vm['id']}/"))  # the operator does
    assert {vm["state"] for vm in vms} == {"running"}
    node_ips = {n["id"]: n["underlay_ip"] for n in nodes}
    assert {vm["node"] for vm in vms} == set(node_ips)
    routes = wait_for(lambda: (r := core_routes(lab)) and len(r) >= 2 and r, timeout=20)
    for vm in vms:
        assert routes[f"{vm['ipv4']}/32"] == node_ips[vm["node"]]
        assert ping(lab, lab.core.namespace, vm["ipv4"])
    assert ping(lab, f"{lab_vm_namespace_prefix(lab)}{vms[0]['id']}", vms[1]["ipv4"]), (
        "VM to VM across nodes"
    )
    stranger = api.admin.post("/tenants/", {"name": "other"})
    stranger_key = api.admin.post("/api-keys/", {"name": "x", "tenant": stranger["id"],
                                                 "role": "tenant_user"})  # fmt: skip
    other = Api(api.base_url.removesuffix("/api/v1"), stranger_key["key"])
    other.get(f"/vms/{vms[0]['id']}/", expect=404)

    # 4. a third node: both RRs hold it; the sessions that existed were not reset
    before = {rr.name: established_since(lab, rr.name) for rr in lab.by_role("rr")}
    node3 = add_node("node3")
    for rr in lab.by_role("rr"):
        after = established_since(lab, rr.name)
        assert f"node_{node3['id']}" in after
        assert {p: after[p] for p in before[rr.name]} == before[rr.name]

    # 5. the tenant deletes a VM: its /32 leaves the core, its address goes back to the pool
    gone = vms[0]
    deleted = customer.delete(f"/vms/{gone['id']}/", expect=202)
    customer.succeeded(deleted["job"])
    wait_for(lambda: f"{gone['ipv4']}/32" not in core_routes(lab), timeout=20)
    assert customer.get(f"/vms/{gone['id']}/")["state"] == "deleted"
    assert api.get(f"/ip-addresses/?address={gone['ipv4']}")["count"] == 0

    # 6. one RR stops: the core keeps every route through the other
    rr1 = lab.hosts["rr1"]
    rr1.run(f"kill $(cat {rr1.bird_socket.removesuffix('.ctl')}.pid)")
    wait_for(lambda: "lab_rr1" not in established_since(lab, "core"), timeout=15)
    assert f"{vms[1]['ipv4']}/32" in core_routes(lab)
    assert ping(lab, lab.core.namespace, vms[1]["ipv4"])

    # 7. the border gateway refuses `commit check`: the sync fails cleanly, nothing committed
    api.post("/networks/", {"cluster": cluster["id"], "prefix": "192.0.2.0/24"})
    committed_before = junos_state(lab)[0]
    switch = Path(lab.junos_dir, "fail-commit-check")
    switch.touch()
    try:
        refused = api.wait_job(api.post(f"/border-gateways/{bgw['id']}/sync/", expect=202)["job"])
    finally:
        switch.unlink()
    assert refused["state"] == "failed" and "bgw_commit_check" in refused["error"]
    assert junos_state(lab)[0] == committed_before

    # ... and when verification fails after `commit confirmed`, it is rolled back, not confirmed
    api.admin.post("/route-reflectors/", {"cluster": cluster["id"], "name": "phantom",
                                    "peering_ip": spare_address(lab, 9),
                                    "ssh_private_key": lab.ssh_private_key})  # fmt: skip
    unverified = api.wait_job(api.post(f"/border-gateways/{bgw['id']}/sync/", expect=202)["job"])
    assert unverified["state"] == "failed" and "bgw_verify" in unverified["error"]
    verify = next(s for s in unverified["steps"] if s["name"] == "bgw_verify")
    assert "rolled back now" in verify["output"]
    assert junos_state(lab)[0] == committed_before

    # 8. the operator repairs rr1 and removes the phantom RR: the border gateway drops it
    # (verified now), the unreachable server is skipped; the last ready RR can't be removed
    rr1.run(f"bird -c {rr1.bird_conf} -s {rr1.bird_socket} -P {rr1.bird_pidfile}")
    phantom = api.get(f"/route-reflectors/?cluster={cluster['id']}&name=phantom")["results"][0]
    removing = api.delete(f"/route-reflectors/{phantom['id']}/", expect=202)
    assert removing["state"] == "removing"
    removed = api.succeeded(removing["job"])
    assert next(s for s in removed["steps"] if s["name"] == "rr_decommission")["state"] == "skipped"
    api.get(f"/route-reflectors/{phantom['id']}/", expect=404)
    committed = junos_state(lab)[0]
    assert f"set protocols bgp group VMAPI neighbor {phantom['peering_ip']}" not in committed
    assert f"set protocols bgp group VMAPI neighbor {rr1.address}" in committed
    rrs = api.get(f"/route-reflectors/?cluster={cluster['id']}")["results"]
    last = api.delete(f"/route-reflectors/{rrs[0]['id']}/", expect=202)
    api.succeeded(last["job"])
    refused = api.delete(f"/route-reflectors/{rrs[1]['id']}/", expect=409)
    assert refused["error"]["code"] == "not_removable"
    assert f"{vms[1]['ipv4']}/32" in core_routes(lab)

    # credentials never appear in job output or in the worker's log
    secrets = (lab.ssh_private_key.splitlines()[1], lab.junos_password)
    outputs = "\n".join(JobStep.objects.values_list("output", flat=True))
    worker_log = celery_worker_process.log_path.read_text()
    for secret in secrets:
        assert secret not in outputs and secret not in worker_log
