"""What the cluster wizard will apply, rendered before anything is saved.

Pure functions: plain values in (the wizard's cleaned form data), the same dataclasses the
workers render from out. Once the cluster exists, `apps.fabric.selectors` builds equal
contexts from the database, so the review shows exactly what provisioning applies.
"""

from collections.abc import Iterable

import netaddr

from apps.core.validators import parse_community
from apps.fabric.models import default_router_object_name
from workers.render import (
    BgpPeer,
    BorderGatewayConfig,
    Community,
    RouteReflectorBirdConfig,
    render_border_gateway_junos,
    render_route_reflector_bird,
)


def split_networks(prefixes: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(IPv4, IPv6) prefixes in canonical form, each family sorted as the selectors do."""
    networks = [netaddr.IPNetwork(p) for p in prefixes if p]
    v4 = sorted(str(n.cidr) for n in networks if n.version == 4)
    v6 = sorted(str(n.cidr) for n in networks if n.version == 6)
    return tuple(v4), tuple(v6)


def border_gateway_preview(
    *,
    cluster: str,
    asn: int,
    peer_asn: int,
    group: str,
    policy: str,
    route_reflector_ips: Iterable[str],
    networks: Iterable[str],
) -> BorderGatewayConfig:
    networks_v4, networks_v6 = split_networks(networks)
    group = group or default_router_object_name(cluster)
    policy = policy or default_router_object_name(cluster)
    return BorderGatewayConfig(
        cluster=cluster,
        asn=asn,
        peer_asn=peer_asn,
        group=group,
        policy=policy,
        reject_policy=f"{policy}-REJECT",
        neighbors=tuple(route_reflector_ips),
        networks_v4=networks_v4,
        networks_v6=networks_v6,
    )


def route_reflector_preview(
    *,
    cluster: str,
    name: str,
    router_id: str,
    asn: int,
    community: str,
    border_gateway_name: str,
    border_gateway_ip: str,
    border_gateway_asn: int,
    networks: Iterable[str],
) -> RouteReflectorBirdConfig:
    """A new cluster's first RR: peers with the border gateway, no node yet."""
    networks_v4, networks_v6 = split_networks(networks)
    return RouteReflectorBirdConfig(
        cluster=cluster,
        name=name,
        router_id=router_id,
        asn=asn,
        community=Community(parse_community(community)),
        border_gateway=BgpPeer(
            "border_gateway", f"Border gateway {border_gateway_name}", border_gateway_ip
        ),
        border_gateway_asn=border_gateway_asn,
        nodes=(),
        networks_v4=networks_v4,
        networks_v6=networks_v6,
    )


def wizard_previews(data: dict) -> dict[str, str]:
    """The Junos set lines and the RR bird.conf for the wizard's cleaned data.

    `data` holds the cleaned data of the steps: "cluster", "border_gateway",
    "route_reflector" and "networks" (with "prefixes").
    """
    cluster, bgw = data["cluster"], data["border_gateway"]
    rr, networks = data["route_reflector"], data["networks"]["prefixes"]
    junos = border_gateway_preview(
        cluster=cluster["name"],
        asn=cluster["bgp_asn"],
        peer_asn=bgw["peer_asn"],
        group=bgw["bgp_group"],
        policy=bgw["policy_name"],
        route_reflector_ips=[rr["peering_ip"]],
        networks=networks,
    )
    bird = route_reflector_preview(
        cluster=cluster["name"],
        name=rr["name"],
        router_id=rr["peering_ip"],
        asn=cluster["bgp_asn"],
        community=cluster["bgp_community"],
        border_gateway_name=bgw["name"],
        border_gateway_ip=bgw["peering_ip"],
        border_gateway_asn=bgw["peer_asn"],
        networks=networks,
    )
    return {
        "junos": "\n".join(render_border_gateway_junos(junos)),
        "bird": render_route_reflector_bird(bird),
    }
