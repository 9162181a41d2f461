"""Pure logic of the Junos simulator: set-line parsing, edits, diffs and BGP group output.

A configuration is a list of `set ...` lines (the `| display set` form), in the order the
statements were first set. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Leaves that hold one value: setting them again replaces the old value.
SINGLE_VALUE_LEAVES = frozenset(
    {
        "autonomous-system",
        "cluster",
        "description",
        "hold-time",
        "host-name",
        "local-address",
        "local-as",
        "local-preference",
        "peer-as",
        "router-id",
        "type",
    }
)


class JunosSyntaxError(ValueError):
    """A command line the Junos parser would reject; `column` points at the offending char."""

    def __init__(self, column: int) -> None:
        super().__init__("syntax error.")
        self.column = column


@dataclass(frozen=True)
class PeerState:
    """What the Border Gateway knows about one BGP neighbor."""

    established: bool
    received: int = 0
    accepted: int = 0
    active: int = 0


@dataclass(frozen=True)
class BgpGroup:
    """A `protocols bgp group` as configured."""

    name: str
    peer_as: str | None = None
    local_as: str | None = None
    group_type: str | None = None
    neighbors: list[str] = field(default_factory=list)
    export: list[str] = field(default_factory=list)


def tokenize(line: str) -> list[str]:
    """Split a command line into words; a double-quoted string is one word (quotes kept).

    Raises:
        JunosSyntaxError: on `;`, control characters or an unbalanced double quote.
    """
    for column, char in enumerate(line):
        if char == ";" or ord(char) < 32 or ord(char) == 127:
            raise JunosSyntaxError(column)
    tokens: list[str] = []
    current = ""
    quote_at: int | None = None
    for column, char in enumerate(line):
        if char == '"':
            quote_at = column if quote_at is None else None
            current += char
        elif char.isspace() and quote_at is None:
            if current:
                tokens.append(current)
            current = ""
        else:
            current += char
    if quote_at is not None:
        raise JunosSyntaxError(quote_at)
    if current:
        tokens.append(current)
    return [_canonical_word(token) for token in tokens]


def _canonical_word(token: str) -> str:
    """Drop quotes that Junos would not display (`"foo"` -> `foo`, `"a b"` stays)."""
    if len(token) >= 2 and token[0] == token[-1] == '"':
        inner = token[1:-1]
        if inner and '"' not in inner and not any(c.isspace() for c in inner):
            return inner
    return token


def _path(line: str) -> list[str]:
    """The words of a stored `set` line after `set`."""
    return tokenize(line)[1:]


def apply_set(config: list[str], path: list[str]) -> list[str]:
    """Return `config` with `set PATH` applied (a single-value leaf replaces its old value)."""
    line = "set " + " ".join(path)
    if line in config:
        return list(config)
    result = list(config)
    if len(path) >= 2 and path[-2] in SINGLE_VALUE_LEAVES:
        leaf = path[:-1]
        result = [old for old in result if _path(old)[: len(leaf)] != leaf]
    result.append(line)
    return result


def apply_delete(config: list[str], path: list[str]) -> tuple[list[str], int]:
    """Return `config` without every line under `PATH`, and how many lines went."""
    kept = [line for line in config if _path(line)[: len(path)] != path]
    return kept, len(config) - len(kept)


def filter_config(config: list[str], path: list[str]) -> list[str]:
    """The lines of `config` under `PATH` (all of them for an empty path)."""
    return [line for line in config if _path(line)[: len(path)] == path]


def compare(old: list[str], new: list[str]) -> str:
    """Render `show | compare`: per top-level hierarchy an `[edit X]` header, then
    `- set ...` for lines only in `old` and `+ set ...` for lines only in `new`."""
    new_lines, old_lines = set(new), set(old)
    removed = [line for line in old if line not in new_lines]
    added = [line for line in new if line not in old_lines]
    sections: dict[str, list[str]] = {}
    for sign, lines in (("-", removed), ("+", added)):
        for line in lines:
            sections.setdefault(_path(line)[0], []).append(f"{sign} {line}")
    out: list[str] = []
    for top, lines in sections.items():
        out.append(f"[edit {top}]")
        out.extend(lines)
    return "\n".join(out)


def bgp_group(config: list[str], name: str) -> BgpGroup | None:
    """The BGP group `name` of `config`, or None when no line configures it."""
    prefix = ["protocols", "bgp", "group", name]
    values: dict[str, list[str]] = {}
    found = False
    for line in config:
        path = _path(line)
        if path[: len(prefix)] != prefix:
            continue
        found = True
        rest = path[len(prefix) :]
        if len(rest) >= 2:
            words = [w for w in rest[1:] if w not in ("[", "]")]
            values.setdefault(rest[0], []).extend(words if rest[0] != "neighbor" else words[:1])
    if not found:
        return None
    system_as = next(
        (p[2] for p in map(_path, config) if p[:2] == ["routing-options", "autonomous-system"]),
        None,
    )
    peer_as = values.get("peer-as", [None])[-1]
    return BgpGroup(
        name=name,
        peer_as=peer_as,
        local_as=values.get("local-as", [system_as or peer_as])[-1],
        group_type=values.get("type", [None])[-1],
        neighbors=list(dict.fromkeys(values.get("neighbor", []))),
        export=values.get("export", []),
    )


def render_bgp_group_detail(group: BgpGroup | None, states: Mapping[str, PeerState]) -> str:
    """Render `show bgp group NAME detail` the way Junos prints it.

    Peers missing from `states` are down. Tables are printed only for address families with
    an established peer, as Junos does.
    """
    if group is None:
        return "Groups: 0 Peers: 0    External: 0    Internal: 0    Down peers: 0   Flaps: 0"
    local_as = group.local_as or "0"
    internal = group.group_type == "internal" or (
        group.group_type is None and group.peer_as == local_as
    )
    kind = "Internal" if internal else "External"
    peer_as = f"AS: {group.peer_as:<23}" if group.peer_as else " " * 27
    down = PeerState(established=False)
    peers = [(ip, states.get(ip, down)) for ip in group.neighbors]
    up = [(ip, state) for ip, state in peers if state.established]
    lines = [
        f"Group Type: {kind:<12}{peer_as}Local AS: {local_as}",
        f"  Name: {group.name:<15} Index: {0:<19} Flags: <Export Eval>",
    ]
    if group.export:
        lines.append(f"  Export: [ {' '.join(group.export)} ]")
    lines += [
        "  Holdtime: 0",
        f"  Total peers: {len(peers):<8} Established: {len(up)}",
    ]
    lines += [f"  {ip}+179" if state.established else f"  {ip}" for ip, state in peers]
    for table in ("inet.0", "inet6.0"):
        family = [s for ip, s in up if (":" in ip) == (table == "inet6.0")]
        if family:
            lines += [
                f"  Table {table}",
                _counter("Active prefixes:", sum(s.active for s in family)),
                _counter("Received prefixes:", sum(s.received for s in family)),
                _counter("Accepted prefixes:", sum(s.accepted for s in family)),
                _counter("Suppressed due to damping:", 0),
                _counter("Advertised prefixes:", 0),
            ]
    lines += [
        "",
        f"Groups: 1 Peers: {len(peers)}    External: {0 if internal else len(peers)}"
        f"    Internal: {len(peers) if internal else 0}"
        f"    Down peers: {len(peers) - len(up)}   Flaps: 0",
    ]
    # As a real router does: a summary over all groups, repeating the prefix counters
    # (the simulator knows one group, so its totals are the group's).
    for table in ("inet.0", "inet6.0"):
        family = [s for ip, s in up if (":" in ip) == (table == "inet6.0")]
        if family:
            received = sum(s.received for s in family)
            active = sum(s.active for s in family)
            lines += [
                f"  Table {table}",
                _counter("Received prefixes:", received),
                _counter("Accepted prefixes:", sum(s.accepted for s in family)),
                _counter("Active prefixes:", active),
                _counter("Suppressed due to damping:", 0),
                _counter("Received external prefixes:", 0 if internal else received),
                _counter("Active external prefixes:", 0 if internal else active),
                _counter("Externals suppressed:", 0),
                _counter("Received internal prefixes:", received if internal else 0),
                _counter("Active internal prefixes:", active if internal else 0),
                _counter("Internals suppressed:", 0),
                "    RIB State: BGP restart is complete",
            ]
    return "\n".join(lines)


def _counter(label: str, value: int) -> str:
    return f"    {label:<30}{value}"


def parse_birdc_protocols(text: str) -> dict[str, PeerState]:
    """Map each BGP protocol of BIRD 2 `show protocols all` output to its neighbor's state.

    `received` counts imported plus filtered routes, `accepted` the imported ones, `active`
    the preferred ones (summed over channels). When two protocols share a neighbor address,
    the established one wins.
    """
    result: dict[str, PeerState] = {}
    for block in _protocol_blocks(text.splitlines()):
        header = block[0].split()
        if len(header) < 2 or header[1] != "BGP":
            continue
        fields = [line.strip() for line in block[1:]]
        neighbor = _field(fields, "Neighbor address:")
        if neighbor is None:
            continue
        neighbor = neighbor.split("%")[0]
        received = accepted = active = 0
        for line in fields:
            if line.startswith("Routes:"):
                counts = _route_counts(line)
                accepted += counts.get("imported", 0)
                received += counts.get("imported", 0) + counts.get("filtered", 0)
                active += counts.get("preferred", 0)
        state = PeerState(
            established=_field(fields, "BGP state:") == "Established",
            received=received,
            accepted=accepted,
            active=active,
        )
        if not result.get(neighbor, PeerState(established=False)).established:
            result[neighbor] = state
    return result


def _protocol_blocks(lines: Iterable[str]) -> list[list[str]]:
    """Split `show protocols all` output into one list of lines per protocol."""
    blocks: list[list[str]] = []
    for line in lines:
        if not line.strip() or line.startswith(("BIRD ", "Name ")):
            continue
        if not line[0].isspace():
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    return blocks


def _field(lines: list[str], label: str) -> str | None:
    for line in lines:
        if line.startswith(label):
            return line[len(label) :].strip() or None
    return None


def _route_counts(line: str) -> dict[str, int]:
    """`Routes: 2 imported, 1 filtered, 0 exported, 2 preferred` -> {"imported": 2, ...}."""
    counts: dict[str, int] = {}
    for part in line[len("Routes:") :].split(","):
        words = part.split()
        if len(words) == 2 and words[0].isdigit():
            counts[words[1]] = int(words[0])
    return counts
