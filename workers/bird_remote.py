"""Apply a BIRD config on a host over SSH: diff, validate, swap atomically, reconfigure, check.

An invalid config never replaces the working one: it is parsed here and on the host
before the rename, and if `birdc configure` still refuses it the old file is put back.
"""

import shlex
from dataclasses import dataclass, field

from workers.bird import ProtocolStatus, check_config, parse_show_protocols
from workers.errors import BirdCommandFailed, BirdConfigInvalid, RemoteCommandFailed
from workers.ssh import SSHSession


@dataclass(frozen=True)
class BirdPaths:
    config: str
    socket: str

    @property
    def pidfile(self) -> str:
        return self.socket.removesuffix(".ctl") + ".pid"


@dataclass
class ApplyResult:
    changed: bool
    started: bool = False
    previous: str | None = None
    protocols_before: dict[str, ProtocolStatus] = field(default_factory=dict)
    protocols_after: dict[str, ProtocolStatus] = field(default_factory=dict)

    @property
    def sessions_reset(self) -> list[str]:
        """Sessions Established before and still configured whose since-time changed."""
        return sorted(
            name
            for name, before in self.protocols_before.items()
            if before.established
            and name in self.protocols_after
            and self.protocols_after[name].since != before.since
        )


def _birdc(session: SSHSession, paths: BirdPaths, command: str, *, check: bool = True):
    return session.run(f"birdc -s {shlex.quote(paths.socket)} {command}", check=check, timeout=60)


def show_protocols(session: SSHSession, paths: BirdPaths) -> dict[str, ProtocolStatus] | None:
    """`birdc show protocols`, or None when BIRD is not running on that socket."""
    result = _birdc(session, paths, "show protocols", check=False)
    if not result.ok or "BIRD" not in result.stdout:
        return None
    return parse_show_protocols(result.stdout)


def start_bird(session: SSHSession, paths: BirdPaths) -> None:
    """Start BIRD with these paths (it daemonizes); raises BirdCommandFailed if it won't."""
    directory = paths.socket.rsplit("/", 1)[0] or "/"
    result = session.run(
        f"mkdir -p {shlex.quote(directory)} && bird -c {shlex.quote(paths.config)} "
        f"-s {shlex.quote(paths.socket)} -P {shlex.quote(paths.pidfile)}",
        check=False,
    )
    if not result.ok:
        raise BirdCommandFailed(f"bird did not start: {(result.stderr or result.stdout).strip()}")


def _reconfigure(session: SSHSession, paths: BirdPaths, *, restore: str | None) -> None:
    """`birdc configure`; if BIRD refuses, put `restore` back as the file and raise."""
    result = _birdc(session, paths, "configure", check=False)
    if "Reconfigured" in result.stdout or "Reconfiguration in progress" in result.stdout:
        return
    if restore is not None:
        session.write_file_atomic(paths.config, restore)
    raise BirdCommandFailed(
        "birdc configure refused the config"
        + ("; the previous file is back: " if restore is not None else ": ")
        + (result.stdout + result.stderr).strip()
    )


def apply_config(session: SSHSession, paths: BirdPaths, text: str) -> ApplyResult:
    """Make the host run `text` as its BIRD config; idempotent.

    Raises:
        BirdConfigInvalid: the config does not parse (locally or on the host); untouched.
        BirdCommandFailed: BIRD refused to reconfigure or start; the old file is back.
    """
    check_config(text)
    current = session.read_file(paths.config)
    before = show_protocols(session, paths)
    if current == text and before is not None:
        # The file is right, but an apply cut short (SSH dropped after the rename) may have
        # left BIRD running an older one: reloading an unchanged file costs milliseconds
        # and resets nothing.
        _reconfigure(session, paths, restore=None)
        return ApplyResult(changed=False, previous=current, protocols_before=before,
                           protocols_after=before)  # fmt: skip

    def validate_on_host(temp_path: str) -> None:
        try:
            session.run(f"bird -p -c {shlex.quote(temp_path)}")
        except RemoteCommandFailed as exc:
            raise BirdConfigInvalid(exc.output.replace(temp_path, paths.config)) from exc

    if current != text:
        session.write_file_atomic(paths.config, text, validate=validate_on_host)
    if before is None:
        start_bird(session, paths)
        after = show_protocols(session, paths) or {}
        return ApplyResult(changed=current != text, started=True, previous=current,
                           protocols_after=after)  # fmt: skip
    _reconfigure(session, paths, restore=current)
    after = show_protocols(session, paths) or {}
    return ApplyResult(changed=True, previous=current, protocols_before=before,
                       protocols_after=after)  # fmt: skip
