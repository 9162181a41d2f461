"""The portal in a real browser: operator and tenant flows, against the lab where it counts.

- an operator logs in, creates a cluster through the wizard (on the lab's route reflector
  and Junos simulator), watches provisioning succeed live, adds a node and watches the
  node_add job regenerate the route reflectors, then dry-runs the border gateway;
- a tenant orders a VM on a provisioned lab cluster and watches it reach `running`, with
  its public IP and the gateway to configure;
- a tenant cannot open another tenant's VM; a bad form shows its error inline.
"""

import json
import re

import pytest

from apps.compute.models import VirtualMachine
from apps.fabric.models import Cluster, Node, RouteReflector
from apps.jobs.models import Job
from lab.seeding.records import lab_vm_namespace_prefix
from tests.browser.conftest import (
    PASSWORD,
    login,
    logout,
    screenshot,
    wait_for_job_page,
)
from tests.factories import (
    make_cluster,
    make_membership,
    make_network,
    make_plan,
    make_pool,
    make_tenant,
    make_user,
    make_vm,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


def user(username: str, role: str, tenant=None):
    account = make_user(username=username, password=PASSWORD)
    make_membership(user=account, tenant=tenant, role=role)
    return account


def htmx_is_loaded(page) -> bool:
    return page.evaluate("typeof window.htmx === 'object' && typeof htmx.version === 'string'")


@pytest.mark.lab
def test_admin_creates_a_cluster_with_the_wizard_and_adds_a_node(
    live_server, page, lab, celery_worker_process
):
    user("ops", "admin")  # only admins add devices (their management access comes with them)
    login(page, live_server, "ops")
    assert page.url.endswith("/dashboard/") and htmx_is_loaded(page)
    page.click("#new-cluster")

    # 1. BGP details and the border gateway (the lab's Junos simulator).
    page.fill("#id_cluster-name", "lab-fra")
    page.fill("#id_cluster-bgp_asn", str(lab.asn))
    page.fill("#id_cluster-bgp_community", f"{lab.asn}:100")
    page.fill("#id_bgw-name", "mx1")
    page.fill("#id_bgw-peering_ip", lab.core.address)
    page.fill("#id_bgw-mgmt_host", "127.0.0.1")
    page.fill("#id_bgw-mgmt_port", str(lab.junos_port))
    page.fill("#id_bgw-username", lab.junos_username)
    page.fill("#id_bgw-password", lab.junos_password)
    page.fill("#id_bgw-ssh_host_key", lab.junos_host_key)
    # a group of its own: other tests on this session's lab leave their groups committed
    page.fill("#id_bgw-bgp_group", "PORTAL")
    page.fill("#id_bgw-policy_name", "PORTAL")
    page.click("button:has-text('Next')")

    # 2. The first route reflector: one of the lab's, reached over SSH.
    rr = lab.hosts["rr1"]
    page.wait_for_selector("#id_rr-name")
    page.fill("#id_rr-name", "rr1")
    page.fill("#id_rr-peering_ip", rr.address)
    page.fill("#id_rr-ssh_private_key", lab.ssh_private_key)
    page.fill("#id_rr-ssh_host_key", lab.host_key("rr1"))
    page.fill("#id_rr-bird_config_path", rr.bird_conf)
    page.fill("#id_rr-bird_socket_path", rr.bird_socket)
    page.click("button:has-text('Next')")

    # 3. Networks and pools.
    page.wait_for_selector("#id_net-ipv4_prefix")
    page.fill("#id_net-ipv4_prefix", lab.public)
    page.fill("#id_net-ipv4_first", "203.0.113.10")
    page.fill("#id_net-ipv4_last", "203.0.113.20")
    page.click("button:has-text('Next')")

    # 4. Review: the Junos set lines and the RR's bird.conf that provisioning will apply.
    page.wait_for_selector("#junos-preview")
    junos = page.inner_text("#junos-preview")
    assert f"set protocols bgp group PORTAL neighbor {rr.address}" in junos
    assert "route-filter 203.0.113.0/24 orlonger" in junos
    assert f"router id {rr.address};" in page.inner_text("#bird-preview")
    assert not Cluster.objects.filter(name="lab-fra").exists()
    screenshot(page, "wizard-review")

    # Create: provisioning is queued and runs in the worker; the job page follows it live.
    page.click("button:has-text('Create the cluster')")
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    assert wait_for_job_page(page) == "succeeded", page.inner_text("#job-progress")
    steps = page.inner_text("#job-progress")
    job = Job.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    recorded = [(s.attempt, s.name, s.state, s.output[-300:]) for s in job.steps.all()]
    for step in (
        "rr_prepare",
        "rr_apply_config",
        "rr_verify",
        "bgw_commit_confirmed",
        "bgw_confirm",
    ):
        assert step in steps, (job.kind, job.attempts, recorded)
    screenshot(page, "job-detail-cluster-provision")
    cluster = Cluster.objects.get(name="lab-fra")
    assert cluster.state == "ready"

    # Add a node: the node_add job regenerates the route reflector (rr_apply_config).
    page.goto(f"{live_server.url}/clusters/{cluster.pk}/")
    page.click("#add-node")
    node_host = lab.hosts["node1"]
    page.fill("#id_name", "node1")
    page.fill("#id_underlay_ip", node_host.address)
    page.select_option("#id_hypervisor", "netns")
    page.fill(
        "#id_hypervisor_options", json.dumps({"namespace_prefix": lab_vm_namespace_prefix(lab)})
    )
    page.uncheck("#id_persist_host_config")  # the lab's nodes share this machine's /etc
    page.fill("#id_vcpus", "8")
    page.fill("#id_memory_mb", "16384")
    page.fill("#id_disk_gb", "200")
    page.fill("#id_ssh_private_key", lab.ssh_private_key)
    page.fill("#id_ssh_host_key", lab.host_key("node1"))
    page.fill("#id_bird_config_path", node_host.bird_conf)
    page.fill("#id_bird_socket_path", node_host.bird_socket)
    page.click("button:has-text('Add the node')")
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    assert "Add node" in page.inner_text("h1")
    assert wait_for_job_page(page) == "succeeded", page.inner_text("#job-progress")
    steps = page.inner_text("#job-progress")
    assert "node_apply_bird" in steps and "rr_apply_config" in steps
    assert "node_verify_sessions" in steps
    screenshot(page, "job-detail-node-add")

    # The node's page: its BGP session with the RR, its desired and last applied config.
    node = Node.objects.get(cluster=cluster, name="node1")
    assert node.state == "ready" and not node.persist_host_config
    page.click("#job-target")
    page.wait_for_selector("#bgp-sessions")
    assert "established" in page.inner_text("#bgp-sessions")
    assert f"router id {node_host.address};" in page.inner_text("#desired-bird")
    assert "node_apply_bird" in page.inner_text("main")
    screenshot(page, "node-detail")

    # Border gateway: a dry run shows `show | compare` once the worker is done (htmx).
    page.goto(f"{live_server.url}/border-gateways/{cluster.border_gateway.pk}/")
    page.click("#dry-run")
    page.wait_for_selector("#bgw-diff", timeout=60_000)
    assert Job.objects.get(kind="border_gateway_preview").state == "succeeded"
    assert "no difference" in page.inner_text("#bgw-diff")  # provisioning applied it all
    assert "bgw_commit_confirmed" in page.inner_text("main")  # the history of commits
    screenshot(page, "border-gateway")

    page.goto(f"{live_server.url}/dashboard/")
    assert "lab-fra" in page.inner_text("main")


@pytest.mark.lab
def test_tenant_orders_a_vm_and_watches_it_reach_running(live_server, page, lab_cluster):
    tenant = make_tenant(name="acme")
    plan = make_plan(name="small")
    user("alice", "tenant_user", tenant)
    login(page, live_server, "alice")
    assert page.url.endswith("/vms/")
    page.click("#order-vm")
    page.select_option("#id_plan", value=str(plan.pk))
    page.select_option("#id_cluster", value=str(lab_cluster.pk))
    page.fill("#id_name", "web1")
    page.fill("#id_description", "My first VM")
    page.click("button:has-text('Order')")

    # The VM page follows provisioning live (htmx) until the VM runs.
    page.wait_for_url(re.compile(r"/vms/\d+/$"))
    page.wait_for_selector(
        '#vm-live[data-state="running"], #vm-live[data-state="failed"]', timeout=120_000
    )
    vm = VirtualMachine.objects.get(name="web1")
    job = Job.objects.get(kind="vm_create", target_id=vm.pk)
    steps = "\n".join(f"{s.name} {s.state}: {s.output}" for s in job.steps.all())
    assert vm.state == "running", f"{job.error}\n{steps}"
    ipv4 = vm.ip_addresses.get(family=4).address
    assert page.inner_text("#vm-ipv4") == ipv4 and ipv4.startswith("203.0.113.")
    assert page.inner_text("#vm-gateway") == "10.0.0.1"
    assert page.inner_text("#vm-gateway-mac") == "02:00:0a:00:00:01"
    guest = page.inner_text("#guest-config")
    assert f"ip addr add {ipv4}/32 dev eth0" in guest
    assert "ip route add default via 10.0.0.1 dev eth0 onlink" in guest
    assert "Checking the route reaches the internet" in page.inner_text("#vm-steps")
    assert "node1" not in page.inner_text("main")  # the node is not the tenant's business
    screenshot(page, "tenant-vm-detail")

    page.goto(f"{live_server.url}/vms/")
    assert "web1" in page.inner_text("table") and ipv4 in page.inner_text("table")
    screenshot(page, "tenant-vm-list")

    # The operator's dashboard now counts the VM and its address in the pool.
    logout(page)
    user("ops", "operator")
    login(page, live_server, "ops")
    assert "1 used · 10 free" in page.inner_text("main")
    screenshot(page, "dashboard")


@pytest.mark.lab
def test_operator_removes_a_route_reflector_after_typing_its_name(live_server, page, lab_cluster):
    user("ops", "operator")
    login(page, live_server, "ops")
    rr1, rr2 = lab_cluster.route_reflectors.order_by("name")
    page.goto(f"{live_server.url}/route-reflectors/{rr2.pk}/")
    page.click("#rr-remove")
    assert "Routes keep flowing through rr1" in page.inner_text("main")
    page.fill("#id_confirm", "rr1")
    page.click("button:has-text('Remove rr2')")
    assert page.inner_text("#id_confirm-errors") == 'Type "rr2" exactly to confirm.'
    assert RouteReflector.objects.get(pk=rr2.pk).state == "ready"  # nothing queued
    screenshot(page, "rr-remove-confirm")

    page.fill("#id_confirm", "rr2")
    page.click("button:has-text('Remove rr2')")
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    assert wait_for_job_page(page) == "succeeded", page.inner_text("#job-progress")
    steps = page.inner_text("#job-progress")
    for step in ("rr_check", "node_apply_bird", "bgw_commit_confirmed", "bgw_confirm",
                 "rr_decommission", "rr_forget"):  # fmt: skip
        assert step in steps
    screenshot(page, "job-detail-rr-remove")
    assert not RouteReflector.objects.filter(pk=rr2.pk).exists()

    page.goto(f"{live_server.url}/route-reflectors/{rr1.pk}/remove/")
    assert "last ready route reflector" in page.inner_text("main")


def test_a_tenant_cannot_open_another_tenants_vm(live_server, page):
    acme, globex = make_tenant(name="acme"), make_tenant(name="globex")
    cluster = make_cluster(name="fra1", state="ready")
    plan = make_plan(name="small")
    theirs = make_vm(tenant=acme, plan=plan, cluster=cluster, name="acme-db")
    mine = make_vm(tenant=globex, plan=plan, cluster=cluster, name="globex-web")
    user("bob", "tenant_user", globex)
    login(page, live_server, "bob")

    listed = page.inner_text("main")
    assert "globex-web" in listed and "acme-db" not in listed
    for path in (f"/vms/{theirs.pk}/", f"/vms/{theirs.pk}/delete/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 404
        assert "Not found" in page.inner_text("h1") and "acme-db" not in page.content()
    response = page.goto(f"{live_server.url}/vms/{mine.pk}/")
    assert response.status == 200 and "globex-web" in page.inner_text("h1")
    # Operator pages are not for tenants.
    assert page.goto(f"{live_server.url}/dashboard/").status == 403
    logout(page)


def test_bad_forms_show_their_errors_inline(live_server, page):
    tenant = make_tenant(name="acme")
    cluster = make_cluster(name="fra1", state="ready")
    make_pool(network=make_network(cluster=cluster, prefix="203.0.113.0/24"),
              first="203.0.113.10", last="203.0.113.20")  # fmt: skip
    plan = make_plan(name="small")
    make_vm(tenant=tenant, plan=plan, cluster=cluster, name="web1")
    user("alice", "tenant_user", tenant)
    login(page, live_server, "alice")

    page.goto(f"{live_server.url}/vms/new/")
    page.select_option("#id_plan", value=str(plan.pk))
    page.select_option("#id_cluster", value=str(cluster.pk))
    page.fill("#id_name", "web1")
    page.click("button:has-text('Order')")
    assert page.inner_text("#id_name-errors") == "You already have a VM named web1."
    assert page.input_value("#id_name") == "web1"  # what was typed stays
    page.fill("#id_name", "bad name!")
    page.click("button:has-text('Order')")
    assert "Use 1-63 letters" in page.inner_text("#id_name-errors")
    screenshot(page, "tenant-order-error")
    assert VirtualMachine.objects.count() == 1 and not Job.objects.exists()
    logout(page)

    user("root", "admin")  # the wizard adds devices: admins only
    login(page, live_server, "root")
    page.goto(f"{live_server.url}/clusters/new/bgp/")
    page.fill("#id_cluster-name", "fra1")  # taken
    page.fill("#id_cluster-bgp_asn", "4294967296")
    page.fill("#id_cluster-bgp_community", "65000:100")
    page.click("button:has-text('Next')")
    assert "already exists" in page.inner_text("#id_cluster-name-errors")
    assert "between 1 and 4294967295" in page.inner_text("#id_cluster-bgp_asn-errors")
    assert "Give a password or an SSH private key." in page.inner_text("#id_bgw-password-errors")
    assert page.url.endswith("/clusters/new/bgp/")
    screenshot(page, "wizard-error")
