"""The border gateway (Juniper Junos) through netmiko's `juniper_junos` driver.

The sequence the article prescribes: load set commands, `show | compare`, `commit check`,
`commit confirmed N`, verify the BGP group, then `commit` to confirm — or roll back.
"""

import os
import re
import tempfile
from dataclasses import dataclass, field

from netmiko import ConnectHandler
from netmiko.exceptions import (
    ConfigInvalidException,
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadTimeout,
)

from workers.errors import DeviceError, JunosCommitFailed, JunosError, TransientError

ERROR_PATTERN = r"(syntax error|unknown command|error:|invalid )"
# What Junos prints in configuration mode while a `commit confirmed` awaits confirmation.
PENDING_CONFIRM_BANNER = re.compile(
    r"^#\s*commit confirmed will be (?:automatically )?rolled back in \d+ minutes?.*$\n?", re.M
)


@dataclass(frozen=True)
class Loaded:
    """What loading the lines changed: the candidate's diff, and whether an earlier
    `commit confirmed` still awaits its confirming commit."""

    diff: str
    pending_confirm: bool


def split_pending_banner(output: str) -> tuple[str, bool]:
    """`output` without the pending-confirmation banner, and whether it was there."""
    cleaned, found = PENDING_CONFIRM_BANNER.subn("", output)
    return cleaned, bool(found)


class BorderGatewayUnreachable(DeviceError, TransientError):
    """SSH to the border gateway failed or timed out: worth a retry."""


@dataclass(frozen=True)
class JunosTarget:
    host: str
    port: int
    username: str
    password: str = ""
    private_key: str = ""
    timeout: float = 30.0

    def __repr__(self) -> str:  # never print credentials
        return f"JunosTarget({self.username}@{self.host}:{self.port})"


@dataclass
class BgpGroupState:
    """What `show bgp group NAME detail` says about a group."""

    exists: bool
    total_peers: int = 0
    established: int = 0
    peers: list[str] = field(default_factory=list)
    accepted_prefixes: int = 0
    raw: str = ""


def parse_bgp_group_detail(output: str) -> BgpGroupState:
    counts = re.search(r"Total peers:\s*(\d+)\s+Established:\s*(\d+)", output)
    if not counts:
        return BgpGroupState(exists=False, raw=output)
    accepted = sum(int(n) for n in re.findall(r"Accepted prefixes:\s*(\d+)", output))
    # Junos prints an Established peer as ADDRESS+PORT and any other peer as ADDRESS.
    peers = re.findall(r"^\s*([0-9a-fA-F.:]*[.:][0-9a-fA-F.:]*)(?:\+\d+)?\s*$", output, re.M)
    return BgpGroupState(
        exists=True,
        total_peers=int(counts[1]),
        established=int(counts[2]),
        peers=peers,
        accepted_prefixes=accepted,
        raw=output,
    )


class JunosSession:
    """One CLI session to the border gateway; use as a context manager."""

    def __init__(self, target: JunosTarget):
        self.target = target
        self._conn = None
        self._key_file: str | None = None

    def __enter__(self) -> "JunosSession":
        params = {
            "device_type": "juniper_junos",
            "host": self.target.host,
            "port": self.target.port,
            "username": self.target.username,
            "password": self.target.password or None,
            "conn_timeout": self.target.timeout,
            "auth_timeout": self.target.timeout,
            "banner_timeout": self.target.timeout,
            "allow_agent": False,
            "ssh_config_file": None,
        }
        if self.target.private_key:
            handle, self._key_file = tempfile.mkstemp(prefix="junos-key-")
            with os.fdopen(handle, "w") as key:
                key.write(self.target.private_key)
            params.update(use_keys=True, key_file=self._key_file)
        try:
            self._conn = ConnectHandler(**params)
        except (NetmikoTimeoutException, NetmikoAuthenticationException, OSError) as exc:
            self._cleanup_key()
            raise BorderGatewayUnreachable(f"{self.target!r}: {exc}") from exc
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self._conn is not None:
                self._conn.disconnect()
        finally:
            self._cleanup_key()

    def _cleanup_key(self) -> None:
        if self._key_file:
            os.unlink(self._key_file)
            self._key_file = None

    def _guard(self, action: str, call):
        try:
            return call()
        except (NetmikoTimeoutException, ReadTimeout, OSError, EOFError) as exc:
            raise BorderGatewayUnreachable(f"{self.target!r} during {action}: {exc}") from exc

    def load(self, lines: list[str]) -> "Loaded":
        """Load set/delete lines into the candidate; returns `show | compare` (without the
        banner Junos adds while a `commit confirmed` awaits confirmation, reported apart).

        Raises:
            JunosError: the router refused a line (the candidate is rolled back).
        """

        def send():
            self._conn.config_mode()
            return self._conn.send_config_set(
                lines, exit_config_mode=False, error_pattern=ERROR_PATTERN
            )

        try:
            self._guard("load", send)
        except ConfigInvalidException as exc:
            self.discard()
            raise JunosError(f"the router refused the configuration: {exc}") from exc
        compare = self._guard("compare", lambda: self._conn.send_command("show | compare"))
        diff, pending = split_pending_banner(compare)
        return Loaded(diff=diff.strip(), pending_confirm=pending)

    def commit_check(self) -> str:
        try:
            return self._guard("commit check", lambda: self._conn.commit(check=True))
        except ValueError as exc:
            self.discard()
            raise JunosCommitFailed(f"commit check failed; nothing committed:\n{exc}") from exc

    def commit_confirmed(self, minutes: int) -> str:
        try:
            return self._guard(
                "commit confirmed",
                lambda: self._conn.commit(confirm=True, confirm_delay=minutes),
            )
        except ValueError as exc:
            self.discard()
            raise JunosCommitFailed(f"commit confirmed failed; nothing committed:\n{exc}") from exc

    def confirm(self) -> str:
        """The plain `commit` that makes a `commit confirmed` permanent."""
        try:
            return self._guard("commit", lambda: self._conn.commit())
        except ValueError as exc:
            raise JunosCommitFailed(f"confirming commit failed:\n{exc}") from exc

    def rollback(self) -> str:
        """Undo the last commit now (`rollback 1` + `commit`) instead of waiting for it."""

        def run():
            self._conn.config_mode()
            out = self._conn.send_command("rollback 1", expect_string=r"[>#]")
            return out + self._conn.commit()

        try:
            return self._guard("rollback", run)
        except ValueError as exc:
            raise JunosCommitFailed(f"rollback commit failed:\n{exc}") from exc

    def discard(self) -> None:
        """Throw the candidate away (`rollback 0`) and leave configuration mode."""

        def run():
            self._conn.config_mode()
            self._conn.send_command("rollback 0", expect_string=r"[>#]")
            self._conn.exit_config_mode()

        self._guard("discard", run)

    def bgp_group(self, group: str) -> BgpGroupState:
        def run():
            if self._conn.check_config_mode():
                self._conn.exit_config_mode()
            return self._conn.send_command(f"show bgp group {group} detail")

        return parse_bgp_group_detail(self._guard("show bgp group", run))
