"""Device configs rendered from plain data: the node's and RR's bird.conf, Junos set lines.

One Jinja2 environment (StrictUndefined, no autoescape, an explicit filter table).
The contexts are frozen dataclasses built by apps/fabric/selectors.py; templates never
query anything. Every value reaching a template was validated by apps/core/validators.py.
"""

from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from workers.fabric_rules import MARTIANS_V4, MARTIANS_V6, MIN_PREFIXLEN

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class BgpPeer:
    """One BGP neighbor: `protocol` is the BIRD protocol name, `description` is for humans."""

    protocol: str
    description: str
    address: str


@dataclass(frozen=True)
class VmRoute:
    """A VM's public address and the node interface (vnet) it is routed to."""

    prefix: str
    interface: str


@dataclass(frozen=True)
class Community:
    """A standard (A, B) or large (A, B, C) BGP community."""

    parts: tuple[int, ...]

    @property
    def is_large(self) -> bool:
        return len(self.parts) == 3

    @property
    def bird(self) -> str:
        return "(" + ",".join(str(p) for p in self.parts) + ")"


@dataclass(frozen=True)
class NodeBirdConfig:
    """Everything a node's bird.conf depends on."""

    cluster: str
    node: str
    router_id: str
    asn: int
    route_reflectors: tuple[BgpPeer, ...]
    networks_v4: tuple[str, ...]
    networks_v6: tuple[str, ...]
    routes_v4: tuple[VmRoute, ...] = ()
    routes_v6: tuple[VmRoute, ...] = ()


@dataclass(frozen=True)
class RouteReflectorBirdConfig:
    """Everything a route reflector's bird.conf depends on."""

    cluster: str
    name: str
    router_id: str
    asn: int
    community: Community
    border_gateway: BgpPeer | None
    border_gateway_asn: int
    nodes: tuple[BgpPeer, ...]
    networks_v4: tuple[str, ...]
    networks_v6: tuple[str, ...]
    martians_v4: tuple[str, ...] = field(default_factory=lambda: martian_set(4))
    martians_v6: tuple[str, ...] = field(default_factory=lambda: martian_set(6))


@dataclass(frozen=True)
class BorderGatewayConfig:
    """Everything the border gateway's Junos set commands depend on."""

    cluster: str
    asn: int
    peer_asn: int
    group: str
    policy: str
    reject_policy: str
    neighbors: tuple[str, ...]
    networks_v4: tuple[str, ...]
    networks_v6: tuple[str, ...]


def martian_set(version: int) -> tuple[str, ...]:
    """The martian prefixes as BIRD prefix-set entries (each prefix and all longer)."""
    martians = MARTIANS_V4 if version == 4 else MARTIANS_V6
    default = "0.0.0.0/0" if version == 4 else "::/0"
    shortest = MIN_PREFIXLEN[version] - 1
    return (*(f"{prefix}+" for prefix, _ in martians), f"{default}{{0,{shortest}}}")


def _orlonger(prefixes: tuple[str, ...]) -> str:
    return ", ".join(f"{p}+" for p in prefixes)


def _host_routes(prefixes: tuple[str, ...], version: int) -> str:
    host = 32 if version == 4 else 128
    return ", ".join(f"{p}{{{host},{host}}}" for p in prefixes)


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 - device configs, not HTML
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.clear()
_environment.filters.update(
    {
        "orlonger": _orlonger,
        "host_routes": _host_routes,
        "join": lambda values, sep=", ": sep.join(values),
        "upper": str.upper,
    }
)


def render_node_bird(config: NodeBirdConfig) -> str:
    return _environment.get_template("bird/node.conf.j2").render(c=config)


def render_route_reflector_bird(config: RouteReflectorBirdConfig) -> str:
    return _environment.get_template("bird/route_reflector.conf.j2").render(c=config)


def render_border_gateway_junos(config: BorderGatewayConfig) -> list[str]:
    text = _environment.get_template("junos/border_gateway.set.j2").render(c=config)
    return [line for line in text.splitlines() if line.strip()]


def render_template(name: str, config) -> str:
    """Render the device template `name` (under templates/) with `config` as `c`."""
    return _environment.get_template(name).render(c=config)
