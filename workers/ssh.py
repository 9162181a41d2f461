"""SSH to nodes and route reflectors (asyncssh), behind a small synchronous facade.

Celery tasks are synchronous; each `SSHSession` owns one connection and a private event
loop running in a thread of its own (so it works whatever loop the caller's thread runs),
and a workflow step runs all its commands over a single login.
"""

import asyncio
import concurrent.futures
import contextlib
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass

import asyncssh

from workers.errors import HostKeyMismatch, HostKeyUnknown, NodeUnreachable, RemoteCommandFailed


class HostKeyPolicy:
    STRICT = "strict"  # a known host key is required and checked
    TRUST_ON_FIRST_USE = "tofu"  # checked when known; otherwise accepted and reported
    INSECURE = "insecure"  # never checked (labs only)


def fingerprint(public_key: str) -> str:
    """The SHA256 fingerprint (as `ssh-keygen -l` prints it) of an OpenSSH public key line."""
    try:
        return asyncssh.import_public_key(public_key).get_fingerprint("sha256")
    except (asyncssh.KeyImportError, ValueError):
        return "(not a valid public key)"


def fetch_host_key(host: str, port: int, *, timeout: float) -> str:
    """The host key the server at host:port offers (OpenSSH line), without logging in.

    Raises:
        NodeUnreachable: nothing answered in time.
    """

    async def fetch():
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port), timeout)
        return key.export_public_key().decode().strip() if key else ""

    result: list = []

    def run():  # a loop of its own, whatever loop the caller's thread runs
        try:
            result.append(asyncio.run(fetch()))
        except BaseException as exc:  # noqa: BLE001 - re-raised below, typed
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout + 5)
    outcome = result[0] if result else TimeoutError()
    if isinstance(outcome, BaseException):
        raise NodeUnreachable(f"{host}:{port}: no host key ({type(outcome).__name__})") from (
            outcome if isinstance(outcome, Exception) else None
        )
    return outcome


def mismatch_error(device: str, stored: str, offered: str) -> HostKeyMismatch:
    return HostKeyMismatch(
        f"{device}: the SSH host key changed: stored {fingerprint(stored)}, offered "
        f"{fingerprint(offered) if offered else '(none)'}; not logged in. If the change "
        "is expected (a reinstalled host), an administrator replaces the stored key."
    )


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to log in. `known_host_key` is an OpenSSH public key line; `name`
    names the device in errors."""

    host: str
    port: int = 22
    username: str = "root"
    password: str = ""
    private_key: str = ""
    known_host_key: str = ""
    host_key_policy: str = HostKeyPolicy.STRICT
    connect_timeout: float = 10.0
    command_timeout: float = 120.0
    name: str = ""

    def __repr__(self) -> str:  # never print credentials
        return f"SSHTarget({self.username}@{self.host}:{self.port})"

    @property
    def device(self) -> str:
        return f"{self.name} ({self.host}:{self.port})" if self.name else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_status: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class SSHSession:
    """One SSH connection with synchronous methods; use as a context manager.

    Under `tofu`, a target without a known host key is first asked for its key (no login),
    and the login then accepts only that key: `first_seen_host_key` holds it.

    Raises:
        HostKeyMismatch: the host offered another key than the known one (never retried).
        HostKeyUnknown: no known key and the policy is strict.
        NodeUnreachable: on connect, authentication or timeout failures.
    """

    def __init__(self, target: SSHTarget):
        self.target = target
        self.observed_host_key = ""
        self.first_seen_host_key = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn: asyncssh.SSHClientConnection | None = None

    def __enter__(self) -> "SSHSession":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._conn = self._call(self._connect(), timeout=self.target.connect_timeout)
        except BaseException:
            self._stop_loop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._conn is not None:
            self._conn.close()
            with contextlib.suppress(OSError, asyncssh.Error, NodeUnreachable):
                self._call(self._conn.wait_closed(), timeout=5)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _connect(self) -> asyncssh.SSHClientConnection:
        target = self.target
        options = {
            "host": target.host,
            "port": target.port,
            "username": target.username,
            "known_hosts": self._known_hosts(),
            "client_keys": [asyncssh.import_private_key(target.private_key)]
            if target.private_key
            else [],
            "password": target.password or None,
            "agent_path": None,
            "config": None,
        }
        conn = await asyncssh.connect(**options)
        server_key = conn.get_server_host_key()
        if server_key is not None:
            self.observed_host_key = server_key.export_public_key().decode().strip()
        return conn

    def _known_hosts(self):
        target = self.target
        if target.host_key_policy == HostKeyPolicy.INSECURE:
            return None
        key = target.known_host_key
        if not key:
            if target.host_key_policy != HostKeyPolicy.TRUST_ON_FIRST_USE:
                raise HostKeyUnknown(
                    f"{target.device}: no SSH host key is stored and the policy is strict; "
                    "an administrator pins it (ssh-keyscan, or the host's "
                    "/etc/ssh/ssh_host_ed25519_key.pub)."
                )
            key = fetch_host_key(target.host, target.port, timeout=target.connect_timeout)
            self.first_seen_host_key = key
        try:
            return ([asyncssh.import_public_key(key)], [], [])
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise HostKeyUnknown(f"{target.device}: the stored host key is invalid") from exc

    def _call(self, coroutine, *, timeout: float):
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self._loop)
        try:
            return future.result()
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:
            raise NodeUnreachable(f"{self.target!r}: timed out after {timeout:g}s") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            target = self.target
            try:
                offered = fetch_host_key(target.host, target.port, timeout=target.connect_timeout)
            except NodeUnreachable:
                offered = ""
            stored = target.known_host_key or self.first_seen_host_key
            raise mismatch_error(target.device, stored, offered) from exc
        except (OSError, asyncssh.Error) as exc:
            raise NodeUnreachable(f"{self.target!r}: {type(exc).__name__}: {exc}") from exc

    def run(
        self, command: str, *, check: bool = True, timeout: float | None = None, stdin: str = ""
    ) -> CommandResult:
        """Run a shell command; raises RemoteCommandFailed on non-zero exit when `check`."""
        timeout = timeout or self.target.command_timeout
        completed = self._call(
            self._conn.run(command, input=stdin or None, check=False), timeout=timeout
        )
        result = CommandResult(
            command=command,
            exit_status=completed.exit_status,
            stdout=str(completed.stdout or ""),
            stderr=str(completed.stderr or ""),
        )
        if check and not result.ok:
            raise RemoteCommandFailed(command, result.exit_status, result.stderr + result.stdout)
        return result

    def read_file(self, path: str) -> str | None:
        """The file's text, or None when it does not exist."""
        result = self.run(f"cat -- {shlex.quote(path)}", check=False)
        if result.ok:
            return result.stdout
        if "No such file" in result.stderr:
            return None
        raise RemoteCommandFailed(result.command, result.exit_status, result.stderr)

    def write_file_atomic(
        self,
        path: str,
        content: str,
        *,
        validate: Callable[[str], None] | None = None,
        mode: str = "0644",
    ) -> None:
        """Write `content` to `path` so that readers see the old or the new file, never half.

        The text goes to a temporary file beside `path`; `validate(temp_path)` may raise to
        keep the old file (the temporary one is removed); then it is renamed over `path`.
        """
        directory, name = path.rsplit("/", 1)
        temp = f"{directory or '/'}/.{name}.fabric-new"
        quoted_temp, quoted_dir = shlex.quote(temp), shlex.quote(directory or "/")
        self.run(f"mkdir -p -- {quoted_dir} && cat > {quoted_temp} && chmod {mode} {quoted_temp}",
                 stdin=content)  # fmt: skip
        try:
            if validate is not None:
                validate(temp)
            self.run(f"mv -f -- {quoted_temp} {shlex.quote(path)}")
        except BaseException:
            self.run(f"rm -f -- {quoted_temp}", check=False)
            raise
