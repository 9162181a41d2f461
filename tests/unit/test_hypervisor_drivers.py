"""The driver interface the vm_create steps use: one remote command per step for the lab's
netns driver, and defaults built from the basic operations for libvirt and LXD."""

import shlex
import subprocess

import pytest

from workers.hypervisors import DRIVERS, GuestSpec, HypervisorDriver
from workers.hypervisors.base import host_side_problems
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


COMPLETE_VNET = (
    "link=9: vnet7@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP "
    "mode DEFAULT group default qlen 1000\\    link/ether 02:00:0a:00:00:01 brd "
    "ff:ff:ff:ff:ff:ff link-netns fabvm-7\n"
    "addr=9: vnet7    inet 10.0.0.1/32 scope global vnet7\\       valid_lft forever "
    "preferred_lft forever\n"
    "proxy_arp=1\n"
    "route4=203.0.113.10 scope link\n"
    "guest_link=2: eth0@if9: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n"
    "guest_addr=2: eth0    inet 203.0.113.10/32 scope global eth0\n"
    "guest_default=default via 10.0.0.1 dev eth0 onlink\n"
)


def test_a_complete_vnet_and_guest_have_no_network_problems():
    session = RecordingSession(COMPLETE_VNET)
    assert NetnsDriver().network_problems(session, GUEST) == []
    [command] = session.commands  # one round trip
    subprocess.run(["sh", "-n", "-c", shlex.split(command)[2]], check=True)


@pytest.mark.parametrize(
    ("replace", "problem"),
    [
        (("UP,LOWER_UP> mtu 1500 qdisc", "LOWER_UP> mtu 1500 qdisc"), "vnet7 was down"),
        (("link/ether 02:00:0a:00:00:01", "link/ether 02:aa:bb:cc:dd:ee"),
         "vnet7 lacked the gateway MAC 02:00:0a:00:00:01"),
        (("inet 10.0.0.1/32", "inet 10.0.0.2/32"), "vnet7 lacked the gateway address 10.0.0.1"),
        (("proxy_arp=1", "proxy_arp=0"), "vnet7 lacked proxy ARP"),
        (("route4=203.0.113.10 scope link", "route4="),
         "route 203.0.113.10/32 dev vnet7 was missing"),
        (("eth0@if9: <BROADCAST,MULTICAST,UP,LOWER_UP>", "eth0@if9: <BROADCAST,MULTICAST>"),
         "the guest's eth0 was down"),
        (("inet 203.0.113.10/32", "inet 203.0.113.11/32"),
         "the guest lacked its address 203.0.113.10"),
        (("guest_default=default via 10.0.0.1 dev eth0 onlink", "guest_default="),
         "the guest had no default route"),
    ],
)  # fmt: skip
def test_each_missing_piece_of_a_vm_network_is_named(replace, problem):
    session = RecordingSession(COMPLETE_VNET.replace(*replace))
    assert NetnsDriver().network_problems(session, GUEST) == [problem]


def test_a_missing_vnet_is_one_problem():
    seen = {"link": "", "addr": "", "proxy_arp": "", "route4": ""}
    assert host_side_problems(GUEST, seen) == ["vnet7 was missing"]


def test_netns_start_restores_the_guests_address_and_default_route():
    session = RecordingSession()
    NetnsDriver().start(session, GUEST)
    [command] = session.commands
    assert "ip -n fabvm-7 addr replace 203.0.113.10/32 dev eth0" in command
    assert "ip -n fabvm-7 route replace default via 10.0.0.1 dev eth0 onlink" in command
