"""The node packet filter that isolates guests: one nftables table of the product per node.

Two tables named `fabric_portal` (family `inet` for IPv4/IPv6, family `arp` for ARP,
which an `inet` table cannot see), rendered from plain data by `render_node_firewall`
(templates/nft/node.nft.j2), checked by the real `nft -c` and loaded atomically (the file
replaces both tables in one transaction). Per guest, only set elements change: `{vnet .
address}` in `guest4` / `guest6` (both tables), added by `network_attach` and removed by
`network_detach` (`attach_lines` / `detach_lines`, shell lines that go into the driver's
one remote script), so adding a VM costs the same on a node with 1,000 VMs as on an
empty one. An interface named like a vnet without elements carries nothing.

What a guest can do: send from its own /32 and /128 only (link-local and :: for neighbour
discovery); ARP only as its own address; reach the node only for ARP/ND and ICMP echo to
its gateway; never reach the protected prefixes (underlay, management, route reflectors,
border gateway); never speak BGP (tcp/179); receive only what is addressed to it.
Everything else, guest to guest by public address included, is routed as before.
"""

import ipaddress
import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from workers.errors import DeviceError, RemoteCommandFailed
from workers.local_check import tool_rejects
from workers.render import render_template
from workers.ssh import SSHSession

TABLE = "fabric_portal"
# Every driver names a guest's node-side interface vnet<VM id> (apps/compute/services.py
# vm_place); libvirt's own tap names (vnetN) match too, so a stray one is denied as well.
VNET_PATTERN = "vnet*"
GUEST_SETS = {("inet", "guest4"), ("inet", "guest6"), ("arp", "guest4")}
MISSING_EXIT = 70  # exit status of attach_lines when the node has no table yet
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")


class FirewallError(DeviceError):
    """Base class for the node packet filter."""


class FirewallRulesetInvalid(FirewallError):
    """`nft -c` rejected a rendered ruleset; it was not applied."""


class FirewallMissing(FirewallError):
    """The node has no packet-filter table: a guest network can't be attached yet."""


@dataclass(frozen=True)
class GuestAddresses:
    """A guest as the filter sees it: its vnet and its own addresses."""

    vnet: str
    ipv4: str
    ipv6: str = ""

    def __post_init__(self):
        if not _IFNAME.match(self.vnet):
            raise ValueError(f"not an interface name: {self.vnet!r}")
        object.__setattr__(self, "ipv4", str(ipaddress.IPv4Address(self.ipv4)))
        if self.ipv6:
            object.__setattr__(self, "ipv6", str(ipaddress.IPv6Address(self.ipv6)))


@dataclass(frozen=True)
class NodeFirewallConfig:
    """Everything a node's filter depends on (built by apps/fabric/selectors.py)."""

    node: str
    gateway_ipv4: str
    gateway_ipv6: str
    protected_v4: tuple[str, ...]
    protected_v6: tuple[str, ...]
    guests: tuple[GuestAddresses, ...] = ()
    table: str = TABLE
    vnet_pattern: str = VNET_PATTERN

    @property
    def guests_v4(self) -> list[str]:
        return [f'"{g.vnet}" . {g.ipv4}' for g in self.guests]

    @property
    def guests_v6(self) -> list[str]:
        return [f'"{g.vnet}" . {g.ipv6}' for g in self.guests if g.ipv6]


def protected_prefixes(
    prefixes: Iterable[str], *, public: Iterable[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The prefixes guests may not reach, (IPv4, IPv6), merged and without the public ones.

    The public networks (guests' addresses) are cut out, so that a protected prefix that
    covers them (a node's uplink in the same range) never blocks guest-to-guest traffic.
    Loopback and link-local prefixes are left out: they are never routed.

    Raises:
        ValueError: a value that is not a prefix or an address.
    """
    public_nets = [ipaddress.ip_network(p, strict=False) for p in public]
    result: dict[int, list] = {4: [], 6: []}
    for text in prefixes:
        net = ipaddress.ip_network(text, strict=False)
        if net.is_loopback or net.is_link_local:
            continue
        pieces = [net]
        for pub in public_nets:
            if pub.version != net.version:
                continue
            kept = []
            for piece in pieces:
                if piece.subnet_of(pub):
                    continue
                kept.extend(piece.address_exclude(pub) if pub.subnet_of(piece) else [piece])
            pieces = kept
        result[net.version].extend(pieces)
    return tuple(
        tuple(_nft_prefix(n) for n in ipaddress.collapse_addresses(result[v])) for v in (4, 6)
    )


def _nft_prefix(net) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def render_node_firewall(config: NodeFirewallConfig) -> str:
    """The node's two tables as one `nft -f` file that replaces them atomically."""
    for address in (config.gateway_ipv4, *config.protected_v4):
        ipaddress.ip_network(address)  # validated again: it reaches a root shell
    for address in ((config.gateway_ipv6,) if config.gateway_ipv6 else ()) + config.protected_v6:
        ipaddress.ip_network(address)
    return render_template("nft/node.nft.j2", config)


# --- per guest: set elements -----------------------------------------------------------------


def element_commands(guest: GuestAddresses, *, table: str = TABLE) -> list[str]:
    """The nft `add element` commands of one guest (both tables)."""
    v4 = f'{{ "{guest.vnet}" . {guest.ipv4} }}'
    commands = [
        f"add element inet {table} guest4 {v4}",
        f"add element arp {table} guest4 {v4}",
    ]
    if guest.ipv6:
        commands.append(f'add element inet {table} guest6 {{ "{guest.vnet}" . {guest.ipv6} }}')
    return commands


def _nft(commands: list[str]) -> str:
    return "nft " + shlex.quote("; ".join(commands))


def attach_lines(guest: GuestAddresses, *, table: str = TABLE) -> list[str]:
    """Shell lines adding the guest's elements (idempotent: adding one twice is a no-op).

    They fail with MISSING_EXIT when the node has no table: without it the guest's
    interface would carry anything.
    """
    return [
        f"nft list table inet {table} >/dev/null 2>&1 || "
        f"{{ echo 'no packet filter table inet {table} on this node' >&2; exit {MISSING_EXIT}; }}",
        _nft(element_commands(guest, table=table)),
    ]


def detach_lines(guest: GuestAddresses, *, table: str = TABLE) -> list[str]:
    """Shell lines removing the guest's elements; a no-op when they (or the table) are gone.

    Each element is added then deleted in one transaction: `delete` alone fails on a
    missing element, and nft 1.0.6 has no `destroy`.
    """
    adds = element_commands(guest, table=table)
    deletes = [c.replace("add element", "delete element", 1) for c in adds]
    return [f"if nft list table inet {table} >/dev/null 2>&1; then {_nft(adds + deletes)}; fi"]


# --- validation and loading ------------------------------------------------------------------


def check_ruleset(text: str, *, nft: str = "nft", timeout: float = 30) -> None:
    """Check `text` with the real `nft -c -f` on this machine (needs CAP_NET_ADMIN).

    Raises:
        FirewallRulesetInvalid: with nft's own message.
    """
    if message := tool_rejects([nft, "-c", "-f"], text, name="ruleset", timeout=timeout):
        raise FirewallRulesetInvalid(message)


APPLY_SCRIPT = """\
f=$(mktemp /tmp/fabric-nft.XXXXXX)
trap 'rm -f "$f"' EXIT
cat >"$f"
if ! out=$(nft -c -f "$f" 2>&1); then echo "$out" >&2; exit 65; fi
nft -f "$f"
"""


def apply_ruleset(session: SSHSession, text: str) -> None:
    """Check the ruleset with the node's own `nft -c`, then load it (one round trip).

    Raises:
        FirewallRulesetInvalid: the node's nft rejected it; nothing was changed.
        RemoteCommandFailed: loading failed otherwise.
    """
    result = session.run(f"sh -ec {shlex.quote(APPLY_SCRIPT)}", stdin=text, check=False)
    if result.exit_status == 65:
        raise FirewallRulesetInvalid(result.stderr.strip()[-800:])
    if not result.ok:
        raise RemoteCommandFailed("nft -f", result.exit_status, result.stderr + result.stdout)


# --- reading the node's table and comparing it -----------------------------------------------

# Prints the desired ruleset as this node's nft lists it (loaded in a throwaway network
# namespace), then the node's actual tables, in nft's JSON: both sides in the same form.
READ_SCRIPT = """\
f=$(mktemp /tmp/fabric-nft.XXXXXX)
trap 'rm -f "$f"' EXIT
cat >"$f"
echo @@desired
unshare -n sh -c 'nft -f "$1" && nft -j list table inet {t}; nft -j list table arp {t}' sh "$f"
echo @@actual
nft -j list table inet {t} 2>/dev/null || echo '{{"missing": "inet"}}'
echo @@arp
nft -j list table arp {t} 2>/dev/null || echo '{{"missing": "arp"}}'
"""


@dataclass
class FirewallDrift:
    """What differs between the node's tables and the desired ones."""

    missing_tables: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # chains, rules, sets (not elements)
    # (family, set, vnet, address) of the guest sets
    missing_elements: list[tuple[str, str, str, str]] = field(default_factory=list)
    extra_elements: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def needs_reload(self) -> bool:
        return bool(self.missing_tables or self.changed)

    def __bool__(self) -> bool:
        return bool(self.needs_reload or self.missing_elements or self.extra_elements)

    def describe(self) -> list[str]:
        lines = [f"table {family} {TABLE} was missing: created" for family in self.missing_tables]
        if self.changed:
            lines.append(
                "packet filter differed from the desired one ("
                + "; ".join(self.changed[:5])
                + (f"; {len(self.changed) - 5} more" if len(self.changed) > 5 else "")
                + "): reloaded"
            )
        for family, name, vnet, address in self.missing_elements:
            lines.append(f"filter element {vnet} . {address} restored in {family} {name}")
        for family, name, vnet, address in self.extra_elements:
            lines.append(f"filter element {vnet} . {address} removed from {family} {name}")
        return lines


def read_and_compare(session: SSHSession, desired_text: str) -> FirewallDrift:
    """One round trip: the node's tables against the desired ruleset `desired_text`."""
    script = READ_SCRIPT.format(t=TABLE)
    out = session.run(f"sh -ec {shlex.quote(script)}", stdin=desired_text).stdout
    _, rest = out.split("@@desired\n", 1)
    desired_out, rest = rest.split("@@actual\n", 1)
    inet_out, arp_out = rest.split("@@arp\n", 1)
    desired = _objects(desired_out)
    actual = _objects(inet_out) + _objects(arp_out)
    return compare(desired, actual)


def _objects(text: str) -> list[dict]:
    objects = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        data = json.loads(line)
        if "missing" in data:
            objects.append(data)
            continue
        objects += [o for o in data.get("nftables", []) if "metainfo" not in o]
    return objects


def _strip(value):
    """Drop what varies between two loads of the same ruleset: handles, counter values."""
    if isinstance(value, dict):
        if "counter" in value and isinstance(value["counter"], dict):
            return {"counter": None}
        return {k: _strip(v) for k, v in value.items() if k != "handle"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _describe(obj: dict) -> str:
    kind, body = next(iter(obj.items()))
    name = body.get("name") or body.get("chain", "")
    where = f"{body.get('family', '')} {name}".strip()
    if kind == "rule":
        comment = body.get("comment")
        return f"rule in {where}" + (f" ({comment})" if comment else "")
    return f"{kind} {where}"


def _elements(objects: list[dict]) -> set[tuple[str, str, str, str]]:
    """(family, set, vnet, address) of the guest sets."""
    found = set()
    for obj in objects:
        body = obj.get("set")
        if not body or (body["family"], body["name"]) not in GUEST_SETS:
            continue
        for elem in body.get("elem", []):
            vnet, address = elem["concat"]
            found.add((body["family"], body["name"], vnet, str(ipaddress.ip_address(address))))
    return found


def _structure(objects: list[dict]) -> list:
    result = []
    for obj in objects:
        if "missing" in obj:
            continue
        body = obj.get("set")
        if body and (body["family"], body["name"]) in GUEST_SETS:
            obj = {"set": {k: v for k, v in body.items() if k != "elem"}}
        result.append(_strip(obj))
    return result


def compare(desired: list[dict], actual: list[dict]) -> FirewallDrift:
    """The drift between nft JSON objects of the desired and the actual tables."""
    drift = FirewallDrift()
    drift.missing_tables = [o["missing"] for o in actual if "missing" in o]
    want, have = _structure(desired), _structure(actual)
    if want != have and not drift.missing_tables:
        have_keys = [json.dumps(o, sort_keys=True) for o in have]
        want_keys = [json.dumps(o, sort_keys=True) for o in want]
        drift.changed = [
            f"{_describe(o)} missing or changed"
            for o, key in zip(want, want_keys, strict=True)
            if key not in have_keys
        ] + [
            f"{_describe(o)} not ours"
            for o, key in zip(have, have_keys, strict=True)
            if key not in want_keys
        ] or ["rule order"]
    if drift.needs_reload:
        return drift
    wanted, present = _elements(desired), _elements(actual)
    drift.missing_elements = sorted(wanted - present)
    drift.extra_elements = sorted(present - wanted)
    return drift


def _element_command(verb: str, element: tuple[str, str, str, str]) -> str:
    family, name, vnet, address = element
    return f'{verb} element {family} {TABLE} {name} {{ "{vnet}" . {address} }}'


def repair(session: SSHSession, drift: FirewallDrift, desired_text: str) -> None:
    """Reload the tables (structure drift) or add/remove the drifted elements."""
    if drift.needs_reload:
        apply_ruleset(session, desired_text)
        return
    commands = [_element_command("delete", e) for e in drift.extra_elements]
    commands += [_element_command("add", e) for e in drift.missing_elements]
    if commands:
        session.run(_nft(commands))
