"""A disk per VM: libvirt guests get a qcow2 overlay of their image's disk at the plan's size
(real `qemu-img` on files in a temporary directory), LXD containers the plan's root size."""

import dataclasses
import hashlib
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from workers.errors import HypervisorError
from workers.hypervisors import GuestImage, GuestSpec
from workers.hypervisors.libvirt import LibvirtDriver, domain_xml
from workers.hypervisors.lxd import LxdDriver, enforces_disk_size, instance_options
from workers.ssh import CommandResult, SSHSession

pytestmark = pytest.mark.skipif(not shutil.which("qemu-img"), reason="qemu-img not installed")

GUEST = GuestSpec(
    guest_id="7", vcpus=2, memory_mb=192, disk_gb=2, ipv4="203.0.113.10", vnet="vnet7",
    gateway_ipv4="10.0.0.1", gateway_mac="02:00:0a:00:00:01", guest_mac="02:fa:00:00:00:07",
)  # fmt: skip


LOCAL = ("test -e ", "qemu-img ", "mkdir -p -- ", "mv -f -- ", "rm -f -- ")


class LocalSession:
    """Stands in for an SSHSession: runs the file commands here (on files under tmp_path);
    `virsh` answers "no such domain", anything else (`ip`...) succeeds without running."""

    write_file_atomic = SSHSession.write_file_atomic

    def __init__(self):
        self.commands: list[str] = []

    def run(self, command: str, *, check: bool = True, timeout=None, stdin: str = ""):
        self.commands.append(command)
        if "virsh" in command:
            result = CommandResult(command=command, exit_status=1, stdout="", stderr="no domain")
            assert not check, result
            return result
        local = command.startswith(LOCAL) or (
            command.startswith("sh -ec") and "qemu-img create" in command
        )
        if not local:
            return CommandResult(command=command, exit_status=0, stdout="", stderr="")
        done = subprocess.run(["sh", "-c", command], input=stdin, capture_output=True,
                              text=True, check=False)  # fmt: skip
        result = CommandResult(command, done.returncode, done.stdout, done.stderr)
        assert result.ok or not check, result
        return result


def qemu_img_info(path: Path) -> dict:
    import json

    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return json.loads(out)


@pytest.fixture
def image(tmp_path) -> Path:
    """A 1 GiB catalog disk (raw, sparse) holding a few known bytes."""
    path = tmp_path / "catalog" / "base.raw"
    path.parent.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(path), "1G"], check=True)
    with path.open("r+b") as f:
        f.write(b"catalog image")
    return path


def guest_on(image: Path, **fields) -> GuestSpec:
    return dataclasses.replace(GUEST, image=GuestImage(kernel="/k", initrd="/i", disk=str(image)),
                               **fields)  # fmt: skip


def test_each_guest_gets_its_own_overlay_of_the_plans_size_and_the_image_stays_untouched(
    tmp_path, image
):
    driver = LibvirtDriver(state_dir=str(tmp_path / "hv"))
    Path(driver.layout.guest_dir).mkdir(parents=True)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    first, second = guest_on(image), guest_on(image, guest_id="8", disk_gb=3)

    assert driver.ensure_disk(LocalSession(), first) is True
    assert driver.ensure_disk(LocalSession(), second) is True

    disks = [Path(driver.layout.disk_path(g)) for g in (first, second)]
    assert disks[0] != disks[1] and all(d.parent == Path(driver.layout.guest_dir) for d in disks)
    for disk, size in zip(disks, (2, 3), strict=True):
        info = qemu_img_info(disk)
        assert info["format"] == "qcow2"
        assert info["virtual-size"] == size * 1024**3
        assert info["backing-filename"] == str(image)
        assert info["backing-filename-format"] == "raw"
    # a write into one guest's disk lands in its overlay: not in the image, not in the other
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 64k", str(disks[0])],
                   check=True, capture_output=True)  # fmt: skip
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before
    read = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0xab 0 64k", str(disks[1])],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert "Pattern verification failed" in read.stdout, "the other guest does not see it"


def test_a_rerun_keeps_the_disk_that_exists(tmp_path, image):
    driver = LibvirtDriver(state_dir=str(tmp_path / "hv"))
    Path(driver.layout.guest_dir).mkdir(parents=True)
    guest = guest_on(image)
    driver.ensure_disk(LocalSession(), guest)
    disk = Path(driver.layout.disk_path(guest))
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0xcd 0 4k", str(disk)],
                   check=True, capture_output=True)  # fmt: skip
    written = disk.read_bytes()

    again = LocalSession()
    assert driver.ensure_disk(again, guest) is False
    assert disk.read_bytes() == written, "the guest's data survives a re-run"
    assert not any("qemu-img create" in c for c in again.commands)


def test_an_image_larger_than_the_plan_is_refused_before_anything_is_made(tmp_path, image):
    driver = LibvirtDriver(state_dir=str(tmp_path / "hv"))
    Path(driver.layout.guest_dir).mkdir(parents=True)
    with pytest.raises(HypervisorError, match="1 GiB, larger than the plan's 0 GiB"):
        driver.ensure_disk(LocalSession(), guest_on(image, disk_gb=0))
    with pytest.raises(HypervisorError, match="unreadable"):
        driver.ensure_disk(LocalSession(), guest_on(tmp_path / "missing.qcow2"))
    assert list(Path(driver.layout.guest_dir).iterdir()) == []


def test_create_makes_the_overlay_before_defining_the_domain_on_it(tmp_path, image):
    driver = LibvirtDriver(state_dir=str(tmp_path / "hv"), virsh="virsh")
    session = LocalSession()
    guest = guest_on(image)
    with pytest.raises(AssertionError):  # `virsh define` fails here: no libvirtd
        driver.create(session, guest)
    create = next(i for i, c in enumerate(session.commands) if "qemu-img create" in c)
    define = next(i for i, c in enumerate(session.commands) if " define " in c)
    assert create < define
    xml = Path(driver.layout.guest_dir, f"{guest.name}.xml").read_text()
    assert ET.fromstring(xml).find("devices/disk/source").get("file") == (
        driver.layout.disk_path(guest)
    )


class Recording:
    def __init__(self):
        self.commands: list[str] = []

    def run(self, command: str, *, check: bool = True, timeout=None, stdin: str = ""):
        self.commands.append(command)
        return CommandResult(command=command, exit_status=1, stdout="", stderr="")


def test_delete_removes_the_guests_disk():
    driver = LibvirtDriver(state_dir="/srv/hv")
    session = Recording()
    driver.delete(session, guest_on(Path("/srv/img/base.qcow2")))
    [script] = [shlex.split(c)[2] for c in session.commands if c.startswith("sh -ec")]
    assert "/srv/hv/libvirt/guests/fabric-vm-7.qcow2 " in script
    assert "/srv/hv/libvirt/guests/fabric-vm-7.qcow2.tmp" in script


def test_domain_with_kernel_and_disk_boots_the_kernel_on_the_overlay():
    guest = guest_on(Path("/srv/img/base.qcow2"))
    root = ET.fromstring(domain_xml(guest, guest_dir="/srv/guests"))
    assert root.findtext("os/kernel") == "/k"
    disk = root.find("devices/disk")
    assert disk.find("source").get("file") == "/srv/guests/fabric-vm-7.qcow2"
    assert disk.find("driver").get("type") == "qcow2"
    assert (root.findtext("vcpu"), root.findtext("memory")) == ("2", "192")


def test_lxd_container_gets_the_plans_cpus_ram_and_root_size():
    assert instance_options(GUEST) == ("-c limits.cpu=2 -c limits.memory=192MiB -d root,size=2GiB")

    class Answers(Recording):
        def run(self, command, *, check=True, timeout=None, stdin=""):
            self.commands.append(command)
            ok = " image info " in command or " config device list " in command
            return CommandResult(command, 0 if ok else 1, "", "")

    session = Answers()
    guest = dataclasses.replace(GUEST, image=GuestImage(lxd_alias="bb"))
    with pytest.raises(Exception):  # noqa: B017,PT011 - stops at `lxc start`, not answered
        LxdDriver().create(session, guest)
    [init] = [c for c in session.commands if " init " in c]
    assert "-d root,size=2GiB" in init and "limits.memory=192MiB" in init


@pytest.mark.parametrize(
    ("driver", "enforced"),
    [("btrfs", True), ("zfs", True), ("lvm", True), ("ceph", True), ("dir", False), ("", False)],
)
def test_which_lxd_pools_hold_containers_to_their_size(driver, enforced):
    assert enforces_disk_size({"lxd_storage_driver": driver}) is enforced
    assert enforces_disk_size({}) is False


class FreshLxd(Recording):
    """An LXD that runs but is not initialised; after the preseed its default profile's
    root disk is on pool `default`, with the driver the preseed asked for."""

    def __init__(self):
        super().__init__()
        self.preseed = ""

    def run(self, command, *, check=True, timeout=None, stdin=""):
        self.commands.append(command)
        out, ok = "", True
        if "lxc storage show default" in command:
            ok = bool(self.preseed)
        elif "lxd init --preseed" in command:
            self.preseed = stdin
        elif "profile device get default root pool" in command:
            out = "default\n"
        elif "storage list --format csv" in command:
            driver = "btrfs" if "driver: btrfs" in self.preseed else "dir"
            out = f"default,{driver},/srv/hv/lxd/disks/default.img,,1,CREATED\n"
        elif "lxc version" in command:
            out = "Client version: 5.0.2\nServer version: 5.0.2\n"
        return CommandResult(command, 0 if ok else 1, out, "")


def test_node_setup_gives_lxd_a_btrfs_pool_of_the_nodes_disk_and_records_its_driver():
    from workers.node_setup import ensure_lxd

    session = FreshLxd()
    facts = ensure_lxd(session, state_dir="/srv/hv", disk_gb=10)
    assert "driver: btrfs" in session.preseed and "size: 10GiB" in session.preseed
    assert facts == {"lxd": "5.0.2", "lxc": "5.0.2", "lxd_storage_pool": "default",
                     "lxd_storage_driver": "btrfs"}  # fmt: skip
    assert enforces_disk_size(facts)


def test_node_setup_leaves_an_initialised_lxd_as_it_is_and_says_what_its_pool_is():
    from workers.node_setup import ensure_lxd

    session = FreshLxd()
    session.preseed = "driver: dir"  # initialised before, by someone else
    facts = ensure_lxd(session)
    assert not any("--preseed" in c for c in session.commands)
    assert facts["lxd_storage_driver"] == "dir" and not enforces_disk_size(facts)
