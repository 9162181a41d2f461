"""BIRD 2: validate configs with the real parser and read `birdc show protocols`."""

import re
from dataclasses import dataclass

from workers.errors import BirdConfigInvalid
from workers.local_check import tool_rejects

BIRD_BINARY = "bird"


def check_config(text: str, *, bird_binary: str = BIRD_BINARY, timeout: float = 30) -> None:
    """Parse `text` with `bird -p -c` on this machine.

    Raises:
        BirdConfigInvalid: with BIRD's own message (file:line:column and what is wrong).
    """
    if message := tool_rejects([bird_binary, "-p", "-c"], text, name="bird.conf", timeout=timeout):
        raise BirdConfigInvalid(message)


@dataclass(frozen=True)
class ProtocolStatus:
    """One line of `birdc show protocols`."""

    name: str
    proto: str
    state: str
    since: str
    info: str

    @property
    def established(self) -> bool:
        return self.proto == "BGP" and self.info.startswith("Established")


_SINCE = r"(?P<since>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+)"
_PROTOCOL_LINE = re.compile(
    r"^(?P<name>\S+)\s+(?P<proto>\S+)\s+(?P<table>\S+)\s+(?P<state>up|down|start|stop|flush)\s+"
    + _SINCE
    + r"\s*(?P<info>.*)$"
)


def parse_show_protocols(output: str) -> dict[str, ProtocolStatus]:
    """Parse `birdc show protocols` (BIRD 2, any `timeformat protocol`)."""
    protocols = {}
    for line in output.splitlines():
        match = _PROTOCOL_LINE.match(line.strip())
        if not match or match["name"] == "Name":
            continue
        protocols[match["name"]] = ProtocolStatus(
            name=match["name"],
            proto=match["proto"],
            state=match["state"],
            since=match["since"],
            info=match["info"].strip(),
        )
    return protocols


@dataclass(frozen=True)
class BgpSession:
    """One BGP protocol of `birdc show protocols all`: its BGP state, its neighbor and the
    routes on it (summed over its channels, IPv4 and IPv6)."""

    name: str
    state: str  # BIRD's "BGP state": Established, Active, Connect, OpenSent, Idle, Down...
    info: str  # the protocol line's info column, e.g. "Socket: Connection refused"
    since: str
    neighbor: str
    description: str
    routes_imported: int
    routes_exported: int

    @property
    def established(self) -> bool:
        return self.state == "Established"


_DETAIL = re.compile(r"^\s+(?P<key>[A-Za-z][A-Za-z0-9 ]*?):\s+(?P<value>.*?)\s*$")
_ROUTES = re.compile(r"^(?P<imported>\d+) imported, (?:(?P<filtered>\d+) filtered, )?"
                     r"(?P<exported>\d+) exported")  # fmt: skip


def parse_bgp_sessions(output: str) -> dict[str, BgpSession]:
    """The BGP protocols of `birdc show protocols all` (BIRD 2), by protocol name.

    A protocol's block is its status line and the indented lines under it; the routes
    are the sums of its channels' `Routes: N imported, M exported` lines.
    """
    sessions: dict[str, BgpSession] = {}
    current: dict | None = None

    def close() -> None:
        if current is not None and current["proto"] == "BGP":
            sessions[current["name"]] = BgpSession(
                name=current["name"],
                state=current.get("BGP state")
                or ("Down" if current["state"] == "down" else current["state"]),  # fmt: skip
                info=current["info"],
                since=current["since"],
                neighbor=current.get("Neighbor address", ""),
                description=current.get("Description", ""),
                routes_imported=current["imported"],
                routes_exported=current["exported"],
            )

    for line in output.splitlines():
        if line[:1].strip():  # a status line (or the header, or BIRD's banner)
            close()
            match = _PROTOCOL_LINE.match(line.strip())
            current = None
            if match and match["name"] != "Name":
                current = {**match.groupdict(), "info": match["info"].strip(),
                           "imported": 0, "exported": 0}  # fmt: skip
            continue
        if current is None or not (detail := _DETAIL.match(line)):
            continue
        key, value = detail["key"], detail["value"]
        if key == "Routes" and (routes := _ROUTES.match(value)):
            current["imported"] += int(routes["imported"])
            current["exported"] += int(routes["exported"])
        elif key in ("BGP state", "Neighbor address", "Description"):
            current.setdefault(key, value)
    close()
    return sessions
