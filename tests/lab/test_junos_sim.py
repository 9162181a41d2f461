"""The Junos simulator, driven by netmiko's unmodified `juniper_junos` driver."""

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest
from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException

from lab.junos_config import (
    JunosSyntaxError,
    PeerState,
    apply_delete,
    apply_set,
    bgp_group,
    compare,
    parse_birdc_protocols,
    render_bgp_group_detail,
    tokenize,
)
from lab.junos_sim import JunosSimulator, bird_bgp_state, static_bgp_state

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "lab", "lab-secret"
MINUTE = 0.5  # seconds per simulated minute
RR1, RR2 = "198.51.100.2", "198.51.100.3"
# The article's border gateway configuration, with its variables filled in.
ARTICLE = [
    "set policy-options policy-statement VM term isp-ipv4 from protocol bgp",
    "set policy-options policy-statement VM term isp-ipv4 from route-filter 203.0.113.0/24"
    " orlonger",
    "set policy-options policy-statement VM term isp-ipv4 then accept",
    "set policy-options policy-statement VM then reject",
    "set policy-options policy-statement reject-all then reject",
    "set protocols bgp group VM import VM",
    "set protocols bgp group VM export reject-all",
    "set protocols bgp group VM peer-as 65000",
    f"set protocols bgp group VM neighbor {RR1}",
    f"set protocols bgp group VM neighbor {RR2}",
]
BASE = ["set system host-name mx-bgw", "set routing-options autonomous-system 65000"]


def poll(predicate, timeout: float = 5.0):
    """Wait for `predicate()` to be truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {predicate}")
        time.sleep(0.02)
    return value


@pytest.fixture
def peers() -> dict[str, PeerState]:
    return {RR1: PeerState(established=True, received=4, accepted=3, active=3)}


@pytest.fixture
def sim(tmp_path, peers):
    simulator = JunosSimulator(
        state_dir=tmp_path, username=USER, password=PASSWORD, minute_seconds=MINUTE,
        bgp_state=static_bgp_state(peers), config=BASE,
    )  # fmt: skip
    simulator.start()
    yield simulator
    simulator.stop()


def connect(port: int, **extra):
    options = {"username": USER, "password": PASSWORD, **extra}
    return ConnectHandler(device_type="juniper_junos", host="127.0.0.1", port=port, **options)


@pytest.fixture
def conn(sim):
    connection = connect(sim.port)
    yield connection
    connection.disconnect()


# --- through netmiko ---------------------------------------------------------------------


def test_loaded_config_shows_in_compare_and_passes_commit_check(sim, conn):
    conn.send_config_set(ARTICLE)
    assert sim.device.candidate == BASE + ARTICLE
    assert sim.device.committed == BASE

    conn.config_mode()
    diff = conn.send_command("show | compare")
    assert diff.strip().splitlines() == [
        "[edit policy-options]",
        *(f"+ {line}" for line in ARTICLE[:5]),
        "[edit protocols]",
        *(f"+ {line}" for line in ARTICLE[5:]),
    ]
    assert conn.send_command("show | display set").strip().splitlines() == BASE + ARTICLE

    assert "configuration check succeeds" in conn.commit(check=True)
    assert sim.device.committed == BASE
    assert sim.device.event_names() == ["commit_check"]


def test_commit_confirmed_then_commit_keeps_the_config(sim, conn):
    conn.send_config_set(ARTICLE)
    output = conn.commit(confirm=True, confirm_delay=2)
    assert "commit confirmed will be automatically rolled back in 2 minutes" in output
    assert "commit complete" in output
    assert sim.device.committed == BASE + ARTICLE
    assert sim.device.confirm_pending

    assert "commit complete" in conn.commit()
    assert not sim.device.confirm_pending
    time.sleep(2 * MINUTE + 0.2)  # past the deadline: nothing happens
    assert sim.device.committed == BASE + ARTICLE
    events = sim.device.events
    assert [e["event"] for e in events] == ["commit_confirmed", "confirmed"]
    assert events[0]["minutes"] == 2 and events[0]["user"] == USER
    assert json.loads((sim.device.state_dir / "committed.json").read_text()) == BASE + ARTICLE


def test_unconfirmed_commit_rolls_back_after_the_timer(sim, conn):
    conn.send_config_set(ARTICLE)
    started = time.monotonic()
    conn.config_mode()
    output = conn.send_command("commit confirmed 1", expect_string=r"#\s*$")
    assert "rolled back in 1 minutes unless confirmed" in output

    poll(lambda: "auto_rollback" in sim.device.event_names())
    assert time.monotonic() - started >= MINUTE * 0.9
    assert sim.device.committed == BASE
    assert sim.device.candidate == BASE
    assert sim.device.history[:3] == [BASE, BASE + ARTICLE, BASE]
    events = json.loads((sim.device.state_dir / "events.json").read_text())
    assert [e["event"] for e in events] == ["commit_confirmed", "auto_rollback"]
    assert events[1]["time"] - events[0]["time"] == pytest.approx(MINUTE, abs=0.3)


def test_commit_check_also_confirms_a_pending_commit_like_junos(sim, conn):
    conn.send_config_set(ARTICLE)
    conn.commit(confirm=True, confirm_delay=2)
    assert "configuration check succeeds" in conn.commit(check=True)
    assert not sim.device.confirm_pending
    assert sim.device.event_names() == ["commit_confirmed", "commit_check", "confirmed"]


def test_fail_switch_makes_commits_fail_and_commits_nothing(sim, conn):
    conn.send_config_set(ARTICLE)
    sim.device.fail_commit_check = True
    with pytest.raises(ValueError, match="configuration check-out failed"):
        conn.commit(check=True)

    sim.device.fail_commit_check = False
    (sim.device.state_dir / "fail-commit-check").touch()  # the switch another process flips
    with pytest.raises(ValueError, match="error: configuration check-out failed"):
        conn.commit(confirm=True, confirm_delay=1)
    assert sim.device.committed == BASE
    assert not sim.device.confirm_pending

    (sim.device.state_dir / "fail-commit-check").unlink()
    assert "commit complete" in conn.commit()
    assert sim.device.committed == BASE + ARTICLE
    assert sim.device.event_names() == ["commit_check_failed", "commit_check_failed", "commit"]


def test_injection_attempt_is_a_syntax_error_and_changes_nothing(sim, conn):
    conn.send_config_set(ARTICLE)
    conn.commit()
    output = conn.send_config_set(
        ['set interfaces ge-0/0/0 description "x"; delete protocols', 'set system "open']
    )
    assert output.count("syntax error.") == 2
    assert sim.device.candidate == sim.device.committed == BASE + ARTICLE


def test_unknown_command_answers_like_junos(conn):
    output = conn.send_command("show chassis hardware")
    assert output.splitlines()[-1] == "unknown command."
    caret = output.splitlines()[0]
    assert caret.strip() == "^" and len(caret) == len(f"{USER}@mx-bgw> ") + len("show ") + 1


def test_show_bgp_group_detail_reports_the_provider_state(sim, conn, peers):
    conn.send_config_set(ARTICLE)
    conn.commit(and_quit=True)

    output = conn.send_command("show bgp group VM detail")
    lines = output.splitlines()
    assert lines[0].split() == [
        "Group",
        "Type:",
        "Internal",
        "AS:",
        "65000",
        "Local",
        "AS:",
        "65000",
    ]
    assert lines[1].split()[:2] == ["Name:", "VM"]
    assert "  Total peers: 2        Established: 1" in lines
    assert f"  {RR1}+179" in lines and f"  {RR2}" in lines
    assert "    Accepted prefixes:            3" in lines
    assert "    Received prefixes:            4" in lines

    peers[RR2] = PeerState(established=True, received=2, accepted=2, active=0)
    output = conn.send_command("show bgp group VM detail")
    assert "Established: 2" in output and "Accepted prefixes:            5" in output

    missing = conn.send_command("show bgp group NOPE detail")
    assert "Group Type" not in missing and "Groups: 0" in missing


def test_rollback_1_and_commit_restores_the_previous_config(sim, conn):
    conn.send_config_set(ARTICLE)
    conn.commit(comment="cluster c1")
    assert sim.device.events[0]["comment"] == "cluster c1"
    output = conn.send_config_set(["rollback 1"], exit_config_mode=False)
    assert "load complete" in output
    assert "- set protocols bgp group VM peer-as 65000" in conn.send_command("show | compare")
    conn.commit()
    assert sim.device.committed == BASE
    assert sim.device.event_names() == ["commit", "rollback", "commit"]


def test_sessions_share_one_candidate(sim, conn):
    conn.send_config_set(ARTICLE[:1], exit_config_mode=False)
    with connect(sim.port) as other:
        entered = other.config_mode()
        assert "The configuration has been changed but not committed" in entered
        assert f"+ {ARTICLE[0]}" in other.send_command("show | compare")
        other.commit()
    assert sim.device.committed == BASE + ARTICLE[:1]
    assert conn.send_command("show | compare").strip() == ""


def test_wrong_password_is_refused(sim):
    with pytest.raises(NetmikoAuthenticationException):
        ConnectHandler(
            device_type="juniper_junos", host="127.0.0.1", port=sim.port,
            username=USER, password="wrong",
        )  # fmt: skip


def test_public_key_authentication(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    key.write_private_key(str(key_file))
    simulator = JunosSimulator(
        state_dir=tmp_path / "state", username=USER, password="unused-" + PASSWORD,
        authorized_keys=key.export_public_key().decode(),
    )  # fmt: skip
    port = simulator.start()
    try:
        with ConnectHandler(
            device_type="juniper_junos", host="127.0.0.1", port=port, username=USER,
            use_keys=True, key_file=str(key_file), allow_agent=False,
        ) as connection:  # fmt: skip
            assert connection.base_prompt == f"{USER}@mx-bgw"
    finally:
        simulator.stop()


def test_runs_as_a_process_and_stops_on_sigterm(tmp_path):
    # The password comes from the environment: one starting with "-" (as token_urlsafe
    # makes one time in 32) once broke the lab, read by argparse as an option.
    password = "-starts-with-a-dash"
    command = [
        sys.executable, "-m", "lab.junos_sim", "--listen", "127.0.0.1", "--port", "0",
        "--username", USER, "--state-dir", str(tmp_path),
        "--minute-seconds", "0.5", "--hostname", "bgw1",
    ]  # fmt: skip
    env = {**os.environ, "JUNOS_SIM_PASSWORD": password}
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=15), "no `ready PORT` line"
        ready = process.stdout.readline().split()
        assert ready[0] == "ready"
        with connect(int(ready[1]), password=password) as connection:
            assert connection.base_prompt == f"{USER}@bgw1"
            connection.send_config_set(ARTICLE[:1])
            connection.commit()
        assert json.loads((tmp_path / "committed.json").read_text()) == ARTICLE[:1]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- the pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ['set a description "x"; delete protocols', 'set a "unbalanced', "set a b\x1b[2J", "set a\tb"],
)
def test_tokenize_rejects_separators_quotes_and_control_characters(line):
    with pytest.raises(JunosSyntaxError):
        tokenize(line)


def test_tokenize_keeps_quoted_words_whole():
    assert tokenize('set x description "two words"') == ["set", "x", "description", '"two words"']
    assert tokenize('set system host-name "bgw"') == ["set", "system", "host-name", "bgw"]


def test_set_replaces_single_value_leaves_and_delete_removes_a_subtree():
    config = apply_set([], ["protocols", "bgp", "group", "VM", "peer-as", "65000"])
    config = apply_set(config, ["protocols", "bgp", "group", "VM", "neighbor", RR1])
    config = apply_set(config, ["protocols", "bgp", "group", "VM", "neighbor", RR2])
    config = apply_set(config, ["protocols", "bgp", "group", "VMX", "peer-as", "1"])
    config = apply_set(config, ["protocols", "bgp", "group", "VM", "peer-as", "65001"])
    assert config == [
        f"set protocols bgp group VM neighbor {RR1}",
        f"set protocols bgp group VM neighbor {RR2}",
        "set protocols bgp group VMX peer-as 1",
        "set protocols bgp group VM peer-as 65001",
    ]
    kept, removed = apply_delete(config, ["protocols", "bgp", "group", "VM"])
    assert (kept, removed) == (["set protocols bgp group VMX peer-as 1"], 3)


def test_compare_groups_changes_by_top_level_hierarchy():
    old = ["set system host-name a", "set protocols bgp group VM peer-as 1"]
    new = ["set system host-name a", "set protocols bgp group VM peer-as 2"]
    assert compare(old, new) == (
        "[edit protocols]\n"
        "- set protocols bgp group VM peer-as 1\n"
        "+ set protocols bgp group VM peer-as 2"
    )
    assert compare(old, old) == ""


def test_bgp_group_detail_without_established_peers_has_no_tables():
    group = bgp_group(ARTICLE, "VM")
    assert group is not None and group.neighbors == [RR1, RR2] and group.export == ["reject-all"]
    output = render_bgp_group_detail(group, {})
    assert "Established: 0" in output and "Accepted prefixes" not in output
    assert bgp_group(ARTICLE, "NOPE") is None


BIRDC_OUTPUT = """\
BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     20:06:45.476

rr1        BGP        ---        up     20:06:46.063  Established
  BGP state:          Established
    Neighbor address: 198.51.100.2
    Neighbor AS:      65000
    Local AS:         65000
    Session:          internal multihop AS4
  Channel ipv4
    State:          UP
    Table:          master4
    Routes:         2 imported, 1 filtered, 0 exported, 2 preferred
    Route change stats:     received   rejected   filtered    ignored   accepted
      Import updates:              3          0          1          0          2

rr2        BGP        ---        start  20:06:45.476  Active        Socket: Connection refused
  BGP state:          Active
    Neighbor address: 198.51.100.3
    Neighbor AS:      65000
    Local AS:         65000
    Connect delay:    0.343/5
  Channel ipv4
    State:          DOWN
    Table:          master4
"""


def test_parse_birdc_protocols():
    assert parse_birdc_protocols(BIRDC_OUTPUT) == {
        RR1: PeerState(established=True, received=3, accepted=2, active=2),
        RR2: PeerState(established=False),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(
    shutil.which("bird") is None or os.geteuid() != 0, reason="needs BIRD 2 and root"
)
def test_bird_provider_reads_a_real_bird(tmp_path):
    """Two BIRDs on 127.0.0.1: `rr` exports two routes to `core`, whose birdc we read."""
    rr_port, core_port = _free_port(), _free_port()
    configs = {
        "rr": f"""router id 10.255.0.1;
protocol device {{}}
protocol static {{ ipv4; route 203.0.113.10/32 blackhole; route 203.0.113.11/32 blackhole; }}
protocol bgp core {{
  local 127.0.0.1 port {rr_port} as 65000; neighbor 127.0.0.1 port {core_port} as 65000;
  connect delay time 1; connect retry time 1;
  ipv4 {{ import none; export all; next hop address 192.0.2.1; }};
}}""",
        "core": f"""router id 10.255.0.2;
protocol device {{}}
protocol static {{ ipv4; route 192.0.2.0/24 blackhole; }}
protocol bgp rr1 {{
  local 127.0.0.1 port {core_port} as 65000; neighbor 127.0.0.1 port {rr_port} as 65000;
  connect delay time 1; connect retry time 1;
  ipv4 {{ import all; export none; }};
}}""",
    }
    processes = []
    try:
        for name, text in configs.items():
            (tmp_path / f"{name}.conf").write_text(text)
            processes.append(
                subprocess.Popen(
                    ["bird", "-f", "-c", f"{tmp_path}/{name}.conf", "-s", f"{tmp_path}/{name}.ctl"]
                )
            )
        provider = bird_bgp_state(str(tmp_path / "core.ctl"))

        def established():
            try:
                state = provider(["127.0.0.1"]).get("127.0.0.1")
            except RuntimeError:  # control socket not there yet
                return None
            return state if state and state.accepted == 2 else None

        state = poll(established, timeout=15)
        assert state == PeerState(established=True, received=2, accepted=2, active=2)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
