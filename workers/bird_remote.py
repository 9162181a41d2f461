"""Apply a BIRD config on a host over SSH: diff, validate, swap atomically, reconfigure, check.

An invalid config never replaces the working one: it is parsed here and on the host
before the rename, and if `birdc configure` still refuses it the old file is put back.
"""

import secrets
import shlex
from dataclasses import dataclass, field

from workers.bird import (
    BgpSession,
    ProtocolStatus,
    check_config,
    parse_bgp_sessions,
    parse_show_protocols,
)
from workers.errors import BirdCommandFailed, BirdConfigInvalid, BirdFileNotManaged
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
    previous: str | None = None  # the product's own earlier file (None: absent or adopted)
    adopted_backup: str = ""  # where an existing unmarked BIRD config was copied
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


def _birdc(session: SSHSession, paths: BirdPaths, command: str, *, check: bool = True, timeout=60):
    return session.run(
        f"birdc -s {shlex.quote(paths.socket)} {command}", check=check, timeout=timeout
    )


def show_protocols(session: SSHSession, paths: BirdPaths) -> dict[str, ProtocolStatus] | None:
    """`birdc show protocols`, or None when BIRD is not running on that socket."""
    result = _birdc(session, paths, "show protocols", check=False)
    if not result.ok or "BIRD" not in result.stdout:
        return None
    return parse_show_protocols(result.stdout)


def show_bgp_sessions(
    session: SSHSession, paths: BirdPaths, *, timeout: float
) -> dict[str, BgpSession] | None:
    """The BGP sessions of `birdc show protocols all` (one command, at most `timeout`
    seconds), or None when BIRD is not running on that socket.

    Raises:
        NodeUnreachable: the command did not answer in time or the connection dropped.
    """
    result = _birdc(session, paths, "show protocols all", check=False, timeout=timeout)
    if not result.ok or "BIRD" not in result.stdout:
        return None
    return parse_bgp_sessions(result.stdout)


def stop_bird(session: SSHSession, paths: BirdPaths) -> bool:
    """Shut BIRD down with `birdc down`; False when it was not running. Files stay."""
    result = _birdc(session, paths, "down", check=False)
    return result.ok and "Shutdown requested" in result.stdout


# The first line of every bird.conf the product renders (templates/bird/*.j2): the apply
# replaces only a file that is absent or starts with it.
MANAGED_MARKER = "# Managed by Fabric Portal"

APPLY_SCRIPT = r"""
conf=%(conf)s sock=%(sock)s pidfile=%(pidfile)s tmp=%(tmp)s prev=%(prev)s m=%(marker)s
managed=%(managed)s adopted=%(adopted)s
if [ -e "$conf" ] && [ ! -f "$conf" ] || [ -L "$conf" ]; then
  echo "$m foreign"; echo "not a regular file"; exit 0
fi
if [ -f "$conf" ]; then
  case "$(head -n 1 "$conf")" in
    "$managed"*) ;;
    *) # not written by the product: adopt it only if it is a BIRD config, keeping a copy
       if ! bird -p -c "$conf" >/dev/null 2>&1; then
         echo "$m foreign"; echo "neither marked as managed nor a valid BIRD config"; exit 0
       fi
       copy="$adopted"; [ -e "$copy" ] && copy="$adopted.$$"
       cp -p "$conf" "$copy" || exit 1
       echo "$m adopted"; echo "$copy" ;;
  esac
fi
mkdir -p "$(dirname "$conf")" "$(dirname "$sock")" || exit 1
cat > "$tmp" || exit 1
before=$(birdc -s "$sock" show protocols 2>&1)
case "$before" in *"BIRD "*" ready."*) running=1 ;; *) running=0 ;; esac
echo "$m before"; echo "$before"
replaced=0
if [ -f "$conf" ] && cmp -s "$tmp" "$conf"; then
  rm -f "$tmp"
else
  if ! check=$(bird -p -c "$tmp" 2>&1); then
    rm -f "$tmp"; echo "$m invalid"; echo "$check"; exit 0
  fi
  if [ -f "$conf" ]; then
    cp -p "$conf" "$prev"
    # only the product's own file is shown back (an adopted one stays in its copy)
    case "$(head -n 1 "$prev")" in "$managed"*) echo "$m previous"; cat "$prev" ;; esac
  fi
  mv -f "$tmp" "$conf" && replaced=1 && echo "$m replaced"
fi
if [ "$running" = 1 ]; then
  out=$(birdc -s "$sock" configure 2>&1)
  case "$out" in
    *Reconfigured*|*"Reconfiguration in progress"*) ;;
    *) [ "$replaced" = 1 ] && [ -f "$prev" ] && mv -f "$prev" "$conf" && echo "$m restored"
       echo "$m refused"; echo "$out"; exit 0 ;;
  esac
else
  if ! out=$(bird -c "$conf" -s "$sock" -P "$pidfile" 2>&1); then
    echo "$m refused"; echo "bird did not start: $out"; exit 0
  fi
  echo "$m started"
fi
echo "$m after"; birdc -s "$sock" show protocols 2>&1
"""


def _sections(output: str, marker: str) -> dict[str, str]:
    sections, name, lines = {}, None, []
    for line in output.splitlines(keepends=True):
        if line.startswith(marker + " "):
            if name:
                sections[name] = "".join(lines)
            name, lines = line[len(marker) + 1 :].strip(), []
        else:
            lines.append(line)
    if name:
        sections[name] = "".join(lines)
    return sections


def apply_config(session: SSHSession, paths: BirdPaths, text: str) -> ApplyResult:
    """Make the host run `text` as its BIRD config; idempotent, in one SSH round trip.

    On the host, one script: write a temporary file, keep it only if it differs from the
    current one and `bird -p` accepts it, rename it over the config, `birdc configure`
    (the previous file is put back if BIRD refuses) or start BIRD when it is not running,
    and report `show protocols` before and after. Even an unchanged file is reloaded: an
    apply cut short after the rename must not leave BIRD on an older config.

    The file is replaced only when absent or marked as the product's (MANAGED_MARKER on
    its first line); an unmarked file that `bird -p` accepts is adopted once (copied to
    `<config>.before-fabric-portal` first); anything else is refused. The old content is
    shown back only when it was the product's own.

    Raises:
        BirdFileNotManaged: the path holds something else (not marked, not BIRD); untouched.
        BirdConfigInvalid: the config does not parse (locally or on the host); untouched.
        BirdCommandFailed: BIRD refused to reconfigure or start; the old file is back.
    """
    check_config(text)
    directory, name = paths.config.rsplit("/", 1)
    marker = "@@fabric-" + secrets.token_hex(8)
    script = APPLY_SCRIPT % {
        "conf": shlex.quote(paths.config),
        "sock": shlex.quote(paths.socket),
        "pidfile": shlex.quote(paths.pidfile),
        "tmp": shlex.quote(f"{directory}/.{name}.fabric-new"),
        "prev": shlex.quote(f"{directory}/.{name}.fabric-prev"),
        "adopted": shlex.quote(f"{directory}/{name}.before-fabric-portal"),
        "managed": shlex.quote(MANAGED_MARKER),
        "marker": marker,
    }
    result = session.run(f"sh -c {shlex.quote(script)}", stdin=text, timeout=120)
    sections = _sections(result.stdout, marker)
    if "foreign" in sections:
        raise BirdFileNotManaged(
            f"{paths.config} is {sections['foreign'].strip()}: refusing to replace it "
            "(a BIRD config is adopted once, with a copy beside it; any other file is left "
            "alone). Check the host's BIRD config path."
        )
    if "invalid" in sections:
        raise BirdConfigInvalid(sections["invalid"].replace(f".{name}.fabric-new", name).strip())
    if "refused" in sections:
        back = "; the previous file is back" if "restored" in sections else ""
        raise BirdCommandFailed(f"BIRD refused the config{back}: {sections['refused'].strip()}")
    before = sections.get("before", "")
    running_before = "BIRD " in before and " ready." in before
    return ApplyResult(
        changed="replaced" in sections,
        started="started" in sections,
        previous=sections.get("previous", text if "replaced" not in sections else None),
        adopted_backup=sections.get("adopted", "").strip(),
        protocols_before=parse_show_protocols(before) if running_before else {},
        protocols_after=parse_show_protocols(sections.get("after", "")),
    )
