"""The driver interface the vm_create steps use: one remote command per step for the lab's
netns driver, and defaults built from the basic operations for libvirt and LXD."""

import shlex
import subprocess

import pytest

from workers.hypervisors import DRIVERS, GuestSpec, HypervisorDriver
from workers.hypervisors.netns import NetnsDriver
from workers.ssh import CommandResult

GUEST = GuestSpec(
    guest_id="7", vcpus=1, memory_mb=128, disk_gb=1, ipv4="203.0.113.10", vnet="vnet7",
    gateway_ipv4="10.0.0.1", gateway_mac="02:00:0a:00:00:01", guest_mac="02:fa:00:00:00:07",
)  # fmt: skip


class RecordingSession:
    """Stands in for an SSHSession: records each command, answers with `stdout`."""

    def __init__(self, stdout: str = ""):
        self.commands: list[str] = []
        self.stdout = stdout

    def run(self, command: str, *, check: bool = True, timeout=None, stdin: str = ""):
        self.commands.append(command)
        return CommandResult(command=command, exit_status=0, stdout=self.stdout, stderr="")


def test_every_driver_shares_the_base_interface():
    assert all(issubclass(driver, HypervisorDriver) for driver in DRIVERS.values())


@pytest.mark.parametrize(("stdout", "created"), [("created\n", True), ("exists\n", False)])
def test_netns_create_if_missing_is_one_command_that_says_whether_it_created(stdout, created):
    session = RecordingSession(stdout)
    assert NetnsDriver().create_if_missing(session, GUEST) is created
    assert len(session.commands) == 1
    assert "ip netns add fabvm-7" in session.commands[0]


def test_netns_attach_and_start_is_one_command_ending_with_the_guest_link_up():
    session = RecordingSession()
    NetnsDriver().attach_and_start(session, GUEST)
    [command] = session.commands
    assert "ip route replace 203.0.113.10/32 dev vnet7" in command
    assert "ip -n fabvm-7 link set eth0 up" in command


def test_netns_scripts_are_valid_sh():
    for method in (NetnsDriver.create_if_missing, NetnsDriver.attach_and_start):
        session = RecordingSession("created\n")
        method(NetnsDriver(), session, GUEST)
        shell, flags, script = shlex.split(session.commands[0])
        assert (shell, flags) == ("sh", "-ec")
        subprocess.run(["sh", "-n", "-c", script], check=True)  # parsed, nothing run


class Calls(HypervisorDriver):
    """A driver made only of the basic operations, recording the order they are called."""

    name = "calls"

    def __init__(self, *, exists: bool):
        self.calls: list[str] = []
        self._exists = exists

    def exists(self, session, guest):
        self.calls.append("exists")
        return self._exists

    def create(self, session, guest):
        self.calls.append("create")

    def attach_network(self, session, guest):
        self.calls.append("attach_network")

    def start(self, session, guest):
        self.calls.append("start")

    def detach_network(self, session, guest): ...
    def stop(self, session, guest): ...
    def delete(self, session, guest): ...


@pytest.mark.parametrize(("exists", "calls"), [(False, ["exists", "create"]), (True, ["exists"])])
def test_default_create_if_missing_checks_then_creates(exists, calls):
    driver = Calls(exists=exists)
    assert driver.create_if_missing(RecordingSession(), GUEST) is not exists
    assert driver.calls == calls


def test_default_attach_and_start_attaches_then_starts():
    driver = Calls(exists=True)
    driver.attach_and_start(RecordingSession(), GUEST)
    assert driver.calls == ["attach_network", "start"]
