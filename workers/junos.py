"""The border gateway (Juniper Junos) through netmiko's `juniper_junos` driver.

The sequence the article prescribes: load set commands, `show | compare`, `commit check`,
`commit confirmed N`, verify the BGP group, then `commit` to confirm — or roll back.
"""

import os
import re
import tempfile
from dataclasses import dataclass, field

import paramiko
from netmiko import ConnectHandler
from netmiko.exceptions import (
    ConfigInvalidException,
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadTimeout,
)

from workers.errors import (
    DeviceError,
    HostKeyUnknown,
    JunosCommitFailed,
    JunosError,
    TransientError,
)
from workers.ssh import HostKeyPolicy, fetch_host_key, mismatch_error

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
    """The border gateway's management SSH. `known_host_key` (OpenSSH line) and
    `host_key_policy` work as for nodes (workers.ssh.HostKeyPolicy); `name` names it."""

    host: str
    port: int
    username: str
    password: str = ""
    private_key: str = ""
    timeout: float = 30.0
    known_host_key: str = ""
    host_key_policy: str = HostKeyPolicy.STRICT
    name: str = ""

    @property
    def device(self) -> str:
        where = f"{self.host}:{self.port}"
        return f"border gateway {self.name} ({where})" if self.name else where

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


# The line that ends a group's own block; what follows it is a summary over every group
# of the router, which repeats the prefix counters (`Table inet.0`, `Accepted prefixes`...).
GROUPS_SUMMARY = re.compile(r"^Groups:\s*\d+\s+Peers:", re.M)


def parse_bgp_group_detail(output: str) -> BgpGroupState:
    """Read `show bgp group NAME detail`: the group's peers and its own accepted prefixes.

    Only the group's block counts: a real router ends the output with a summary over all
    groups (after the `Groups: … Down peers: …` line) whose `Accepted prefixes` would
    otherwise be added a second time (a group missing half its routes would pass).
    """
    summary = GROUPS_SUMMARY.search(output)
    group_block = output[: summary.start()] if summary else output
    counts = re.search(r"Total peers:\s*(\d+)\s+Established:\s*(\d+)", group_block)
    if not counts:
        return BgpGroupState(exists=False, raw=output)
    accepted = sum(int(n) for n in re.findall(r"Accepted prefixes:\s*(\d+)", group_block))
    # Junos prints an Established peer as ADDRESS+PORT and any other peer as ADDRESS.
    peers = re.findall(r"^\s*([0-9a-fA-F.:]*[.:][0-9a-fA-F.:]*)(?:\+\d+)?\s*$", group_block, re.M)
    return BgpGroupState(
        exists=True,
        total_peers=int(counts[1]),
        established=int(counts[2]),
        peers=peers,
        accepted_prefixes=accepted,
        raw=output,
    )


def _bad_host_key(exc: BaseException | None) -> paramiko.BadHostKeyException | None:
    """paramiko's BadHostKeyException behind `exc` (netmiko re-raises it as its own)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, paramiko.BadHostKeyException):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


class JunosSession:
    """One CLI session to the border gateway; use as a context manager."""

    def __init__(self, target: JunosTarget):
        self.target = target
        self._conn = None
        self._key_file: str | None = None
        self._known_hosts_file: str | None = None
        self.first_seen_host_key = ""

    def _host_key_params(self) -> dict:
        """netmiko's strict checking (paramiko's RejectPolicy) against a known-hosts file
        holding only the stored key (`ssh_strict`, `alt_host_keys`, `alt_key_file`)."""
        target = self.target
        if target.host_key_policy == HostKeyPolicy.INSECURE:
            return {"ssh_strict": False}
        key = target.known_host_key
        if not key:
            if target.host_key_policy != HostKeyPolicy.TRUST_ON_FIRST_USE:
                raise HostKeyUnknown(
                    f"{target.device}: no SSH host key is stored and the policy is strict; "
                    "an administrator pins it."
                )
            key = fetch_host_key(target.host, target.port, timeout=target.timeout)
            self.first_seen_host_key = key
        entry = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        handle, self._known_hosts_file = tempfile.mkstemp(prefix="junos-known-hosts-")
        with os.fdopen(handle, "w") as known_hosts:
            known_hosts.write(f"{entry} {' '.join(key.split()[:2])}\n")
        return {
            "ssh_strict": True,
            "system_host_keys": False,
            "alt_host_keys": True,
            "alt_key_file": self._known_hosts_file,
        }

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
            params.update(self._host_key_params())
            self._conn = ConnectHandler(**params)
        except (
            NetmikoTimeoutException, NetmikoAuthenticationException, OSError, paramiko.SSHException
        ) as exc:  # fmt: skip
            self._cleanup_key()
            bad_key = _bad_host_key(exc)
            if bad_key is not None:  # netmiko wraps paramiko's error: never retried
                offered = f"{bad_key.key.get_name()} {bad_key.key.get_base64()}"
                stored = self.target.known_host_key or self.first_seen_host_key
                raise mismatch_error(self.target.device, stored, offered) from exc
            raise BorderGatewayUnreachable(f"{self.target!r}: {exc}") from exc
        except BaseException:
            self._cleanup_key()
            raise
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
        if self._known_hosts_file:
            os.unlink(self._known_hosts_file)
            self._known_hosts_file = None

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

    def configured(self, path: str) -> list[str]:
        """The committed `set` lines under `path` (e.g. `protocols bgp group X`)."""

        def run():
            if self._conn.check_config_mode():
                self._conn.exit_config_mode()
            return self._conn.send_command(f"show configuration {path} | display set")

        output = self._guard("show configuration", run)
        return [line.strip() for line in output.splitlines() if line.startswith("set ")]

    def bgp_group(self, group: str) -> BgpGroupState:
        def run():
            if self._conn.check_config_mode():
                self._conn.exit_config_mode()
            return self._conn.send_command(f"show bgp group {group} detail")

        return parse_bgp_group_detail(self._guard("show bgp group", run))
