"""The node packet filter's desired state, from the database: what guests may not reach
and which guests' elements the node holds."""

import pytest

from apps.fabric.selectors import node_firewall_config
from apps.ipam.services import ip_allocate
from tests.factories import (
    make_bgw,
    make_cluster,
    make_network,
    make_node,
    make_pool,
    make_rr,
    make_vm,
)
from workers import firewall

pytestmark = pytest.mark.django_db


def test_protected_holds_every_device_and_the_nodes_networks_but_no_public_address(settings):
    settings.FABRIC_PROTECTED_PREFIXES = ["172.16.0.0/12"]
    cluster = make_cluster()
    public = make_network(cluster=cluster, prefix="203.0.113.0/24")
    make_pool(network=public)
    connected = ["198.51.100.0/24", "203.0.112.0/23"]
    node = make_node(cluster=cluster, underlay_ip="198.51.100.11", ssh_host="192.0.2.50",
                     facts={"connected_prefixes": connected})  # fmt: skip
    make_rr(cluster=cluster, peering_ip="100.64.0.2")
    make_bgw(cluster=cluster, peering_ip="100.64.0.1", mgmt_host="192.0.2.99")
    make_node(cluster=make_cluster(), underlay_ip="100.70.0.5")  # another cluster's node

    config = node_firewall_config(node)

    assert config.protected_v4 == (
        "100.64.0.1", "100.64.0.2", "100.70.0.5", "172.16.0.0/12", "192.0.2.50", "192.0.2.99",
        "198.51.100.0/24", "203.0.112.0/24",
    )  # fmt: skip
    assert config.gateway_ipv4 == cluster.gateway_ipv4
    firewall.render_node_firewall(config)  # renders


def test_guests_are_the_vms_the_node_announces_with_both_addresses():
    cluster = make_cluster()
    make_pool(network=make_network(cluster=cluster, prefix="203.0.113.0/24"))
    make_pool(network=make_network(cluster=cluster, prefix="2001:db8:100::/64"))
    node = make_node(cluster=cluster)
    guests = []
    for state in ("running", "stopped", "deleted", "provisioning"):
        vm = make_vm(cluster=cluster, node=node, state=state)
        vm.vnet_name = f"vnet{vm.pk}"
        vm.save(update_fields=["vnet_name"])
        ip_allocate(cluster=cluster, vm=vm, family=4)
        ip_allocate(cluster=cluster, vm=vm, family=6)
        guests.append(vm)
    unplaced = make_vm(cluster=cluster, node=node, state="provisioning")  # no vnet yet
    ip_allocate(cluster=cluster, vm=unplaced, family=4)

    config = node_firewall_config(node)

    assert [g.vnet for g in config.guests] == [
        f"vnet{vm.pk}" for vm in guests if vm.state != "deleted"
    ]
    running = guests[0]
    addresses = {ip.family: ip.address for ip in running.ip_addresses.all()}
    assert config.guests[0] == firewall.GuestAddresses(
        f"vnet{running.pk}", addresses[4], addresses[6]
    )
