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
