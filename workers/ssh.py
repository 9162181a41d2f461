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

from workers.errors import NodeUnreachable, RemoteCommandFailed


class HostKeyPolicy:
    STRICT = "strict"  # a known host key is required and checked
    TRUST_ON_FIRST_USE = "tofu"  # checked when known; otherwise accepted and reported
    INSECURE = "insecure"  # never checked (labs only)


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to log in. `known_host_key` is an OpenSSH public key line."""

    host: str
    port: int = 22
    username: str = "root"
    password: str = ""
    private_key: str = ""
    known_host_key: str = ""
    host_key_policy: str = HostKeyPolicy.TRUST_ON_FIRST_USE
    connect_timeout: float = 10.0
    command_timeout: float = 120.0

    def __repr__(self) -> str:  # never print credentials
        return f"SSHTarget({self.username}@{self.host}:{self.port})"


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

    Raises:
        NodeUnreachable: on connect, authentication, host-key or timeout failures.
    """

    def __init__(self, target: SSHTarget):
        self.target = target
        self.observed_host_key = ""
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
        if target.known_host_key and target.host_key_policy != HostKeyPolicy.INSECURE:
            return ([asyncssh.import_public_key(target.known_host_key)], [], [])
        if target.host_key_policy == HostKeyPolicy.STRICT:
            raise NodeUnreachable(f"{target!r}: no known host key and the policy is strict")
        return None

    def _call(self, coroutine, *, timeout: float):
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self._loop)
        try:
            return future.result()
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:
            raise NodeUnreachable(f"{self.target!r}: timed out after {timeout:g}s") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            raise NodeUnreachable(f"{self.target!r}: host key does not match ({exc})") from exc
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
