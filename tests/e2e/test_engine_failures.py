"""Failure paths of the engine, against the real lab: each ends in a defined state.

Workflows run in this test process through run_job (the code a worker runs), except
where Celery's retries are the point; then the real worker process runs them.
"""

import time
from pathlib import Path

import pytest

from apps.compute.models import VirtualMachine
from apps.compute.services import vm_order
from apps.compute.workflows import vm_create
from apps.fabric.connections import bird_paths
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.fabric.selectors import desired_border_gateway_junos, junos_config_digest
from apps.fabric.workflows import (
    border_gateway_preview,
    border_gateway_sync,
    junos_target,
)
from apps.ipam.models import IPAddress, Network
from apps.jobs.models import Job
from apps.jobs.runner import run_job
from apps.jobs.services import job_create
from lab.seeding.records import lab_vm_namespace_prefix
from tests.conftest import wait_for
from tests.e2e.conftest import (
    assert_succeeded,
    birdc,
    build_cluster,
    junos_committed,
    junos_events,
    lab_session,
    ping,
    run_inline,
    spare_address,
    wait_job,
)
from tests.factories import make_plan, make_tenant
from workers import bird_remote
from workers.bird_remote import apply_config, show_protocols
from workers.errors import BirdConfigInvalid
from workers.hypervisors.netns import NetnsDriver
from workers.junos import JunosSession

pytestmark = pytest.mark.lab


def test_invalid_config_never_reaches_bird_and_the_old_one_keeps_running(lab, monkeypatch):
    rr = lab.hosts["rr2"]
    paths = bird_paths(
        RouteReflector(bird_config_path=rr.bird_conf, bird_socket_path=rr.bird_socket)
    )
    good = f"router id {rr.address};\nprotocol device {{ scan time 10; }}\n"
    with lab_session(lab, "rr2") as session:
        apply_config(session, paths, good)
        running_before = show_protocols(session, paths)
        working = session.read_file(paths.config)

        broken = good + "protocol bgp broken { neighbor 1.2.3.4 as 65000; local as; }\n"
        with pytest.raises(BirdConfigInvalid, match="bird.conf:3"):
            apply_config(session, paths, broken)  # refused by bird -p on this machine
        monkeypatch.setattr(bird_remote, "check_config", lambda text: None)
        with pytest.raises(BirdConfigInvalid, match="bird.conf:3"):
            apply_config(session, paths, broken)  # refused by bird -p on the host

        assert session.read_file(paths.config) == working
        assert session.run(f"ls -a {rr.bird_dir}").stdout.count("fabric-new") == 0
        assert show_protocols(session, paths) == running_before


@pytest.mark.django_db(transaction=True)
def test_unreachable_node_is_retried_then_the_vm_fails_and_its_ip_is_released(
    lab, celery_worker_process
):
    cluster = build_cluster(lab)
    Cluster.objects.filter(pk=cluster.pk).update(state=Cluster.State.READY)  # takes orders
    Node.objects.create(
        cluster=cluster, name="ghost", underlay_ip=spare_address(lab, 99), ssh_port=2,
        hypervisor="netns",
        ssh_private_key=lab.ssh_private_key, ssh_host_key=lab.host_key("node1"),
        vcpus=8, memory_mb=16384, disk_gb=200,
        state=Node.State.READY,
    )  # fmt: skip
    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=cluster, name="doomed")
    assert IPAddress.objects.filter(vm=vm).count() == 1

    job = wait_job(vm, "vm_create", timeout=120)

    assert job.state == "failed"
    assert job.attempts == 3  # the first try and FABRIC_TASK_MAX_RETRIES=2 retries
    assert job.error.startswith("step hypervisor_create failed: NodeUnreachable")
    vm.refresh_from_db()
    assert vm.state == "failed" and vm.node is None
    assert not IPAddress.objects.filter(vm=vm).exists()
    last = [s.name for s in job.steps.filter(attempt=3)]
    assert last[-1] == "ip_release" and "node_cleanup_incomplete" in last


COMMITTING_EVENTS = {"commit", "commit_confirmed", "confirmed", "auto_rollback"}


def test_commit_check_failure_commits_nothing(lab, ready_cluster):
    bgw = ready_cluster.border_gateway
    Network.objects.create(cluster=ready_cluster, prefix="192.0.2.0/24")
    before, switch = junos_committed(lab), Path(lab.junos_dir, "fail-commit-check")
    events_before = len(junos_events(lab))
    switch.touch()
    try:
        job = run_inline("border_gateway_sync", bgw, border_gateway_sync)
    finally:
        switch.unlink()
    assert job.state == "failed"
    assert job.error.startswith("step bgw_commit_check failed: JunosCommitFailed")
    assert "192.0.2.0/24" in job.steps.get(name="bgw_load").output  # the diff was shown
    assert junos_committed(lab) == before
    new_events = junos_events(lab)[events_before:]
    assert "commit_check_failed" in new_events
    assert not COMMITTING_EVENTS & set(new_events)  # the candidate was only discarded
    bgw.refresh_from_db()
    assert bgw.state == "failed"


def test_a_retry_after_commit_confirmed_confirms_the_pending_commit(
    lab, ready_cluster, monkeypatch
):
    """The worker dies between `commit confirmed` and the confirming commit: the re-run finds
    no difference to load, but must still confirm, or the router rolls back by itself."""
    bgw = ready_cluster.border_gateway
    Cluster.objects.filter(pk=ready_cluster.pk).update(commit_confirm_minutes=2)
    Network.objects.create(cluster=ready_cluster, prefix="192.0.2.0/24")
    job = job_create(kind="border_gateway_sync", target=bgw)
    events_before = len(junos_events(lab))

    class WorkerKilled(BaseException):
        pass

    original = JunosSession.commit_confirmed

    def commit_then_die(self, minutes):
        original(self, minutes)
        raise WorkerKilled

    monkeypatch.setattr(JunosSession, "commit_confirmed", commit_then_die)
    with pytest.raises(WorkerKilled):
        run_job(job.pk, border_gateway_sync)
    monkeypatch.undo()
    assert junos_events(lab)[events_before:][-1] == "commit_confirmed"  # pending now

    run_job(job.pk, border_gateway_sync)

    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    retry = {s.name: s for s in job.steps.filter(attempt=2)}
    assert "commit confirmed from an earlier attempt is pending" in retry["bgw_load"].output
    assert retry["bgw_confirm"].state == "succeeded"
    new_events = junos_events(lab)[events_before:]
    assert new_events.count("commit_confirmed") == 1 and new_events[-1] == "confirmed"
    time.sleep(lab.junos_minute_seconds * 2 + 2)  # past the commit confirmed window
    assert "auto_rollback" not in junos_events(lab)[events_before:]
    assert any("192.0.2.0/24" in line for line in junos_committed(lab))


def test_failed_verification_rolls_back_instead_of_confirming(lab, ready_cluster):
    bgw = ready_cluster.border_gateway
    RouteReflector.objects.create(
        cluster=ready_cluster,
        name="rr-phantom",
        peering_ip=spare_address(lab, 9),
        ssh_private_key=lab.ssh_private_key,
    )  # a neighbor that will never be Established
    before, events_before = junos_committed(lab), len(junos_events(lab))

    job = run_inline("border_gateway_sync", bgw, border_gateway_sync)

    assert job.state == "failed"
    assert job.error.startswith("step bgw_verify failed: JunosVerifyFailed")
    verify = job.steps.get(name="bgw_verify").output
    assert "rolled back now" in verify and spare_address(lab, 9) in verify
    assert "bgw_confirm" not in [s.name for s in job.steps.all()]
    new_events = junos_events(lab)[events_before:]
    # rollback 1, then a commit that ends the pending commit confirmed with the old config
    assert new_events[-3:-1] == ["commit_confirmed", "rollback"]
    assert new_events[-1] in ("commit", "confirmed") and "auto_rollback" not in new_events
    assert junos_committed(lab) == before


def test_verification_fails_and_rolls_back_when_one_rr_sends_half_its_routes(lab, ready_cluster):
    """A real router repeats the prefix counters in a summary after the group: counting
    them twice would let a group missing half of one RR's routes pass."""
    bgw = ready_cluster.border_gateway
    tenant, plan = make_tenant(), make_plan()
    addresses = []
    for name in ("half-a", "half-b"):
        vm = vm_order(tenant=tenant, plan=plan, cluster=ready_cluster, name=name)
        assert_succeeded(run_job_of(vm, "vm_create", vm_create))
        addresses.append(vm.ip_addresses.get().address)
    rr2 = lab.hosts["rr2"]
    conf = Path(rr2.bird_conf).read_text()
    head = "filter ibgp_policy_out_v4 {\n"
    assert head in conf
    Path(rr2.bird_conf).write_text(  # rr2 now exports one of its two routes
        conf.replace(head, f"{head}  if net = {addresses[1]}/32 then reject;\n", 1)
    )
    assert "Reconfigured" in birdc(lab, "rr2", "configure")
    wait_for(lambda: "Accepted prefixes:            3" in junos_show_group(lab), timeout=20,
             message="the core still has both routes from rr2")  # fmt: skip
    Network.objects.create(cluster=ready_cluster, prefix="192.0.2.0/24")  # a change to commit
    before, events_before = junos_committed(lab), len(junos_events(lab))

    job = run_inline("border_gateway_sync", bgw, border_gateway_sync)

    assert job.state == "failed", "3 of 4 routes passed the verification"
    assert job.error.startswith("step bgw_verify failed: JunosVerifyFailed")
    verify = job.steps.get(name="bgw_verify").output
    assert "4 accepted prefixes" in verify and "3 accepted" in verify
    assert "rolled back now" in verify
    new_events = junos_events(lab)[events_before:]
    assert new_events[-3:-1] == ["commit_confirmed", "rollback"]
    assert junos_committed(lab) == before


def test_a_first_sync_never_replaces_a_group_it_did_not_create(lab, ready_cluster):
    bgw = ready_cluster.border_gateway
    production = ["set protocols bgp group PROD peer-as 64999",
                  "set protocols bgp group PROD neighbor 192.0.2.77"]  # fmt: skip
    with JunosSession(junos_target(bgw)) as junos:
        junos.load(production)
        junos.confirm()
    BorderGateway.objects.filter(pk=bgw.pk).update(
        bgp_group="PROD", router_objects_claimed=False
    )  # an operator names an existing production group
    before = junos_committed(lab)

    job = run_inline("border_gateway_sync", bgw, border_gateway_sync)

    assert job.state == "failed"
    assert job.error.startswith("step bgw_load failed: JunosError")
    assert "protocols bgp group PROD" in job.error and "not created by cluster" in job.error
    assert junos_committed(lab) == before
    assert set(production) <= set(junos_committed(lab))


def run_job_of(target, kind: str, workflow) -> Job:
    job = Job.objects.get(target_id=target.pk, kind=kind)
    run_job(job.pk, workflow)
    job.refresh_from_db()
    return job


def junos_show_group(lab) -> str:
    with JunosSession(junos_target(BorderGateway.objects.get())) as junos:
        return junos.bgp_group(BorderGateway.objects.get().bgp_group).raw


def test_rerun_of_a_half_done_vm_create_completes_without_duplicates(
    lab, ready_cluster, monkeypatch
):
    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=ready_cluster, name="phoenix")
    job = Job.objects.get(target_id=vm.pk, kind="vm_create")

    class WorkerKilled(BaseException):
        pass

    def crash(*args, **kwargs):
        raise WorkerKilled

    import apps.compute.workflows as workflows

    monkeypatch.setattr(workflows, "verify_export", crash)
    with pytest.raises(WorkerKilled):
        run_job(job.pk, vm_create)  # dies after the route and BIRD are in place
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.state == "running"

    run_job(job.pk, vm_create)

    job.refresh_from_db()
    vm.refresh_from_db()
    assert job.state == "succeeded", job.error
    assert vm.state == "running"
    second = {s.name: s.state for s in job.steps.filter(attempt=2)}
    assert second["ip_allocate"] == second["place"] == second["hypervisor_create"] == "skipped"
    assert second["node_apply_bird"] == "skipped"  # bird.conf was already right
    address = vm.ip_addresses.get().address
    assert IPAddress.objects.filter(vm=vm).count() == 1
    node = lab.hosts["node1"]
    links = node.run("ip -o link show").stdout
    assert links.count(f"{vm.vnet_name}@") == 1
    assert node.run("ip route show").stdout.count(f"{address} dev {vm.vnet_name}") == 1
    assert Path(node.bird_conf).read_text().count(f"route {address}/32") == 1
    assert VirtualMachine.objects.filter(name="phoenix").count() == 1


@pytest.mark.parametrize("crash_after", ["create_if_missing", "attach_and_start"])
def test_rerun_after_a_crash_in_a_hypervisor_step_leaves_one_guest_vnet_and_route(
    lab, ready_cluster, monkeypatch, crash_after
):
    """Each of hypervisor_create and network_attach is one remote script; killed right after
    it ran (before its step was recorded), the re-run runs it again without duplicates."""
    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=ready_cluster, name="icarus")
    job = Job.objects.get(target_id=vm.pk, kind="vm_create")

    class WorkerKilled(BaseException):
        pass

    original = getattr(NetnsDriver, crash_after)

    def run_then_die(self, session, guest):
        original(self, session, guest)
        raise WorkerKilled

    monkeypatch.setattr(NetnsDriver, crash_after, run_then_die)
    with pytest.raises(WorkerKilled):
        run_job(job.pk, vm_create)
    monkeypatch.undo()

    run_job(job.pk, vm_create)

    job.refresh_from_db()
    vm.refresh_from_db()
    assert job.state == "succeeded", job.error
    second = {s.name: s.state for s in job.steps.filter(attempt=2)}
    assert second["hypervisor_create"] == "skipped"  # the namespace was there
    assert second["network_attach"] == "succeeded"
    address = vm.ip_addresses.get().address
    node = lab.hosts["node1"]
    namespaces = node.run("ip netns list").stdout.split()
    assert namespaces.count(f"{lab_vm_namespace_prefix(lab)}{vm.pk}") == 1
    assert node.run("ip -o link show").stdout.count(f"{vm.vnet_name}@") == 1
    assert node.run("ip route show").stdout.count(f"{address} dev {vm.vnet_name}") == 1
    assert Path(node.bird_conf).read_text().count(f"route {address}/32") == 1
    wait_for(lambda: ping(lab, lab.core.namespace, address), timeout=20,
             message=f"the core cannot reach {address}")  # fmt: skip


def test_sync_with_nothing_to_change_commits_nothing(lab, ready_cluster):
    events_before = len(junos_events(lab))
    job = run_inline("border_gateway_sync", ready_cluster.border_gateway, border_gateway_sync)
    assert_succeeded(job)
    assert "no difference" in job.steps.get(name="bgw_load").output
    assert [s.name for s in job.steps.all()] == ["bgw_render", "bgw_load", "bgw_verify"]
    assert not COMMITTING_EVENTS & set(junos_events(lab)[events_before:])


def test_preview_shows_the_pending_diff_and_commits_nothing(lab, ready_cluster):
    Network.objects.create(cluster=ready_cluster, prefix="192.0.2.0/24")
    before, events_before = junos_committed(lab), len(junos_events(lab))

    job = run_inline("border_gateway_preview", ready_cluster.border_gateway, border_gateway_preview)

    assert_succeeded(job)
    compare = job.steps.get(name="bgw_compare")
    diff = compare.output
    assert (
        "+ set policy-options policy-statement VM term isp-ipv4 from route-filter "
        "192.0.2.0/24 orlonger" in diff
    )
    # what the portal decides Apply from: the diff and which lines were compared
    lines = desired_border_gateway_junos(ready_cluster.border_gateway)
    assert compare.data["diff"] and compare.data["config_sha256"] == junos_config_digest(lines)
    assert junos_committed(lab) == before
    assert not COMMITTING_EVENTS & set(junos_events(lab)[events_before:])


def test_an_apply_cut_short_after_the_rename_is_finished_by_the_next_one(lab):
    """SSH dropped between the rename and `birdc configure`: the file is new, BIRD is not.
    The next apply of the same config (a retry, or reconcile) reloads it."""
    rr = lab.hosts["rr2"]
    paths = bird_paths(
        RouteReflector(bird_config_path=rr.bird_conf, bird_socket_path=rr.bird_socket)
    )
    old = f"router id {rr.address};\nprotocol device {{ scan time 10; }}\n"
    new = old + "protocol static cut_short { ipv4; route 203.0.113.99/32 blackhole; }\n"
    with lab_session(lab, "rr2") as session:
        apply_config(session, paths, old)
        Path(rr.bird_conf).write_text(new)  # renamed into place; the connection died here
        assert "cut_short" not in show_protocols(session, paths)

        result = apply_config(session, paths, new)

        assert result.changed is False  # the file was already right
        assert "cut_short" in show_protocols(session, paths)  # and now BIRD runs it
