"""Edit pages of a cluster, a route reflector, a node and a border gateway: a change to a
device config is shown as a diff, then saved with its sync job; the rest is saved at once;
the API's validation, create-only and admin-only fields; who may edit."""

import html
import re

import pytest

from apps.changes.models import ObjectChange
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.jobs.models import Job
from tests.factories import make_cluster, make_network, make_node, make_rr
from tests.portal.conftest import make_job
from tests.portal.pages import OPERATORS, TENANT_ROLES, PageTests

pytestmark = pytest.mark.django_db

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def cluster_data(cluster: Cluster, **changes) -> dict:
    data = {
        "name": cluster.name, "description": cluster.description,
        "virtualization": cluster.virtualization, "bgp_asn": str(cluster.bgp_asn),
        "bgp_community": cluster.bgp_community, "gateway_ipv4": cluster.gateway_ipv4,
        "gateway_ipv6": cluster.gateway_ipv6 or "", "gateway_mac": cluster.gateway_mac,
        "commit_confirm_minutes": str(cluster.commit_confirm_minutes),
    }  # fmt: skip
    return {**data, **changes}


def rr_data(rr: RouteReflector, **changes) -> dict:
    return {"name": rr.name, "description": rr.description, **changes}


def node_data(node: Node, **changes) -> dict:
    data = {
        "name": node.name, "description": node.description, "vcpus": str(node.vcpus),
        "memory_mb": str(node.memory_mb), "disk_gb": str(node.disk_gb),
        "hypervisor_options": "{}",
    }  # fmt: skip
    return {**data, **changes}


def bgw_data(bgw: BorderGateway, **changes) -> dict:
    data = {
        "name": bgw.name, "peering_ip": bgw.peering_ip, "peer_asn": str(bgw.peer_asn),
        "bgp_group": bgw.bgp_group, "policy_name": bgw.policy_name,
    }  # fmt: skip
    return {**data, **changes}


def errors_of(response, field: str) -> str:
    page = response.content.decode()
    marker = f'id="id_{field}-errors"'
    return html.unescape(page.split(marker, 1)[1].split("</ul>", 1)[0]) if marker in page else ""


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def confirmation(response) -> dict:
    """The confirmation form's hidden inputs, and the confirm button's value."""
    page = response.content.decode()
    form = page.split('id="edit-confirm-form"', 1)[1].split("</form>", 1)[0]
    return {**{k: html.unescape(v) for k, v in HIDDEN.findall(form)}, "confirm": "yes"}


def diffs(response) -> dict[str, str]:
    """Each shown diff by its device key ("route_reflector-3-bird"), unescaped."""
    page = response.content.decode()
    found = re.findall(r'<pre class="diff" data-device="([^"]+)">(.*?)</pre>', page, re.S)
    return {key: html.unescape(re.sub(r"<[^>]+>", "", body)) for key, body in found}


def lines(diff: str, sign: str) -> list[str]:
    return [
        line[1:].strip() for line in diff.splitlines() if line[:1] == sign and line[:3] != sign * 3
    ]


# --- who may edit --------------------------------------------------------------------------------


class EditPageTests(PageTests):
    readers = OPERATORS
    forbidden = ("auditor", "nobody")
    not_found = TENANT_ROLES
    writers = OPERATORS

    def post_url(self, world):
        return self.url(world)


class TestClusterEdit(EditPageTests):
    def url(self, world):
        return f"/clusters/{world.cluster.pk}/edit/"

    def post_data(self, world):
        return cluster_data(world.cluster, description="edited")


class TestRouteReflectorEdit(EditPageTests):
    def url(self, world):
        return f"/route-reflectors/{world.rr.pk}/edit/"

    def post_data(self, world):
        return rr_data(world.rr, description="edited")


class TestNodeEdit(EditPageTests):
    def url(self, world):
        return f"/nodes/{world.node.pk}/edit/"

    def post_data(self, world):
        return node_data(world.node, description="edited")


class TestBorderGatewayEdit(EditPageTests):
    def url(self, world):
        return f"/border-gateways/{world.bgw.pk}/edit/"

    def post_data(self, world):
        return bgw_data(world.bgw)


def test_tenants_get_404_even_for_a_device_that_does_not_exist(world):
    for who in TENANT_ROLES:
        assert world.client(who).get("/nodes/999999/edit/").status_code == 404
    assert world.client("operator").get("/nodes/999999/edit/").status_code == 404


def test_detail_pages_link_to_edit_for_admins_and_operators_only(world):
    pages = {
        f"/clusters/{world.cluster.pk}/": f'href="/clusters/{world.cluster.pk}/edit/"',
        f"/route-reflectors/{world.rr.pk}/": f'href="/route-reflectors/{world.rr.pk}/edit/"',
        f"/nodes/{world.node.pk}/": f'href="/nodes/{world.node.pk}/edit/"',
        f"/border-gateways/{world.bgw.pk}/": f'href="/border-gateways/{world.bgw.pk}/edit/"',
    }
    for who in ("admin", "operator", "auditor"):
        for url, link in pages.items():
            shown = link in world.client(who).get(url).content.decode()
            assert shown == (who != "auditor"), (who, url)


# --- cluster --------------------------------------------------------------------------------------


def test_cluster_change_shows_the_diff_then_confirm_saves_and_queues_provisioning(
    world, django_capture_on_commit_callbacks
):
    client = world.client("operator")
    url = f"/clusters/{world.cluster.pk}/edit/"
    form = client.get(url).content.decode()
    assert 'value="65000:100"' in form and 'id="edit-submit"' in form

    response = client.post(url, cluster_data(world.cluster, bgp_community="65000:200"))
    assert response.status_code == 200
    shown = diffs(response)
    rr_diff = shown[f"route_reflector-{world.rr.pk}-bird"]
    assert lines(rr_diff, "-") == ["bgp_community.add((65000,100));"]
    assert lines(rr_diff, "+") == ["bgp_community.add((65000,200));"]
    assert "--- route reflector rr1 (now)" in rr_diff
    assert set(shown) == {f"route_reflector-{world.rr.pk}-bird"}  # nodes, router: unchanged
    assert "Cluster provisioning" in page_text(response)
    # The preview changed nothing: not the record, not its change log, no job.
    assert Cluster.objects.get(pk=world.cluster.pk).bgp_community == "65000:100"
    assert not Job.objects.filter(kind="cluster_provision").exists()
    changes_before = ObjectChange.objects.count()

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(url, confirmation(response))
    job = Job.objects.get(kind="cluster_provision", target_id=world.cluster.pk)
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert len(queued) == 1 and job.created_by == world.users["operator"]
    cluster = Cluster.objects.get(pk=world.cluster.pk)
    assert cluster.bgp_community == "65000:200" and cluster.state == "provisioning"
    assert ObjectChange.objects.count() > changes_before  # saved through the service, logged
    followed = client.get(response["Location"]).content.decode()
    assert f"Cluster fra1 saved. Queued: Cluster provisioning #{job.pk}." in followed


def test_cluster_asn_change_diffs_every_device_and_asdot_is_accepted(world):
    response = world.client("admin").post(
        f"/clusters/{world.cluster.pk}/edit/", cluster_data(world.cluster, bgp_asn="1.10")
    )
    assert response.status_code == 200
    shown = diffs(response)
    assert set(shown) == {
        f"route_reflector-{world.rr.pk}-bird",
        f"node-{world.node.pk}-bird",
        f"border_gateway-{world.bgw.pk}-junos",
    }
    assert "local 10.1.0.1 as 65546;" in lines(shown[f"node-{world.node.pk}-bird"], "+")
    junos = shown[f"border_gateway-{world.bgw.pk}-junos"]
    assert "set protocols bgp group FABRIC-fra1 peer-as 65546" in lines(junos, "+")


def test_a_change_without_device_effect_is_saved_at_once(world):
    client = world.client("operator")
    response = client.post(
        f"/clusters/{world.cluster.pk}/edit/",
        cluster_data(world.cluster, description="Frankfurt", commit_confirm_minutes="7"),
    )
    assert response.status_code == 302 and response["Location"] == f"/clusters/{world.cluster.pk}/"
    cluster = Cluster.objects.get(pk=world.cluster.pk)
    assert (cluster.description, cluster.commit_confirm_minutes) == ("Frankfurt", 7)
    assert not Job.objects.exclude(pk__in=[world.node_job.pk, world.vm_job.pk]).exists()
    page = client.get(response["Location"]).content.decode()
    assert "Cluster fra1 saved: no device configuration changes." in page


def test_no_change_at_all_says_so(world):
    response = world.client("operator").post(
        f"/clusters/{world.cluster.pk}/edit/", cluster_data(world.cluster)
    )
    assert response.status_code == 200
    assert "Nothing changed: every value is the one already saved." in page_text(response)
    # A community written otherwise but equal once normalised is no change either.
    again = world.client("operator").post(
        f"/clusters/{world.cluster.pk}/edit/",
        cluster_data(world.cluster, bgp_community="65000:0100"),
    )
    assert "Nothing changed" in page_text(again)


def test_cluster_bad_values_are_field_errors_and_nothing_is_saved(world):
    client = world.client("operator")
    url = f"/clusters/{world.cluster.pk}/edit/"
    bad = {"bgp_asn": "abc", "gateway_ipv4": "127.0.0.1", "bgp_community": "65000",
           "commit_confirm_minutes": "61"}  # fmt: skip
    response = client.post(url, cluster_data(world.cluster, **bad))
    assert response.status_code == 400
    assert "AS number" in errors_of(response, "bgp_asn")
    assert "unicast" in errors_of(response, "gateway_ipv4")
    assert errors_of(response, "bgp_community")
    assert "less than or equal to 60" in errors_of(response, "commit_confirm_minutes")
    other = make_cluster(name="ams1")
    taken = client.post(url, cluster_data(world.cluster, name=other.name))
    assert "already exists" in errors_of(taken, "name")
    in_pool = client.post(url, cluster_data(world.cluster, gateway_ipv4="203.0.113.20"))
    assert "lies in IP pool" in errors_of(in_pool, "gateway_ipv4")
    cluster = Cluster.objects.get(pk=world.cluster.pk)
    assert (cluster.name, cluster.bgp_asn, cluster.gateway_ipv4) == ("fra1", 65000, "10.0.0.1")
    assert not Job.objects.filter(kind="cluster_provision").exists()


def test_gateway_change_warns_about_the_vms_and_queues_a_reconcile(world):
    client = world.client("operator")
    url = f"/clusters/{world.cluster.pk}/edit/"
    response = client.post(url, cluster_data(world.cluster, gateway_mac="02:00:0a:00:00:02"))
    assert response.status_code == 200  # no rendered config has the MAC, but every vnet does
    assert diffs(response) == {}
    assert "2 VM(s) of fra1 use the gateway" in page_text(response)
    response = client.post(url, confirmation(response))
    job = Job.objects.get(kind="reconcile")
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert Cluster.objects.get(pk=world.cluster.pk).gateway_mac == "02:00:0a:00:00:02"

    response = client.post(url, cluster_data(world.cluster, gateway_ipv4="10.0.0.254",
                                             gateway_mac="02:00:0a:00:00:02"))  # fmt: skip
    packet_filter = diffs(response)[f"node-{world.node.pk}-nft"]
    assert any("10.0.0.254" in line for line in lines(packet_filter, "+"))


def test_a_cluster_never_provisioned_is_saved_without_a_job(world):
    cluster = make_cluster(name="lon1")
    rr = make_rr(cluster=cluster, name="rr-lon", peering_ip="10.8.0.1")
    make_network(cluster=cluster, prefix="198.51.100.0/24")  # the community tags its routes
    client = world.client("operator")
    url = f"/clusters/{cluster.pk}/edit/"
    response = client.post(url, cluster_data(cluster, bgp_community="65000:7"))
    assert f"route_reflector-{rr.pk}-bird" in diffs(response)
    assert "has not been provisioned" in page_text(response)
    response = client.post(url, confirmation(response))
    assert response["Location"] == f"/clusters/{cluster.pk}/"
    assert Cluster.objects.get(pk=cluster.pk).bgp_community == "65000:7"
    assert not Job.objects.filter(kind="cluster_provision").exists()


def test_confirming_a_diff_that_changed_since_shows_the_new_one_and_saves_nothing(world):
    client = world.client("operator")
    url = f"/clusters/{world.cluster.pk}/edit/"
    shown = client.post(url, cluster_data(world.cluster, bgp_community="65000:200"))
    Cluster.objects.filter(pk=world.cluster.pk).update(bgp_community="65000:300")  # meanwhile
    response = client.post(url, confirmation(shown))
    assert response.status_code == 409
    assert "have changed since they were shown" in page_text(response)
    assert lines(diffs(response)[f"route_reflector-{world.rr.pk}-bird"], "-") == [
        "bgp_community.add((65000,300));"
    ]
    assert Cluster.objects.get(pk=world.cluster.pk).bgp_community == "65000:300"
    assert not Job.objects.filter(kind="cluster_provision").exists()
    response = client.post(url, confirmation(response))  # the new diff, confirmed
    assert response.status_code == 302
    assert Cluster.objects.get(pk=world.cluster.pk).bgp_community == "65000:200"


def test_a_refused_sync_saves_nothing(world):
    make_job(kind="route_reflector_remove", target=world.rr, state="queued")
    client = world.client("operator")
    url = f"/clusters/{world.cluster.pk}/edit/"
    shown = client.post(url, cluster_data(world.cluster, bgp_community="65000:200"))
    response = client.post(url, confirmation(shown))
    assert response.status_code == 400
    assert "Provisioning must wait" in page_text(response)
    assert Cluster.objects.get(pk=world.cluster.pk).bgp_community == "65000:100"
    assert not Job.objects.filter(kind="cluster_provision").exists()


# --- route reflector ------------------------------------------------------------------------------


def test_rr_rename_diffs_its_config_and_the_nodes_then_queues_provisioning(world):
    client = world.client("operator")
    url = f"/route-reflectors/{world.rr.pk}/edit/"
    page = client.get(url).content.decode()
    assert "10.2.0.1" in page.split('id="fixed-fields"', 1)[1].split("</dl>", 1)[0]
    assert 'name="peering_ip"' not in page and 'name="ssh_host"' not in page
    assert 'id="management-note"' in page  # operators: management access is the admins'

    response = client.post(url, rr_data(world.rr, name="rr1-fra"))
    shown = diffs(response)
    assert set(shown) == {f"route_reflector-{world.rr.pk}-bird", f"node-{world.node.pk}-bird"}
    assert 'description "Route reflector rr1-fra";' in lines(
        shown[f"node-{world.node.pk}-bird"], "+"
    )
    response = client.post(url, confirmation(response))
    job = Job.objects.get(kind="cluster_provision")
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert RouteReflector.objects.get(pk=world.rr.pk).name == "rr1-fra"


def test_rr_create_only_and_management_fields_are_refused_naming_them(world):
    client = world.client("operator")
    url = f"/route-reflectors/{world.rr.pk}/edit/"
    response = client.post(url, rr_data(world.rr, description="x", peering_ip="10.2.0.9"))
    assert response.status_code == 400
    assert (
        "peering IP: This field can&#x27;t be changed after creation." in response.content.decode()
    )
    response = client.post(url, rr_data(world.rr, ssh_host="192.0.2.9"))
    assert response.status_code == 400
    assert "SSH host: Only an administrator can change management access." in page_text(response)
    other = make_cluster(name="ams1")
    response = client.post(url, rr_data(world.rr, cluster=str(other.pk)))
    assert "cluster: This field can't be changed after creation." in page_text(response)
    same = client.post(url, rr_data(world.rr, description="y", peering_ip="10.2.0.1"))
    assert same.status_code == 302  # the current value sent back is accepted
    rr = RouteReflector.objects.get(pk=world.rr.pk)
    assert (rr.peering_ip, rr.ssh_host, rr.cluster_id, rr.description) == (
        "10.2.0.1", "", world.cluster.pk, "y")  # fmt: skip


def test_admin_changes_an_rr_management_address_and_password(world):
    client = world.client("admin")
    url = f"/route-reflectors/{world.rr.pk}/edit/"
    page = client.get(url).content.decode()
    assert 'name="ssh_host"' in page and 'id="management-note"' not in page
    assert world.rr.ssh_private_key not in page  # secrets are never rendered back
    response = client.post(url, rr_data(world.rr, ssh_host="192.0.2.50", ssh_port="22",
        ssh_username="root", ssh_password="n3w-secret", ssh_host_key=world.rr.ssh_host_key,
        bird_config_path="/etc/bird/bird.conf", bird_socket_path="/run/bird/bird.ctl"))  # fmt: skip
    # Every node's packet filter protects the device addresses: the new one among them.
    packet_filter = diffs(response)[f"node-{world.node.pk}-nft"]
    assert any("192.0.2.50" in line for line in lines(packet_filter, "+"))
    assert "n3w-secret" not in response.content.decode()  # sealed, not in clear
    assert "(set)" not in response.content.decode() and "(replaced)" in response.content.decode()
    response = client.post(url, confirmation(response))
    job = Job.objects.get(kind="reconcile")
    assert response["Location"] == f"/jobs/{job.pk}/"
    rr = RouteReflector.objects.get(pk=world.rr.pk)
    assert (rr.ssh_host, rr.ssh_password) == ("192.0.2.50", "n3w-secret")
    assert rr.ssh_private_key == world.rr.ssh_private_key  # left empty: kept


def test_back_from_the_confirmation_keeps_the_values_and_secrets(world):
    client = world.client("admin")
    url = f"/route-reflectors/{world.rr.pk}/edit/"
    response = client.post(url, rr_data(world.rr, name="rr9", ssh_port="22", ssh_username="root",
        ssh_password="typed-once", ssh_host_key=world.rr.ssh_host_key,
        bird_config_path="/etc/bird/bird.conf", bird_socket_path="/run/bird/bird.ctl"))  # fmt: skip
    back = client.post(url, {**confirmation(response), "back": "1", "confirm": ""})
    assert back.status_code == 200 and 'value="rr9"' in back.content.decode()
    assert "typed-once" not in back.content.decode()
    resubmitted = {**confirmation(response), "confirm": ""}
    again = client.post(url, {**resubmitted, **dict(HIDDEN.findall(back.content.decode()))})
    client.post(url, confirmation(again))
    assert RouteReflector.objects.get(pk=world.rr.pk).ssh_password == "typed-once"


# --- node -----------------------------------------------------------------------------------------


def test_node_capacity_change_is_saved_at_once(world):
    response = world.client("operator").post(
        f"/nodes/{world.node.pk}/edit/", node_data(world.node, vcpus="32", memory_mb="131072")
    )
    assert response.status_code == 302 and response["Location"] == f"/nodes/{world.node.pk}/"
    node = Node.objects.get(pk=world.node.pk)
    assert (node.vcpus, node.memory_mb) == (32, 131072)
    assert not Job.objects.filter(kind__in=["cluster_provision", "reconcile"]).exists()


def test_node_rename_diffs_the_rrs_and_its_own_config_then_queues_provisioning(
    world, django_capture_on_commit_callbacks
):
    client = world.client("operator")
    url = f"/nodes/{world.node.pk}/edit/"
    page = client.get(url).content.decode()
    fixed = page.split('id="fixed-fields"', 1)[1].split("</dl>", 1)[0]
    assert "10.1.0.1" in fixed and "libvirt" in fixed
    response = client.post(url, node_data(world.node, name="hv1-fra"))
    shown = diffs(response)
    assert 'description "Node hv1-fra";' in lines(shown[f"route_reflector-{world.rr.pk}-bird"], "+")
    assert f"node-{world.node.pk}-bird" in shown
    assert f"node-{world.node.pk}-nft" in shown  # its packet filter names it: reconcile
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(url, confirmation(response))
    provision, reconcile = (
        Job.objects.get(kind="cluster_provision"),
        Job.objects.get(kind="reconcile"),
    )
    assert response["Location"] == f"/jobs/{provision.pk}/" and len(queued) == 2
    assert provision.target_id == world.cluster.pk and reconcile.target_id is None
    assert Node.objects.get(pk=world.node.pk).name == "hv1-fra"


def test_node_bad_values_are_field_errors(world):
    client = world.client("operator")
    url = f"/nodes/{world.node.pk}/edit/"
    bad = {"vcpus": "0", "memory_mb": "999999999999", "hypervisor_options": '{"state_dir": "/x"}'}
    response = client.post(url, node_data(world.node, **bad))
    assert response.status_code == 400
    assert "greater than or equal to 1" in errors_of(response, "vcpus")
    assert errors_of(response, "memory_mb")
    assert "can't change while it has VMs" in errors_of(response, "hypervisor_options")
    make_node(cluster=world.cluster, name="hv2", underlay_ip="10.1.0.2")
    taken = client.post(url, node_data(world.node, name="hv2"))
    assert "already has a node named hv2" in errors_of(taken, "name")
    moved = client.post(url, node_data(world.node, underlay_ip="10.1.0.7", hypervisor="lxd"))
    text = page_text(moved)
    assert "underlay IP: This field can't be changed after creation." in text
    assert "hypervisor: This field can't be changed after creation." in text
    node = Node.objects.get(pk=world.node.pk)
    assert (node.vcpus, node.name, node.underlay_ip, node.hypervisor_options) == (
        16, "hv1", "10.1.0.1", {})  # fmt: skip


# --- border gateway -------------------------------------------------------------------------------


def test_bgw_group_rename_changes_only_the_router_and_queues_its_sync(world):
    client = world.client("operator")
    url = f"/border-gateways/{world.bgw.pk}/edit/"
    response = client.post(url, bgw_data(world.bgw, bgp_group="VM-FRA"))
    shown = diffs(response)
    assert set(shown) == {f"border_gateway-{world.bgw.pk}-junos"}
    added = lines(shown[f"border_gateway-{world.bgw.pk}-junos"], "+")
    assert "set protocols bgp group VM-FRA neighbor 10.2.0.1" in added
    assert "The router keeps the group and policies of the old names" in page_text(response)
    response = client.post(url, confirmation(response))
    job = Job.objects.get(kind="border_gateway_sync")
    assert response["Location"] == f"/jobs/{job.pk}/" and job.target_id == world.bgw.pk
    assert BorderGateway.objects.get(pk=world.bgw.pk).bgp_group == "VM-FRA"


def test_bgw_peer_as_change_reaches_the_rrs_and_an_empty_one_is_the_clusters(world):
    client = world.client("operator")
    url = f"/border-gateways/{world.bgw.pk}/edit/"
    response = client.post(url, bgw_data(world.bgw, peer_asn="64999"))
    shown = diffs(response)
    assert "neighbor 10.3.0.1 as 64999;" in lines(shown[f"route_reflector-{world.rr.pk}-bird"], "+")
    assert "set protocols bgp group FABRIC-fra1 type external" in lines(
        shown[f"border_gateway-{world.bgw.pk}-junos"], "+"
    )
    client.post(url, confirmation(response))
    assert Job.objects.filter(kind="cluster_provision").count() == 1
    assert BorderGateway.objects.get(pk=world.bgw.pk).peer_asn == 64999
    Cluster.objects.filter(pk=world.cluster.pk).update(state="ready")
    response = client.post(url, bgw_data(world.bgw, peer_asn=""))
    assert "type internal" in " ".join(
        lines(diffs(response)[f"border_gateway-{world.bgw.pk}-junos"], "+")
    )


def test_bgw_bad_values_are_field_errors(world):
    client = world.client("operator")
    url = f"/border-gateways/{world.bgw.pk}/edit/"
    response = client.post(url, bgw_data(world.bgw, peering_ip="10.2.0.1", peer_asn="-1",
                                         bgp_group="bad name"))  # fmt: skip
    assert response.status_code == 400
    assert "route reflector's address" in errors_of(response, "peering_ip")
    assert errors_of(response, "peer_asn").count("<li>") == 1
    assert errors_of(response, "bgp_group")
    other = make_cluster(name="ams1")
    response = client.post(url, bgw_data(world.bgw, cluster=str(other.pk)))
    assert "cluster: This field can't be changed after creation." in page_text(response)
    bgw = BorderGateway.objects.get(pk=world.bgw.pk)
    assert (bgw.peering_ip, bgw.peer_asn, bgw.cluster_id) == ("10.3.0.1", 65000, world.cluster.pk)
