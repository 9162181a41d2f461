"""A Junos CLI simulator over SSH that netmiko's `juniper_junos` driver drives unmodified.

It stands in for the Juniper MX Border Gateway in tests and in the lab: operational and
configuration mode, one shared candidate per device, `commit check`, `commit confirmed N`
with a real auto-rollback timer, `rollback N`, `show | compare` and `show bgp group NAME
detail` fed by a pluggable BGP state provider (static, or the lab's BIRD via `birdc`).

In-process::

    sim = JunosSimulator(state_dir=tmp_path, username="lab", password="lab", minute_seconds=0.5)
    port = sim.start()
    ...
    sim.stop()

As a process::

    python -m lab.junos_sim --port 2222 --username admin --password admin --state-dir DIR
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import asyncssh

from lab.junos_config import (
    JunosSyntaxError,
    PeerState,
    apply_delete,
    apply_set,
    bgp_group,
    compare,
    filter_config,
    parse_birdc_protocols,
    render_bgp_group_detail,
    tokenize,
)

__all__ = [
    "BgpStateProvider",
    "JunosDevice",
    "JunosSimulator",
    "PeerState",
    "bird_bgp_state",
    "main",
    "static_bgp_state",
]

BgpStateProvider = Callable[[list[str]], dict[str, PeerState]]

FAIL_SWITCH_FILE = "fail-commit-check"
MAX_ROLLBACKS = 50
BANNER = "--- JUNOS 21.4R3.15 Kernel 64-bit  JNPR-12.1-simulated"
OP_COMMANDS = [
    ("set", "cli", "screen-length"),
    ("set", "cli", "screen-width"),
    ("set", "cli", "complete-on-space"),
    ("show", "configuration"),
    ("show", "bgp", "group"),
    ("configure",),
    ("exit",),
    ("quit",),
    ("cli",),
]


def static_bgp_state(states: Mapping[str, PeerState]) -> BgpStateProvider:
    """A provider answering from `states` (read at each call, so a test may change it).

    Neighbors missing from `states` are reported down.
    """

    def provider(neighbors: list[str]) -> dict[str, PeerState]:
        return {ip: states[ip] for ip in neighbors if ip in states}

    return provider


def bird_bgp_state(birdc_socket: str, *, timeout: float = 5.0) -> BgpStateProvider:
    """A provider reading BIRD 2's `birdc -s SOCKET show protocols all`.

    Each BGP protocol's `Neighbor address:` is a peer; it is established when its
    `BGP state:` is `Established`; its `Routes: N imported, ...` lines give the counters.

    Raises (from the provider):
        RuntimeError: when birdc fails or times out.
    """

    def provider(neighbors: list[str]) -> dict[str, PeerState]:
        try:
            done = subprocess.run(
                ["birdc", "-s", birdc_socket, "show", "protocols", "all"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"birdc failed: {exc}") from exc
        if done.returncode != 0:
            raise RuntimeError(f"birdc failed: {(done.stderr or done.stdout).strip()}")
        states = parse_birdc_protocols(done.stdout)
        return {ip: states[ip] for ip in neighbors if ip in states}

    return provider


class JunosDevice:
    """The state one simulated router shares between its SSH sessions.

    Configurations are lists of `set` lines. `history[0]` is the committed configuration,
    `history[n]` what `rollback n` loads. Every change is written to JSON files in
    `state_dir` (committed.json, candidate.json, rollbacks.json, events.json).

    Mutating methods run on the simulator's event loop; the read-only properties may be
    used from any thread.
    """

    def __init__(
        self,
        *,
        state_dir: str | os.PathLike[str],
        hostname: str = "mx-bgw",
        minute_seconds: float = 60.0,
        bgp_state: BgpStateProvider | None = None,
        config: list[str] | None = None,
    ) -> None:
        self.hostname = hostname
        self.minute_seconds = minute_seconds
        self.bgp_state: BgpStateProvider = bgp_state or static_bgp_state({})
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.fail_commit_check = False
        self._lock = threading.RLock()
        self._history: list[list[str]] = [list(config or [])]
        self._events: list[dict[str, Any]] = []
        self._load()
        self._candidate = list(self._history[0])
        self._restore_point: list[str] | None = None
        self._rollback_timer: asyncio.TimerHandle | None = None
        self._rollback_deadline = 0.0
        self._save()

    # --- reading -------------------------------------------------------------------------

    @property
    def committed(self) -> list[str]:
        """The committed configuration."""
        with self._lock:
            return list(self._history[0])

    @property
    def candidate(self) -> list[str]:
        """The shared candidate configuration."""
        with self._lock:
            return list(self._candidate)

    @property
    def history(self) -> list[list[str]]:
        """Committed configurations, newest first (`rollback n` loads `history[n]`)."""
        with self._lock:
            return [list(config) for config in self._history]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Event log: dicts with `event`, `time` (epoch seconds) and details."""
        with self._lock:
            return [dict(event) for event in self._events]

    @property
    def confirm_pending(self) -> bool:
        """Whether a `commit confirmed` waits for its confirmation."""
        with self._lock:
            return self._restore_point is not None

    def event_names(self) -> list[str]:
        """The names of the logged events, oldest first."""
        return [event["event"] for event in self.events]

    def commit_fails(self) -> bool:
        """Whether commits fail: the attribute, or the switch file in `state_dir`."""
        return self.fail_commit_check or (self.state_dir / FAIL_SWITCH_FILE).exists()

    def minutes_to_rollback(self) -> int | None:
        """Whole simulated minutes left before the automatic rollback, if one is pending."""
        with self._lock:
            if self._restore_point is None:
                return None
            left = self._rollback_deadline - time.monotonic()
            return max(1, math.ceil(left / self.minute_seconds))

    # --- editing -------------------------------------------------------------------------

    def set(self, path: list[str]) -> None:
        """`set PATH` on the candidate."""
        with self._lock:
            self._candidate = apply_set(self._candidate, path)
            self._save()

    def delete(self, path: list[str]) -> int:
        """`delete PATH` on the candidate; returns how many lines were removed."""
        with self._lock:
            self._candidate, removed = apply_delete(self._candidate, path)
            self._save()
            return removed

    def rollback(self, index: int, *, user: str) -> bool:
        """Load `history[index]` into the candidate; False when there is no such entry."""
        with self._lock:
            if not 0 <= index < len(self._history):
                return False
            self._candidate = list(self._history[index])
            self._log("rollback", user=user, index=index)
            return True

    def commit(
        self,
        *,
        user: str,
        check: bool = False,
        confirm_minutes: int | None = None,
        comment: str = "",
    ) -> tuple[bool, list[str]]:
        """Check or commit the candidate. Returns (success, Junos output lines).

        A plain `commit` (or `commit check`) while a `commit confirmed` is pending confirms
        it, as on Junos. A failing check commits nothing. Every commit adds a rollback entry,
        even an unchanged one.
        """
        details: dict[str, Any] = {"user": user, **({"comment": comment} if comment else {})}
        with self._lock:
            command = "commit check" if check else "commit"
            if confirm_minutes is not None:
                command = f"commit confirmed {confirm_minutes}"
            if self.commit_fails():
                self._log("commit_check_failed", **details, command=command)
                return False, [
                    "error: commit check failed: fail-commit-check switch is on",
                    "error: configuration check-out failed",
                ]
            if check:
                self._log("commit_check", **details)
                if self._restore_point is not None:
                    self._confirm(details, via=command)
                return True, ["configuration check succeeds"]
            self._history.insert(0, list(self._candidate))
            del self._history[MAX_ROLLBACKS:]
            if confirm_minutes is not None:
                if self._restore_point is None:
                    self._restore_point = list(self._history[1])
                self._arm_rollback(confirm_minutes)
                self._log("commit_confirmed", **details, minutes=confirm_minutes)
                return True, [
                    "configuration check succeeds",
                    f"commit confirmed will be automatically rolled back in {confirm_minutes}"
                    " minutes unless confirmed",
                    "commit complete",
                ]
            if self._restore_point is not None:
                self._confirm(details, via=command)
            else:
                self._log("commit", **details)
            return True, ["commit complete"]

    def cancel_timer(self) -> None:
        """Stop a pending rollback timer (the confirmation stays pending)."""
        with self._lock:
            if self._rollback_timer is not None:
                self._rollback_timer.cancel()
                self._rollback_timer = None

    def _arm_rollback(self, minutes: int) -> None:
        self.cancel_timer()
        delay = minutes * self.minute_seconds
        self._rollback_deadline = time.monotonic() + delay
        self._rollback_timer = asyncio.get_running_loop().call_later(delay, self._auto_rollback)

    def _confirm(self, details: dict[str, Any], *, via: str) -> None:
        self.cancel_timer()
        self._restore_point = None
        self._log("confirmed", **details, command=via)

    def _auto_rollback(self) -> None:
        with self._lock:
            if self._restore_point is None:
                return
            restored = self._restore_point
            self._restore_point = None
            self._rollback_timer = None
            self._history.insert(0, list(restored))
            del self._history[MAX_ROLLBACKS:]
            self._candidate = list(restored)
            self._log("auto_rollback")

    # --- persistence ---------------------------------------------------------------------

    def _log(self, event: str, **details: Any) -> None:
        self._events.append({"event": event, "time": time.time(), **details})
        self._save()

    def _load(self) -> None:
        history = self.state_dir / "rollbacks.json"
        events = self.state_dir / "events.json"
        if history.exists():
            self._history = json.loads(history.read_text()) or [[]]
        if events.exists():
            self._events = json.loads(events.read_text())

    def _save(self) -> None:
        files = {
            "committed.json": self._history[0],
            "candidate.json": self._candidate,
            "rollbacks.json": self._history,
            "events.json": self._events,
        }
        for name, data in files.items():
            path = self.state_dir / name
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(path)


class _CliSession:
    """One interactive CLI session: echo, prompts, modes and command dispatch."""

    def __init__(self, device: JunosDevice, username: str) -> None:
        self.device = device
        self.username = username
        self.config_mode = False
        self.confirming_exit = False

    @property
    def prompt(self) -> str:
        mark = "#" if self.config_mode else ">"
        return f"{self.username}@{self.device.hostname}{mark} "

    def prompt_block(self) -> str:
        """What precedes the cursor: `[edit]` banner (and pending-rollback note) + prompt."""
        if not self.config_mode:
            return self.prompt
        note = ""
        minutes = self.device.minutes_to_rollback()
        if minutes is not None:
            note = f"# commit confirmed will be rolled back in {minutes} minutes\r\n"
        return f"\r\n{note}[edit]\r\n{self.prompt}"

    async def run(self, process: asyncssh.SSHServerProcess) -> None:
        """Serve the session until `exit` or end of input."""
        if process.command:
            body = await self.operational(process.command)
            process.stdout.write((body or "") + "\n")
            process.exit(0)
            return
        process.stdout.write(f"{BANNER}\r\n{self.prompt}")
        pending, echoed, after_cr = "", 0, False
        while True:
            try:
                data = await process.stdin.read(4096)
            except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
                continue
            except asyncssh.Error:
                break
            if not data:
                break
            if after_cr and data.startswith("\n"):
                data = data[1:]
            after_cr = False
            pending += data
            while (match := re.search(r"\r\n|\r|\n", pending)) is not None:
                line, pending = pending[: match.start()], pending[match.end() :]
                after_cr = match.group() == "\r" and not pending
                echo, echoed = line[echoed:] + "\r\n", 0
                reply = await self.handle(line)
                if reply is None:
                    process.stdout.write(echo)
                    process.exit(0)
                    return
                process.stdout.write(echo + reply)
            if len(pending) > echoed:
                process.stdout.write(pending[echoed:])
                echoed = len(pending)
        process.exit(0)

    async def handle(self, line: str) -> str | None:
        """Run one command line; return what to print after the echo (ending in a prompt),
        or None when the session ends."""
        if self.confirming_exit:
            return self._answer_exit(line.strip().lower())
        try:
            words = tokenize(line)
        except JunosSyntaxError as exc:
            body = self._caret(exc.column) + "\nsyntax error."
        else:
            if not self.config_mode and words in (["exit"], ["quit"]):
                return None
            if self.config_mode:
                body = await self.configuration(line, words)
            else:
                body = await self.operational(line, words)
        if self.confirming_exit:
            return _crlf(body)
        if not body:
            return self.prompt_block()
        return _crlf(body + ("\n" if self.config_mode else "\n\n")) + self.prompt_block()

    # --- operational mode ----------------------------------------------------------------

    async def operational(self, line: str, words: list[str] | None = None) -> str:
        """Operational command output ('' for none)."""
        if words is None:
            try:
                words = tokenize(line)
            except JunosSyntaxError as exc:
                return self._caret(exc.column) + "\nsyntax error."
        if not words or words == ["cli"]:
            return ""
        if words[:2] == ["set", "cli"] and len(words) == 4:
            setting, value = words[2], words[3]
            if setting == "screen-length" and value.isdigit():
                return f"Screen length set to {value}"
            if setting == "screen-width" and value.isdigit():
                return f"Screen width set to {value}"
            if setting == "complete-on-space" and value in ("on", "off"):
                return ("Enabling" if value == "on" else "Disabling") + " complete-on-space"
        if words[:2] == ["show", "configuration"] and words[-3:] == ["|", "display", "set"]:
            return "\n".join(filter_config(self.device.committed, words[2:-3]))
        if words[:3] == ["show", "bgp", "group"] and words[4:] in ([], ["detail"]):
            return await self._bgp_group(words[3])
        if words[0] == "configure" and words[1:] in ([], ["private"], ["exclusive"]):
            self.config_mode = True
            notes = ["Entering configuration mode"]
            if self.device.candidate != self.device.committed:
                notes.append("The configuration has been changed but not committed")
            return "\n".join(notes)
        known = max(_common_prefix(words, command) for command in OP_COMMANDS)
        return self._caret(_word_column(line, known)) + "\nunknown command."

    async def _bgp_group(self, name: str) -> str:
        group = bgp_group(self.device.committed, name)
        states: dict[str, PeerState] = {}
        if group is not None and group.neighbors:
            loop = asyncio.get_running_loop()
            try:
                states = await loop.run_in_executor(
                    None, self.device.bgp_state, list(group.neighbors)
                )
            except Exception as exc:  # the provider is outside code: report, keep serving
                return f"error: BGP state unavailable: {exc}"
        return render_bgp_group_detail(group, states)

    # --- configuration mode --------------------------------------------------------------

    async def configuration(self, line: str, words: list[str]) -> str:
        """Configuration command output ('' for none)."""
        device = self.device
        if not words or words == ["top"]:
            return ""
        verb, args = words[0], words[1:]
        if verb == "set" and args:
            device.set(args)
            return ""
        if verb == "delete" and args:
            return "" if device.delete(args) else "warning: statement not found"
        if verb == "show":
            return self._show(line, args)
        if verb == "commit":
            return self._commit(line, args)
        if verb == "rollback" and len(args) <= 1:
            index = args[0] if args else "0"
            if not index.isdigit():
                return self._caret(_word_column(line, 1)) + "\nsyntax error."
            if not device.rollback(int(index), user=self.username):
                return f"error: Cannot find rollback {index}"
            return "load complete"
        if words in (["exit"], ["quit"], ["exit", "configuration-mode"]):
            return self._exit()
        if verb == "run" and args and args[0] == "show":
            return await self.operational(line.split("run", 1)[1], args)
        if verb in ("set", "delete", "rollback"):
            return self._caret(_word_column(line, 1)) + "\nsyntax error."
        return self._caret(_word_column(line, 0)) + "\nunknown command."

    def _show(self, line: str, args: list[str]) -> str:
        device = self.device
        if args[:1] == ["configuration"]:
            args = args[1:]
        if args == ["|", "compare"]:
            return compare(device.committed, device.candidate)
        if args[:3] == ["|", "compare", "rollback"] and len(args) == 4 and args[3].isdigit():
            history = device.history
            index = int(args[3])
            if index >= len(history):
                return f"error: Cannot find rollback {index}"
            return compare(history[index], device.candidate)
        if args[-3:] == ["|", "display", "set"]:
            return "\n".join(filter_config(device.candidate, args[:-3]))
        return self._caret(_word_column(line, 1)) + "\nsyntax error."

    def _commit(self, line: str, args: list[str]) -> str:
        check = and_quit = False
        minutes: int | None = None
        comment = ""
        rest = list(args)
        while rest:
            word = rest.pop(0)
            if word == "check" and not check:
                check = True
            elif word == "confirmed" and minutes is None:
                minutes = 10
                if rest and rest[0].isdigit():
                    minutes = int(rest.pop(0))
                if not 1 <= minutes <= 65535:
                    return "error: confirmed value must be between 1 and 65535"
            elif word == "comment" and rest:
                comment = rest.pop(0).strip('"')
            elif word == "and-quit":
                and_quit = True
            else:
                return self._caret(_word_column(line, len(args) - len(rest))) + "\nsyntax error."
        if check and (minutes is not None or and_quit):
            return self._caret(_word_column(line, 2)) + "\nsyntax error."
        ok, output = self.device.commit(
            user=self.username, check=check, confirm_minutes=minutes, comment=comment
        )
        if ok and and_quit:
            self.config_mode = False
            output.append("Exiting configuration mode")
        return "\n".join(output)

    def _exit(self) -> str:
        if self.device.candidate != self.device.committed:
            self.confirming_exit = True
            return (
                "The configuration has been changed but not committed\n"
                "Exit with uncommitted changes? [yes,no] (yes) "
            )
        self.config_mode = False
        return "Exiting configuration mode"

    def _answer_exit(self, answer: str) -> str:
        if answer in ("", "y", "yes"):
            self.confirming_exit = False
            self.config_mode = False
            return "Exiting configuration mode\r\n\r\n" + self.prompt_block()
        if answer in ("n", "no"):
            self.confirming_exit = False
            return self.prompt_block()
        return "Exit with uncommitted changes? [yes,no] (yes) "

    def _caret(self, column: int) -> str:
        return " " * (len(self.prompt) + column) + "^"


def _crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def _common_prefix(words: list[str], command: tuple[str, ...]) -> int:
    count = 0
    for word, expected in zip(words, command, strict=False):
        if word != expected:
            break
        count += 1
    return count


def _word_column(line: str, index: int) -> int:
    """Column of the `index`-th word of `line` (end of line when there are fewer)."""
    spans = [m.start() for m in re.finditer(r"\S+", line)]
    return spans[index] if index < len(spans) else len(line.rstrip()) + 1


class _SshServer(asyncssh.SSHServer):
    """Password (and optional public-key) authentication for the one configured user."""

    def __init__(self, simulator: JunosSimulator) -> None:
        self._simulator = simulator
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._simulator.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._simulator.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        keys = self._simulator.authorized_keys
        if keys is not None and username == self._simulator.username and self._conn:
            self._conn.set_authorized_keys(keys)
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self._simulator.username and hmac.compare_digest(
            password.encode(), self._simulator.password.encode()
        )


class JunosSimulator:
    """The SSH server in front of one `JunosDevice`.

    Args:
        state_dir: where the JSON state files, the host key and the fail switch live.
        username, password: the one account accepted.
        hostname: shown in the prompt `user@hostname> `.
        listen, port: where to listen (port 0: pick a free one).
        minute_seconds: how long a `commit confirmed` minute lasts.
        bgp_state: provider for `show bgp group`; default: every peer down.
        authorized_keys: optional OpenSSH authorized_keys text for public-key auth.
        config: initial committed configuration (set lines) when state_dir has none.
    """

    def __init__(
        self,
        *,
        state_dir: str | os.PathLike[str],
        username: str,
        password: str,
        hostname: str = "mx-bgw",
        listen: str = "127.0.0.1",
        port: int = 0,
        minute_seconds: float = 60.0,
        bgp_state: BgpStateProvider | None = None,
        authorized_keys: str | None = None,
        config: list[str] | None = None,
    ) -> None:
        self.device = JunosDevice(
            state_dir=state_dir,
            hostname=hostname,
            minute_seconds=minute_seconds,
            bgp_state=bgp_state,
            config=config,
        )
        self.username = username
        self.password = password
        self.listen = listen
        self.port = port
        self.authorized_keys = (
            asyncssh.import_authorized_keys(authorized_keys) if authorized_keys else None
        )
        self.connections: set[asyncssh.SSHServerConnection | None] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _host_key(self) -> asyncssh.SSHKey:
        path = self.device.state_dir / "ssh_host_ed25519_key"
        if path.exists():
            return asyncssh.read_private_key(str(path))
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(path))
        return key

    async def start_async(self) -> int:
        """Start listening on the running loop; returns the bound port."""
        self._acceptor = await asyncssh.listen(
            self.listen,
            self.port,
            server_factory=lambda: _SshServer(self),
            server_host_keys=[self._host_key()],
            process_factory=self._serve,
            line_editor=False,
            encoding="utf-8",
        )
        self.port = self._acceptor.get_port()
        return self.port

    async def stop_async(self) -> None:
        """Stop listening, end the open sessions and the rollback timer."""
        self.device.cancel_timer()
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in list(self.connections):
            if conn is not None:
                conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, process: asyncssh.SSHServerProcess) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await _CliSession(self.device, process.get_extra_info("username")).run(process)
        except (asyncssh.Error, ConnectionError, BrokenPipeError):
            pass
        except asyncio.CancelledError:
            process.close()
            raise
        finally:
            self._tasks.discard(task)

    def start(self) -> int:
        """Run the server on an event loop in a background thread; returns the bound port."""
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                error.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="junos-sim", daemon=True)
        self._thread.start()
        ready.wait()
        if error:
            raise error[0]
        return self.port

    def stop(self) -> None:
        """Stop the background server started by `start()`."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = self._thread = None


def main(argv: list[str] | None = None) -> int:
    """Command line: serve until SIGTERM/SIGINT, printing `ready PORT` once listening."""
    parser = argparse.ArgumentParser(prog="python -m lab.junos_sim", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--username", required=True)
    parser.add_argument(
        "--password",
        default=os.environ.get("JUNOS_SIM_PASSWORD"),
        help="default: $JUNOS_SIM_PASSWORD (keeps it out of the process list)",
    )
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--minute-seconds", type=float, default=60.0)
    parser.add_argument("--birdc-socket", help="read BGP state from this BIRD control socket")
    parser.add_argument("--hostname", default="mx-bgw")
    args = parser.parse_args(argv)
    if not args.password:
        parser.error("give --password or set JUNOS_SIM_PASSWORD")
    simulator = JunosSimulator(
        state_dir=args.state_dir,
        username=args.username,
        password=args.password,
        hostname=args.hostname,
        listen=args.listen,
        port=args.port,
        minute_seconds=args.minute_seconds,
        bgp_state=bird_bgp_state(args.birdc_socket) if args.birdc_socket else None,
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        port = await simulator.start_async()
        print(f"ready {port}", flush=True)
        await stop.wait()
        await simulator.stop_async()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
