"""Operator pages: the cluster wizard, devices, the border gateway, jobs and the dashboard."""

import html
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from apps.compute.models import VirtualMachine
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.fabric.selectors import (
    border_gateway_config,
    desired_border_gateway_junos,
    junos_config_digest,
    route_reflector_bird_config,
)
from apps.ipam.models import IPPool, Network
from apps.jobs.models import Job
from apps.portal.wizard import SESSION_KEY
from tests.factories import TEST_SSH_KEY, make_cluster, make_node, make_rr, make_vm
from tests.portal.conftest import make_job
from workers.render import render_border_gateway_junos, render_route_reflector_bird

pytestmark = pytest.mark.django_db

BGP_STEP = {
    "cluster-name": "ams1",
    "cluster-virtualization": "kvm",
    "cluster-bgp_asn": "65010",
    "cluster-bgp_community": "65010:100",
    "cluster-gateway_ipv4": "10.0.0.1",
    "cluster-gateway_ipv6": "fe80::1",
    "cluster-gateway_mac": "02:00:0a:00:00:01",
    "cluster-commit_confirm_minutes": "5",
    "bgw-name": "mx-ams",
    "bgw-peering_ip": "10.9.0.1",
    "bgw-peer_asn": "",
    "bgw-bgp_group": "VM",
    "bgw-policy_name": "VM",
    "bgw-mgmt_host": "mx-ams.example.net",
    "bgw-mgmt_port": "22",
    "bgw-username": "netops",
    "bgw-password": "s3cret-junos",
}
RR_STEP = {
    "rr-name": "rr-ams1",
    "rr-peering_ip": "10.9.0.2",
    "rr-ssh_port": "22",
    "rr-ssh_username": "root",
    "rr-ssh_private_key": TEST_SSH_KEY,
    "rr-bird_config_path": "/etc/bird/bird.conf",
    "rr-bird_socket_path": "/run/bird/bird.ctl",
}
NETWORKS_STEP = {
    "net-ipv4_prefix": "198.51.100.0/24",
    "net-ipv4_pool_name": "v4",
    "net-ipv4_first": "198.51.100.10",
    "net-ipv4_last": "198.51.100.200",
    "net-ipv6_prefix": "2001:db8:100::/48",
    "net-ipv6_pool_name": "v6",
    "net-ipv6_first": "2001:db8:100::10",
    "net-ipv6_last": "2001:db8:100::ffff",
}


def errors_of(response, field: str) -> str:
    page = response.content.decode()
    marker = f'id="id_{field}-errors"'
    return page.split(marker, 1)[1].split("</ul>", 1)[0] if marker in page else ""


def pre(page: str, element_id: str) -> str:
    """The text of the <pre> with this id."""
    return html.unescape(page.split(f'<pre id="{element_id}">', 1)[1].split("</pre>", 1)[0])


def walk(client, *steps):
    """POST each (step, data); every one must lead to the next step."""
    for step, data in steps:
        response = client.post(f"/clusters/new/{step}/", data)
        assert response.status_code == 302, (step, response.content.decode()[:3000])
    return response


# --- the cluster wizard ---------------------------------------------------------------------------


def test_wizard_walks_bgp_rr_networks_review_then_creates_and_provisions(
    world, django_capture_on_commit_callbacks
):
    client = world.client("admin")
    assert client.get("/clusters/new/bgp/").status_code == 200
    # Steps must be taken in order.
    assert client.get("/clusters/new/networks/")["Location"] == "/clusters/new/bgp/"
    walk(client, ("bgp", BGP_STEP), ("route-reflector", RR_STEP), ("networks", NETWORKS_STEP))

    # Nothing is saved before "create"; credentials are not kept in clear in the session.
    assert not Cluster.objects.filter(name="ams1").exists()
    stored = str(client.session[SESSION_KEY])
    assert "s3cret-junos" not in stored and "test-only" not in stored

    review = client.get("/clusters/new/review/")
    page = review.content.decode()
    assert review.status_code == 200
    assert "set protocols bgp group VM neighbor 10.9.0.2" in page
    assert "route-filter 198.51.100.0/24 orlonger" in page
    assert "router id 10.9.0.2;" in page and "bgp_large_community" not in page

    with django_capture_on_commit_callbacks() as queued:
        created = client.post("/clusters/new/review/")
    cluster = Cluster.objects.get(name="ams1")
    job = Job.objects.get(kind="cluster_provision", target_id=cluster.pk)
    assert created["Location"] == f"/jobs/{job.pk}/"
    assert cluster.state == "provisioning" and job.created_by == world.users["admin"]
    bgw = BorderGateway.objects.get(cluster=cluster)
    rr = RouteReflector.objects.get(cluster=cluster)
    assert bgw.peer_asn == 65010 and bgw.password == "s3cret-junos"
    assert rr.ssh_private_key == TEST_SSH_KEY
    assert sorted(Network.objects.filter(cluster=cluster).values_list("prefix", flat=True)) == [
        "198.51.100.0/24",
        "2001:db8:100::/48",
    ]
    assert IPPool.objects.filter(network__cluster=cluster).count() == 2
    assert len(queued) == 1 and SESSION_KEY not in client.session

    # The review showed exactly what provisioning renders from the database.
    junos = "\n".join(render_border_gateway_junos(border_gateway_config(bgw)))
    bird = render_route_reflector_bird(route_reflector_bird_config(rr))
    assert pre(page, "junos-preview") == junos
    assert pre(page, "bird-preview") == bird


def test_wizard_step_errors_are_inline_and_the_step_repeats(world):
    client = world.client("admin")
    bad = {**BGP_STEP, "cluster-bgp_asn": "4294967296", "cluster-bgp_community": "65010"}
    response = client.post("/clusters/new/bgp/", bad)
    assert response.status_code == 400
    assert "AS number must be between 1 and 4294967295" in errors_of(response, "cluster-bgp_asn")
    assert "Community must be" in errors_of(response, "cluster-bgp_community")

    taken = {**BGP_STEP, "cluster-name": world.cluster.name, "bgw-password": ""}
    response = client.post("/clusters/new/bgp/", taken)
    assert "Cluster with this Name already exists." in errors_of(response, "cluster-name")
    # The password entered before is kept when the field is left empty.
    assert errors_of(response, "bgw-password") == ""


def test_wizard_cross_record_rules_are_reported_on_their_step(world):
    client = world.client("admin")
    walk(client, ("bgp", BGP_STEP))
    no_key = {**RR_STEP, "rr-ssh_private_key": ""}
    response = client.post("/clusters/new/route-reflector/", no_key)
    assert "Give an SSH private key or a password." in errors_of(response, "rr-ssh_private_key")
    clash = client.post("/clusters/new/route-reflector/", {**RR_STEP, "rr-peering_ip": "10.9.0.1"})
    assert clash.status_code == 400
    assert "is the border gateway&#x27;s peering address" in errors_of(clash, "rr-peering_ip")
    walk(client, ("route-reflector", RR_STEP))

    gateway_in_pool = {
        **NETWORKS_STEP,
        "net-ipv4_prefix": "203.0.113.0/24",  # the world's cluster has it
        "net-ipv4_first": "203.0.113.10",
        "net-ipv4_last": "203.0.113.20",
    }
    response = client.post("/clusters/new/networks/", gateway_in_pool)
    assert "overlaps network 203.0.113.0/24 of cluster fra1" in errors_of(
        response, "net-ipv4_prefix"
    )
    outside = {**NETWORKS_STEP, "net-ipv4_last": "198.51.101.5"}
    response = client.post("/clusters/new/networks/", outside)
    assert "is outside network 198.51.100.0/24" in errors_of(response, "net-ipv4_last")
    private = {**NETWORKS_STEP, "net-ipv4_prefix": "10.0.0.0/24"}
    response = client.post("/clusters/new/networks/", private)
    assert "cannot be a public network" in errors_of(response, "net-ipv4_prefix")
    assert not Cluster.objects.filter(name="ams1").exists()


def test_wizard_takes_an_asdot_asn_and_shows_one_message_for_a_bad_one(world):
    client = world.client("admin")
    response = client.post("/clusters/new/bgp/", {**BGP_STEP, "cluster-bgp_asn": "-1"})
    assert response.status_code == 400
    assert errors_of(response, "cluster-bgp_asn").count("<li>") == 1
    assert "AS number" in errors_of(response, "cluster-bgp_asn")
    walk(client, ("bgp", {**BGP_STEP, "cluster-bgp_asn": "1.10", "bgw-peer_asn": "1.11"}))
    walk(client, ("route-reflector", RR_STEP), ("networks", NETWORKS_STEP))
    client.post("/clusters/new/review/")
    cluster = Cluster.objects.get(name="ams1")
    assert (cluster.bgp_asn, cluster.border_gateway.peer_asn) == (65546, 65547)


def test_wizard_networks_step_shows_every_error(world):
    client = world.client("admin")
    walk(client, ("bgp", BGP_STEP), ("route-reflector", RR_STEP))
    both_bad = {
        **NETWORKS_STEP,
        "net-ipv4_prefix": "203.0.113.0/24",  # the world's cluster has it
        "net-ipv4_first": "203.0.113.10",
        "net-ipv4_last": "203.0.113.20",
        "net-ipv6_last": "2001:db8:200::1",  # outside its network
    }
    response = client.post("/clusters/new/networks/", both_bad)
    assert response.status_code == 400
    assert "overlaps network 203.0.113.0/24" in errors_of(response, "net-ipv4_prefix")
    assert "is outside network 2001:db8:100::/48" in errors_of(response, "net-ipv6_last")


def test_wizard_review_sends_back_to_a_step_that_no_longer_validates(world):
    client = world.client("admin")
    walk(client, ("bgp", BGP_STEP), ("route-reflector", RR_STEP), ("networks", NETWORKS_STEP))
    Cluster.objects.create(name="ams1", bgp_asn=65010, bgp_community="65010:100")  # meanwhile
    assert client.get("/clusters/new/review/")["Location"] == "/clusters/new/bgp/"
    assert client.post("/clusters/new/review/")["Location"] == "/clusters/new/bgp/"
    page = client.get("/clusters/new/bgp/")
    assert "already exists" in errors_of(page, "cluster-name")
    assert Cluster.objects.filter(name="ams1").count() == 1


def test_wizard_review_with_default_names_and_ipv4_only_is_what_provisioning_renders(world):
    """The review renders the records created in a rolled-back transaction with the
    selectors provisioning uses: the derived group and policy names, one family."""
    client = world.client("admin")
    bgp = {**BGP_STEP, "bgw-bgp_group": "", "bgw-policy_name": "", "bgw-peer_asn": "65020"}
    ipv4_only = {k: v for k, v in NETWORKS_STEP.items() if not k.startswith("net-ipv6")}
    walk(client, ("bgp", bgp), ("route-reflector", RR_STEP), ("networks", ipv4_only))
    models = (Cluster, BorderGateway, RouteReflector, Network, IPPool)
    counts = [model.objects.count() for model in models]
    page = client.get("/clusters/new/review/").content.decode()
    assert "set protocols bgp group FABRIC-ams1 " in pre(page, "junos-preview")
    # The rehearsal left nothing behind.
    assert counts == [model.objects.count() for model in models]
    client.post("/clusters/new/review/")
    cluster = Cluster.objects.get(name="ams1")
    bgw, rr = (
        BorderGateway.objects.get(cluster=cluster),
        RouteReflector.objects.get(cluster=cluster),
    )
    assert pre(page, "junos-preview") == "\n".join(
        render_border_gateway_junos(border_gateway_config(bgw))
    )
    assert pre(page, "bird-preview") == render_route_reflector_bird(route_reflector_bird_config(rr))
    assert "2001:db8" not in pre(page, "bird-preview")


def test_wizard_cancel_forgets_everything(world):
    client = world.client("admin")
    walk(client, ("bgp", BGP_STEP))
    assert client.post("/clusters/new/cancel/")["Location"] == "/clusters/"
    assert SESSION_KEY not in client.session


# --- devices ------------------------------------------------------------------------------------


NODE = {
    "name": "hv2",
    "underlay_ip": "10.1.0.2",
    "hypervisor": "libvirt",
    "vcpus": "32",
    "memory_mb": "131072",
    "disk_gb": "2000",
    "ssh_port": "22",
    "ssh_username": "root",
    "ssh_private_key": TEST_SSH_KEY,
    "bird_config_path": "/etc/bird/bird.conf",
    "bird_socket_path": "/run/bird/bird.ctl",
}


def test_add_node_leads_to_its_node_add_job(world, django_capture_on_commit_callbacks):
    client = world.client("admin")
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(f"/clusters/{world.cluster.pk}/nodes/new/", NODE)
    node = Node.objects.get(name="hv2")
    job = Job.objects.get(kind="node_add", target_id=node.pk)
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert len(queued) == 1


def test_add_node_asks_whether_to_persist_the_host_config(world):
    client = world.client("admin")
    page = client.get(f"/clusters/{world.cluster.pk}/nodes/new/").content.decode()
    checkbox = page.split('name="persist_host_config"', 1)[1].split(">", 1)[0]
    assert "checked" in checkbox  # persisted unless the operator says otherwise
    add = f"/clusters/{world.cluster.pk}/nodes/new/"
    client.post(add, {**NODE, "persist_host_config": "on"})
    client.post(add, {**NODE, "name": "hv3", "underlay_ip": "10.1.0.3"})  # left unchecked
    nodes = Node.objects.filter(name__in=["hv2", "hv3"])
    assert dict(nodes.values_list("name", "persist_host_config")) == {"hv2": True, "hv3": False}


def test_node_form_bounds_are_the_models(world):
    client = world.client("admin")
    page = client.get(f"/clusters/{world.cluster.pk}/nodes/new/").content.decode()
    vcpus = page.split('name="vcpus"', 1)[1].split(">", 1)[0]
    assert 'min="1"' in vcpus and 'max="4096"' in vcpus
    response = client.post(f"/clusters/{world.cluster.pk}/nodes/new/", {**NODE, "vcpus": "0"})
    assert response.status_code == 400
    errors = errors_of(response, "vcpus")
    assert errors.count("<li>") == 1 and "greater than or equal to 1" in errors


def test_add_node_errors(world):
    client = world.client("admin")
    taken = client.post(f"/clusters/{world.cluster.pk}/nodes/new/", {**NODE, "name": "hv1"})
    assert "already has a node named hv1" in errors_of(taken, "name")
    clash = client.post(
        f"/clusters/{world.cluster.pk}/nodes/new/", {**NODE, "underlay_ip": "10.2.0.1"}
    )
    assert "already used by rr1" in errors_of(clash, "underlay_ip")
    options = f"/clusters/{world.cluster.pk}/nodes/new/"
    not_json = client.post(options, {**NODE, "hypervisor_options": "{state_dir: /x"})
    assert "Enter a valid JSON." in errors_of(not_json, "hypervisor_options")
    unknown = client.post(options, {**NODE, "hypervisor_options": '{"lxd_dir": "/x"}'})
    assert "Unknown option &#x27;lxd_dir&#x27;" in errors_of(unknown, "hypervisor_options")
    assert not Node.objects.filter(name="hv2").exists()


def test_provision_again_without_route_reflector_says_why(world):
    bare = Cluster.objects.create(name="bare", bgp_asn=65000, bgp_community="65000:1")
    assert not RouteReflector.objects.filter(cluster=bare).exists()
    response = world.client("operator").post(f"/clusters/{bare.pk}/provision/", follow=True)
    assert "Add at least one route reflector first." in response.content.decode()
    assert not Job.objects.filter(kind="cluster_provision", target_id=bare.pk).exists()


def test_add_route_reflector_queues_provisioning(world):
    client = world.client("admin")
    data = {k.removeprefix("rr-"): v for k, v in RR_STEP.items()}
    response = client.post(f"/clusters/{world.cluster.pk}/route-reflectors/new/", data)
    job = Job.objects.get(kind="cluster_provision", target_id=world.cluster.pk)
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert RouteReflector.objects.filter(cluster=world.cluster, name="rr-ams1").exists()


def test_remove_node_is_refused_while_it_has_vms(world):
    client = world.client("operator")
    refused = client.post(f"/nodes/{world.node.pk}/remove/", {"confirm": "hv1"})
    assert refused.status_code == 400
    assert "still has 2 VM(s)" in refused.content.decode()
    empty = Node.objects.create(
        cluster=world.cluster, name="hv9", underlay_ip="10.1.0.9", ssh_password="x",
        vcpus=1, memory_mb=1024, disk_gb=10, state="ready",
    )  # fmt: skip
    assert client.post(f"/nodes/{empty.pk}/remove/", {"confirm": "nope"}).status_code == 400
    response = client.post(f"/nodes/{empty.pk}/remove/", {"confirm": "hv9"})
    job = Job.objects.get(kind="node_remove", target_id=empty.pk)
    assert response["Location"] == f"/jobs/{job.pk}/"


def test_remove_route_reflector_asks_for_its_name_then_queues_the_removal(world):
    client = world.client("operator")
    second = make_rr(cluster=world.cluster, name="rr2", state="ready")
    page = client.get(f"/route-reflectors/{second.pk}/remove/").content.decode()
    assert "Routes keep flowing through rr1" in page and "route_reflector_remove" in page

    wrong = client.post(f"/route-reflectors/{second.pk}/remove/", {"confirm": "rr1"})

    assert wrong.status_code == 400 and "Type &quot;rr2&quot; exactly" in wrong.content.decode()
    assert RouteReflector.objects.get(pk=second.pk).state == "ready"
    response = client.post(f"/route-reflectors/{second.pk}/remove/", {"confirm": "rr2"})
    job = Job.objects.get(kind="route_reflector_remove", target_id=second.pk)
    assert response["Location"] == f"/jobs/{job.pk}/"
    page = client.get(f"/route-reflectors/{second.pk}/").content.decode()
    assert "Being removed" in page


def test_removing_the_last_ready_route_reflector_is_refused_on_the_page(world):
    client = world.client("operator")
    page = client.get(f"/route-reflectors/{world.rr.pk}/remove/").content.decode()
    assert "last ready route reflector" in page

    refused = client.post(f"/route-reflectors/{world.rr.pk}/remove/", {"confirm": "rr1"})

    assert refused.status_code == 400
    assert "add and provision another one" in refused.content.decode()
    assert not Job.objects.filter(kind="route_reflector_remove").exists()
    assert RouteReflector.objects.get(pk=world.rr.pk).state == world.rr.state


def test_drain_a_node_and_return_it_to_service_from_its_page(world):
    client, page_url = world.client("operator"), f"/nodes/{world.node.pk}/"
    assert 'id="node-drain"' in client.get(page_url).content.decode()

    drained = client.post(f"/nodes/{world.node.pk}/drain/", follow=True).content.decode()

    assert "is draining: new VMs go to other nodes" in drained
    assert 'id="node-undrain"' in drained and 'id="node-drain"' not in drained
    again = client.post(f"/nodes/{world.node.pk}/drain/", follow=True).content.decode()
    assert "only a ready node can drain" in again
    back = client.post(f"/nodes/{world.node.pk}/undrain/", follow=True).content.decode()
    assert "is back in service" in back
    assert Node.objects.get(pk=world.node.pk).state == "ready"


def test_node_page_shows_vms_sessions_desired_and_applied_config(world):
    page = world.client("auditor").get(f"/nodes/{world.node.pk}/").content.decode()
    assert "web-a" in page and "web-b" in page
    assert "rr_" in page and "Established" in page and "node_verify_sessions" in page
    assert "Desired bird.conf" in page and "route 203.0.113.10/32 via &quot;vnet1&quot;" in page
    assert "Last applied config" in page and "bird.conf replaced" in page
    assert 'id="node-remove"' not in page  # the auditor only looks


def test_node_page_shows_sessions_that_did_not_come_up(world):
    make_job(kind="node_add", target=world.node, state="failed", steps=[
        ("node_verify_sessions", "failed",
         f"SessionsNotEstablished: not Established after 20s: rr_{world.rr.pk}: Active",
         {"sessions": [{"protocol": f"rr_{world.rr.pk}", "route_reflector": world.rr.pk,
                        "established": False, "info": "Active"}]}),
    ])  # fmt: skip
    page = world.client("operator").get(f"/nodes/{world.node.pk}/").content.decode()
    assert 'data-state="down"' in page and "Active" in page


def test_rr_page_shows_desired_config_and_last_applies(world):
    page = world.client("operator").get(f"/route-reflectors/{world.rr.pk}/").content.decode()
    assert "router id 10.2.0.1;" in page
    assert "rr_apply_config" in page and "route reflector rr1" in page


def test_rr_page_shows_only_its_own_applies_not_a_same_named_rr_of_another_cluster(world):
    other = make_cluster(name="ams1", state="ready")
    twin = make_rr(cluster=other, name="rr1", peering_ip="10.9.0.1", state="ready")
    theirs = make_job(kind="cluster_provision", target=other, steps=[
        ("rr_apply_config", "failed", "route reflector rr1\nBirdCommandFailed: twin's",
         {"route_reflector": twin.pk}),
    ])  # fmt: skip
    client = world.client("operator")

    ours = client.get(f"/route-reflectors/{world.rr.pk}/").content.decode()
    twins = client.get(f"/route-reflectors/{twin.pk}/").content.decode()

    assert f"job #{theirs.pk}" not in ours and f"job #{world.node_job.pk}" in ours
    assert f"job #{theirs.pk}" in twins and f"job #{world.node_job.pk}" not in twins


# --- border gateway -----------------------------------------------------------------------------


def test_border_gateway_dry_run_then_apply(world):
    client = world.client("operator")
    page = client.get(f"/border-gateways/{world.bgw.pk}/").content.decode()
    assert (
        "No dry run yet" in page and "set protocols bgp group FABRIC-fra1 neighbor 10.2.0.1" in page
    )

    response = client.post(f"/border-gateways/{world.bgw.pk}/dry-run/", HTTP_HX_REQUEST="true")
    job = Job.objects.get(kind="border_gateway_preview")
    part = response.content.decode()
    assert part.lstrip().startswith('<section class="card" id="bgw-preview"')
    assert f"/border-gateways/{world.bgw.pk}/dry-run/{job.pk}/" in part
    assert 'hx-trigger="every 1s"' in part

    # The worker ran it: the diff shows, and polling stops.
    Job.objects.filter(pk=job.pk).update(state="succeeded")
    make_job(kind="border_gateway_preview", target=world.bgw, steps=[
        ("bgw_render", "succeeded", "set ..."),
        ("bgw_compare", "succeeded", "[edit protocols bgp group VM]\n+    neighbor 10.2.0.1;"),
    ])  # fmt: skip
    latest = Job.objects.filter(kind="border_gateway_preview").order_by("-pk").first()
    part = client.get(f"/border-gateways/{world.bgw.pk}/dry-run/{latest.pk}/").content.decode()
    assert 'class="add">+    neighbor 10.2.0.1;' in part and "every 1s" not in part

    confirm = client.get(f"/border-gateways/{world.bgw.pk}/apply/").content.decode()
    assert "commit confirmed 5" in confirm and "neighbor 10.2.0.1" in confirm
    response = client.post(f"/border-gateways/{world.bgw.pk}/apply/")
    sync = Job.objects.get(kind="border_gateway_sync")
    assert response["Location"] == f"/jobs/{sync.pk}/"


def test_border_gateway_history_shows_commits_and_rollbacks(world):
    make_job(kind="border_gateway_sync", target=world.bgw, state="failed", steps=[
        ("bgw_commit_confirmed", "succeeded", "commit confirmed will be automatically rolled back"),
        ("bgw_verify", "failed", "verification failed: rolled back now (rollback 1 + commit)"),
    ])  # fmt: skip
    page = world.client("operator").get(f"/border-gateways/{world.bgw.pk}/").content.decode()
    assert "bgw_commit_confirmed" in page and "rolled back now" in page


# --- jobs and the dashboard ---------------------------------------------------------------------


def test_job_page_polls_while_running_and_stops_when_done(world):
    job = make_job(kind="node_add", target=world.node, state="running", steps=[
        ("node_connect", "succeeded", "connected"), ("node_prepare", "running", ""),
    ])  # fmt: skip
    client = world.client("operator")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and "node_prepare" in page
    response = client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true")
    part = response.content.decode()
    assert part.lstrip().startswith('<div id="job-progress"') and "<html" not in part
    assert "HX-Request" in response["Vary"]

    Job.objects.filter(pk=job.pk).update(state="failed", error="step node_prepare failed: boom")
    part = client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in part and "step node_prepare failed: boom" in part


def test_tenants_see_their_job_steps_but_not_device_details(world):
    job = make_job(kind="vm_create", target=world.vm_a, tenant=world.tenant_a, state="failed",
                   steps=[("place", "failed", "NoCapacity: node hv1 is full")])  # fmt: skip
    page = world.client("alice").get(f"/jobs/{job.pk}/").content.decode()
    assert "Failed while choosing a host." in page
    assert "hv1" not in page and "NoCapacity" not in page
    staff = world.client("operator").get(f"/jobs/{job.pk}/").content.decode()
    assert "NoCapacity: node hv1 is full" in staff


def test_dashboard_shows_states_pool_usage_and_failed_jobs_needing_attention(world):
    fixed = make_job(kind="node_add", target=world.node, state="failed")
    Job.objects.filter(pk=world.node_job.pk).update(created=fixed.created.replace(year=2100))
    broken = make_job(kind="border_gateway_sync", target=world.bgw, state="failed")
    make_vm(tenant=world.tenant_a, plan=world.plan, cluster=world.cluster, name="later")
    page = world.client("operator").get("/dashboard/").content.decode()
    assert "fra1" in page and 'data-state="ready"' in page
    assert "2 used · 239 free" in page  # the pool .10-.250 with two addresses taken
    assert f"/jobs/{broken.pk}/" in page
    assert f"/jobs/{fixed.pk}/" not in page  # a later node_add on the same node succeeded


def test_pages_carry_the_portal_favicon(client):
    page = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/portal/favicon.svg"' in page
    assert Path(finders.find("portal/favicon.svg")).read_text().startswith("<svg")


def test_apply_is_disabled_when_the_dry_run_of_this_rendering_shows_no_difference(world):
    client = world.client("operator")
    detail = f"/border-gateways/{world.bgw.pk}/"

    def dry_run(diff: str, lines=None):
        lines = desired_border_gateway_junos(world.bgw) if lines is None else lines
        data = {"border_gateway": world.bgw.pk, "diff": diff,
                "config_sha256": junos_config_digest(lines)}  # fmt: skip
        return make_job(kind="border_gateway_preview", target=world.bgw, steps=[
            ("bgw_render", "succeeded", "\n".join(lines)),
            ("bgw_compare", "succeeded", diff or "no difference", data),
        ])  # fmt: skip

    def apply_enabled() -> bool:
        page = client.get(detail).content.decode()
        confirm = client.get(f"{detail}apply/").content.decode()
        enabled = f'href="{detail}apply/" id="apply"' in page
        assert enabled == ('id="confirm-apply">' in confirm)  # both pages agree
        assert enabled != ('id="confirm-apply" disabled' in confirm)
        return enabled

    assert apply_enabled()  # no dry run yet
    dry_run("[edit protocols bgp group VM]\n+    neighbor 10.2.0.1;")
    assert apply_enabled()
    dry_run("")
    assert not apply_enabled()
    page = client.get(detail).content.decode()
    assert 'id="apply" disabled' in page and "nothing to apply" in page
    # a change since that dry run (another route reflector) is something to apply again
    make_rr(cluster=world.cluster, name="rr9", peering_ip="10.2.0.9", state="ready")
    assert apply_enabled()
    # and a dry run of another rendering does not count
    dry_run("", lines=["set something else"])
    assert apply_enabled()
    # nor one that failed
    failed = dry_run("")
    Job.objects.filter(pk=failed.pk).update(state="failed")
    assert apply_enabled()


def test_a_lab_cluster_shows_the_hypervisor_its_nodes_really_run(world):
    lab = make_cluster(name="lab", description="Network-namespace lab", state="ready")
    make_node(cluster=lab, name="node1", hypervisor="netns", state="ready")
    make_node(cluster=lab, name="node2", hypervisor="netns", state="ready")
    client = world.client("operator")

    listed = client.get("/clusters/?q=lab").content.decode()
    row = listed.split(f'href="/clusters/{lab.pk}/"', 1)[1].split("</tr>", 1)[0]
    assert "Network namespace (lab)" in row and "KVM" not in row
    page = client.get(f"/clusters/{lab.pk}/").content.decode()
    hypervisors = page.split('id="cluster-hypervisors">', 1)[1].split("</dd>", 1)[0]
    assert hypervisors == "Network namespace (lab)"
    # a cluster of libvirt nodes says so, one without a node says what it is set up for
    fra1 = client.get(f"/clusters/{world.cluster.pk}/").content.decode()
    assert 'id="cluster-hypervisors">libvirt / KVM</dd>' in fra1
    empty = make_cluster(name="empty")
    listed = client.get("/clusters/?q=empty").content.decode()
    assert "KVM (libvirt)" in listed.split(f'href="/clusters/{empty.pk}/"', 1)[1]


# --- live lists and the jobs indicator ----------------------------------------------------------


def live_part(client, url: str):
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "HX-Request" in response["Vary"], url
    return response.content.decode()


def test_dashboard_live_part_polls_fast_while_jobs_run_and_slowly_otherwise(world):
    client = world.client("operator")
    page = client.get("/dashboard/").content.decode()
    assert '<div id="dashboard-live" data-live="false"' in page and "every 30s" in page
    part = live_part(client, "/dashboard/")
    assert part.lstrip().startswith('<div id="dashboard-live"') and "<html" not in part
    assert "fra1" in part and "203.0.113.0/24" in part

    make_job(kind="node_add", target=world.node, state="running")
    part = live_part(client, "/dashboard/")
    assert 'data-live="true"' in part and 'hx-trigger="every 2s"' in part
    assert world.client("alice").get("/dashboard/", HTTP_HX_REQUEST="true").status_code == 403


def test_vm_list_live_part_keeps_filters_and_scope_and_follows_changing_vms(world):
    alice = world.client("alice")
    page = alice.get("/vms/?q=web").content.decode()
    assert 'hx-get="/vms/?q=web"' in page and 'data-live="false"' in page
    part = live_part(alice, "/vms/?q=web")
    assert part.lstrip().startswith('<div id="vm-list-live"') and "<html" not in part
    assert "web-a" in part and "web-b" not in part  # the tenant's scope, in the part too

    VirtualMachine.objects.filter(pk=world.vm_a.pk).update(state="stopping")
    part = live_part(alice, "/vms/?q=web")
    assert 'data-live="true"' in part and "every 2s" in part and 'data-state="stopping"' in part
    # a change elsewhere (another tenant's VM) does not speed up alice's list
    VirtualMachine.objects.filter(pk=world.vm_a.pk).update(state="running")
    VirtualMachine.objects.filter(pk=world.vm_b.pk).update(state="provisioning")
    assert 'data-live="false"' in live_part(alice, "/vms/")
    assert 'data-live="true"' in live_part(world.client("operator"), "/vms/")


def test_job_list_live_part_follows_jobs_until_done(world):
    client = world.client("operator")
    part = live_part(client, "/jobs/?kind=node_add")
    assert part.lstrip().startswith('<div id="job-list-live"') and 'data-live="false"' in part
    assert 'hx-get="/jobs/?kind=node_add"' in part
    running = make_job(kind="node_add", target=world.node, state="running")
    part = live_part(client, "/jobs/?kind=node_add")
    assert 'data-live="true"' in part and f"#{running.pk} " in part
    alice = live_part(world.client("alice"), "/jobs/")
    assert 'data-live="false"' in alice and "node_add" not in alice and "Add node" not in alice


def test_staff_header_counts_queued_and_running_jobs_and_tenants_never_see_it(world):
    client = world.client("auditor")
    page = client.get("/clusters/").content.decode()
    assert 'id="jobs-indicator"' in page and 'data-count="0"' in page
    assert 'href="/jobs/?state=running"' in page and "every 30s" in page
    make_job(kind="node_add", target=world.node, state="running")
    make_job(kind="vm_create", target=world.vm_b, tenant=world.tenant_b, state="queued")
    make_job(kind="vm_create", target=world.vm_a, tenant=world.tenant_a, state="failed")
    indicator = client.get("/jobs/running/").content.decode()
    assert indicator.startswith('<a id="jobs-indicator"') and 'data-count="2"' in indicator
    assert "2 running" in indicator and "every 3s" in indicator
    for who in ("alice", "alice_ro", "bob"):
        assert 'id="jobs-indicator"' not in world.client(who).get("/vms/").content.decode()
        assert world.client(who).get("/jobs/running/").status_code == 403
