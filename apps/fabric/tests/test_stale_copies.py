"""A copy of a device read before a worker changed it never writes that change back: an edit
saves only its own fields, and a first-use host key is stored only while none is pinned."""

import pytest

from apps.compute.services import vm_update
from apps.fabric.connections import remember_first_host_key
from apps.fabric.models import BorderGateway, Node, RouteReflector
from apps.fabric.services import border_gateway_update, node_set_state, node_update
from tests.factories import make_bgw, make_cluster, make_node, make_rr, make_vm
from workers.errors import HostKeyMismatch

pytestmark = pytest.mark.django_db

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def test_an_edit_of_an_old_copy_keeps_the_state_a_worker_wrote_since():
    node = make_node(cluster=make_cluster(state="ready"), state="provisioning")
    copy = Node.objects.get(pk=node.pk)  # the edit page read it
    node_set_state(Node.objects.get(pk=node.pk), "ready")  # node_add finished meanwhile
    node_update(copy, name="hv-renamed")
    node.refresh_from_db()
    assert (node.name, node.state) == ("hv-renamed", "ready")


def test_a_description_patch_keeps_the_vm_state_and_placement():
    vm = make_vm(state="provisioning", node=None)
    node = make_node(cluster=vm.cluster, state="ready")
    copy = type(vm).objects.get(pk=vm.pk)
    type(vm).objects.filter(pk=vm.pk).update(state="running", node=node, vnet_name="vnet7")
    vm_update(copy, description="web")
    vm.refresh_from_db()
    assert (vm.description, vm.state, vm.vnet_name) == ("web", "running", "vnet7")


def test_derived_fields_are_saved_with_the_edit():
    bgw = make_bgw(cluster=make_cluster(name="ams1"))
    border_gateway_update(bgw, bgp_group="", policy_name="")
    bgw = BorderGateway.objects.get(pk=bgw.pk)
    assert (bgw.bgp_group, bgw.policy_name) == ("FABRIC-ams1", "FABRIC-ams1")


def test_a_first_use_key_never_replaces_one_pinned_meanwhile():
    rr = make_rr(cluster=make_cluster(), ssh_host_key="")
    copy = RouteReflector.objects.get(pk=rr.pk)  # the collection's pass read it unpinned
    RouteReflector.objects.filter(pk=rr.pk).update(ssh_host_key=KEY_A)  # an admin pinned one
    with pytest.raises(HostKeyMismatch):
        remember_first_host_key(copy, "ssh_host_key", KEY_B)
    assert RouteReflector.objects.get(pk=rr.pk).ssh_host_key == KEY_A
    fresh = make_rr(cluster=rr.cluster, name="rr2", peering_ip="10.2.0.9", ssh_host_key="")
    remember_first_host_key(fresh, "ssh_host_key", KEY_B)
    assert RouteReflector.objects.get(pk=fresh.pk).ssh_host_key == KEY_B
