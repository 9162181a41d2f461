"""Reads for the fabric: the plain data each device config is rendered from."""

import hashlib
import ipaddress

from django.conf import settings

from apps.core.validators import parse_community
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.ipam.models import IPAddress, Network
from workers.firewall import GuestAddresses, NodeFirewallConfig, protected_prefixes
from workers.render import (
    BgpPeer,
    BorderGatewayConfig,
    Community,
    NodeBirdConfig,
    RouteReflectorBirdConfig,
    VmRoute,
    render_border_gateway_junos,
    render_node_bird,
    render_route_reflector_bird,
)

# VMs whose routes a node announces; a deleting VM's route is withdrawn first (stopping
# and starting VMs keep theirs, as stopped ones do). Values of compute's
# VirtualMachine.State: fabric reads VMs through the database only (compute builds on
# fabric, not the other way round); tests/unit/test_layers.py checks they still match.
ANNOUNCED_VM_STATES = ("provisioning", "running", "stopping", "stopped", "starting")


SERVING_NODE_STATES = (Node.State.READY, Node.State.DRAINING)


def cluster_networks(cluster: Cluster) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The cluster's public prefixes: (IPv4, IPv6)."""
    networks = list(cluster.networks.order_by("prefix").values_list("family", "prefix"))
    return (
        tuple(prefix for family, prefix in networks if family == 4),
        tuple(prefix for family, prefix in networks if family == 6),
    )


# The RR's BIRD protocol with the border gateway (nodes' are rr_peer's and node_peer's).
BORDER_GATEWAY_PROTOCOL = "border_gateway"


def rr_peer(rr: RouteReflector) -> BgpPeer:
    return BgpPeer(
        protocol=f"rr_{rr.pk}", description=f"Route reflector {rr.name}", address=rr.peering_ip
    )


def node_peer(node: Node) -> BgpPeer:
    return BgpPeer(
        protocol=f"node_{node.pk}", description=f"Node {node.name}", address=node.underlay_ip
    )


def active_route_reflectors(cluster: Cluster):
    """The RRs nodes and the border gateway peer with: all but those being removed."""
    return cluster.route_reflectors.exclude(state=RouteReflector.State.REMOVING).order_by("pk")


def ready_route_reflectors(cluster: Cluster):
    return active_route_reflectors(cluster).filter(state=RouteReflector.State.READY)


def serving_nodes(cluster: Cluster):
    """Nodes that run VMs and peer with the RRs: ready, and draining (no new VMs only)."""
    return cluster.nodes.filter(state__in=SERVING_NODE_STATES).order_by("pk")


def nodes_in_route_reflectors(cluster: Cluster):
    """Nodes the RRs peer with: all but those not yet started and those being removed."""
    return cluster.nodes.exclude(state__in=[Node.State.NEW, Node.State.REMOVING]).order_by("pk")


def node_bird_config(node: Node) -> NodeBirdConfig:
    cluster = node.cluster
    networks_v4, networks_v6 = cluster_networks(cluster)
    addresses = (
        IPAddress.objects.filter(vm__node=node, vm__state__in=ANNOUNCED_VM_STATES)
        .exclude(vm__vnet_name="")
        .order_by("family", "key")
        .values_list("family", "address", "vm__vnet_name")
    )
    routes = {4: [], 6: []}
    for family, address, vnet in addresses:
        routes[family].append(
            VmRoute(prefix=f"{address}/{32 if family == 4 else 128}", interface=vnet)
        )
    return NodeBirdConfig(
        cluster=cluster.name,
        node=node.name,
        router_id=node.underlay_ip,
        asn=cluster.bgp_asn,
        route_reflectors=tuple(rr_peer(rr) for rr in active_route_reflectors(cluster)),
        networks_v4=networks_v4,
        networks_v6=networks_v6,
        routes_v4=tuple(routes[4]),
        routes_v6=tuple(routes[6]),
    )


def desired_node_bird(node: Node) -> str:
    """The bird.conf the node should have."""
    return render_node_bird(node_bird_config(node))


def route_reflector_bird_config(rr: RouteReflector) -> RouteReflectorBirdConfig:
    cluster = rr.cluster
    networks_v4, networks_v6 = cluster_networks(cluster)
    bgw = BorderGateway.objects.filter(cluster=cluster).first()
    return RouteReflectorBirdConfig(
        cluster=cluster.name,
        name=rr.name,
        router_id=rr.peering_ip,
        asn=cluster.bgp_asn,
        community=Community(parse_community(cluster.bgp_community)),
        border_gateway=(
            BgpPeer(BORDER_GATEWAY_PROTOCOL, f"Border gateway {bgw.name}", bgw.peering_ip)
            if bgw
            else None
        ),
        border_gateway_asn=bgw.peer_asn if bgw else cluster.bgp_asn,
        nodes=tuple(node_peer(node) for node in nodes_in_route_reflectors(cluster)),
        networks_v4=networks_v4,
        networks_v6=networks_v6,
    )


def desired_route_reflector_bird(rr: RouteReflector) -> str:
    """The bird.conf the route reflector should have."""
    return render_route_reflector_bird(route_reflector_bird_config(rr))


def border_gateway_config(bgw: BorderGateway) -> BorderGatewayConfig:
    cluster = bgw.cluster
    networks_v4, networks_v6 = cluster_networks(cluster)
    return BorderGatewayConfig(
        cluster=cluster.name,
        asn=cluster.bgp_asn,
        peer_asn=bgw.peer_asn,
        group=bgw.bgp_group,
        policy=bgw.policy_name,
        reject_policy=bgw.reject_policy_name,
        neighbors=tuple(active_route_reflectors(cluster).values_list("peering_ip", flat=True)),
        networks_v4=networks_v4,
        networks_v6=networks_v6,
    )


def desired_border_gateway_junos(bgw: BorderGateway) -> list[str]:
    """The Junos set lines of the cluster's group and policies on the border gateway."""
    return render_border_gateway_junos(border_gateway_config(bgw))


def junos_config_digest(lines: list[str]) -> str:
    """SHA-256 of a rendering's set lines: which configuration a dry run compared."""
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _literal_ips(values) -> list[str]:
    ips = []
    for value in values:
        try:
            ips.append(str(ipaddress.ip_address(value)))
        except ValueError:
            continue  # a host name (management host): not an address the filter can hold
    return ips


def infrastructure_addresses() -> list[str]:
    """Every address of the provider's devices the database knows: node underlay and
    management addresses, route reflectors, border gateways (peering and management)."""
    addresses = [
        *Node.objects.values_list("underlay_ip", flat=True),
        *RouteReflector.objects.values_list("peering_ip", flat=True),
        *BorderGateway.objects.values_list("peering_ip", flat=True),
    ]
    hosts = [
        *Node.objects.exclude(ssh_host="").values_list("ssh_host", flat=True),
        *RouteReflector.objects.exclude(ssh_host="").values_list("ssh_host", flat=True),
        *BorderGateway.objects.values_list("mgmt_host", flat=True),
    ]
    return addresses + _literal_ips(hosts)


def node_guests(node: Node) -> tuple[GuestAddresses, ...]:
    """The guests whose filter elements the node should hold: those it announces."""
    rows = (
        IPAddress.objects.filter(vm__node=node, vm__state__in=ANNOUNCED_VM_STATES)
        .exclude(vm__vnet_name="")
        .order_by("vm_id", "family")
        .values_list("vm__vnet_name", "family", "address")
    )
    guests: dict[str, dict[int, str]] = {}
    for vnet, family, address in rows:
        guests.setdefault(vnet, {})[family] = address
    return tuple(
        GuestAddresses(vnet=vnet, ipv4=a[4], ipv6=a.get(6, ""))
        for vnet, a in guests.items()
        if 4 in a
    )


def node_firewall_config(node: Node) -> NodeFirewallConfig:
    """The node's packet filter: its guests, and what none of them may reach.

    Protected: every device address in the database, the prefixes connected to the node
    (its underlay and management networks, found by `node_prepare`), and
    FABRIC_PROTECTED_PREFIXES; minus the public networks (guests talk to each other).
    """
    cluster = node.cluster
    connected = (node.facts or {}).get("connected_prefixes", [])
    public = Network.objects.values_list("prefix", flat=True)
    v4, v6 = protected_prefixes(
        [*infrastructure_addresses(), *connected, *settings.FABRIC_PROTECTED_PREFIXES],
        public=list(public),
    )
    return NodeFirewallConfig(
        node=node.name,
        gateway_ipv4=cluster.gateway_ipv4,
        gateway_ipv6=cluster.gateway_ipv6 or "",
        protected_v4=v4,
        protected_v6=v6,
        guests=node_guests(node),
    )
