"""Tiny guest images for the lab, built offline from Debian packages.

    python -m lab.images build [DIR]     # default /var/cache/fabric-lab-images

- **QEMU/libvirt**: the Debian cloud kernel (`linux-image-*-cloud-amd64`, `dpkg -x`) and a
  busybox-static initramfs. Its /init loads the virtio modules, reads `fabric.ip=`,
  `fabric.gw=` (and `fabric.ip6=`, `fabric.gw6=`, `fabric.name=`) from /proc/cmdline — the
  libvirt driver puts them there — sets the /32 and `default via GW dev eth0 onlink`.
  When the guest has a virtio disk (`/dev/vda`), /init mounts it on /data.
- **QEMU disk** (`disk.qcow2`): a small ext4 filesystem (`mke2fs -d`, nothing mounted on
  the build host) holding `/fabric-image`; the lab catalog attaches it as the guest's disk,
  so every VM gets a qcow2 overlay of it (its own writes, the plan's size).
- **LXD**: a busybox rootfs + `metadata.yaml` (a split image for `lxc image import`). LXD's
  routed NIC gives the container its address and default route before /sbin/init runs.

Both then run the same `fabric-guest-up`: it writes the guest's identity (hostname, eth0
MAC, address, kernel, boot id) to /www/index.html, serves it with busybox httpd on port 80
and prints `fabric-guest: ready` on the console, which is what the drivers wait for.
Whoever fetches http://VM_IP/ learns who answered: the node's vnet has the cluster gateway
MAC, the guest's eth0 its own (02:fa:...), and a QEMU guest has a boot id of its own.

**Lab only**: the QEMU initramfs has a CGI, `http://VM_IP/cgi-bin/run`, that runs the POSTed
body with `sh` and answers its output and `exit=N` (the tests' way to act inside a QEMU
guest, as `lxc exec` is for containers). It is part of this lab image, never of the product.

A third artifact, `initrd-noboot.img`, is a guest that never comes up (its /init hangs
before the network): the boot-timeout failure path.

Everything is cached in DIR with a manifest; a later build with the same recipe reuses it
without touching the network.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_DIR = Path(os.environ.get("FABRIC_LAB_IMAGES_DIR", "/var/cache/fabric-lab-images"))
KERNEL_METAPACKAGE = "linux-image-cloud-amd64"
READY_MARKER = "fabric-guest: ready"
LXD_ALIAS = "fabric-lab-busybox"
VIRTIO_MODULES = [
    "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
    "failover", "net_failover", "virtio_net", "virtio_blk",
]  # fmt: skip
DISK_SIZE = "1G"  # the lab disk's filesystem: the smallest plan (1 GiB) holds it
DISK_STAMP = "fabric lab disk image\n"

GUEST_UP = f"""\
#!/bin/sh
# Prove who answers: identity on http://ADDRESS/, then tell the console we are ready.
mkdir -p /www
addr=$(ip -4 -o addr show dev eth0 | awk '{{print $4}}' | head -n 1)
echo "fabric-guest hostname=$(hostname) mac=$(cat /sys/class/net/eth0/address) \\
addr=$addr kernel=$(uname -r) boot_id=$(cat /proc/sys/kernel/random/boot_id)" >/www/index.html
httpd -p 80 -h /www
echo "{READY_MARKER} $(hostname) $addr" >/dev/console
"""

QEMU_INIT = f"""\
#!/bin/busybox sh
# Fabric lab guest (QEMU): the public /32 from the kernel command line.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in {" ".join(VIRTIO_MODULES)}; do
  insmod /lib/modules/$module.ko 2>/dev/null
done
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    fabric.ip=*) ip4="${{arg#*=}}" ;;
    fabric.gw=*) gw4="${{arg#*=}}" ;;
    fabric.ip6=*) ip6="${{arg#*=}}" ;;
    fabric.gw6=*) gw6="${{arg#*=}}" ;;
    fabric.name=*) name="${{arg#*=}}" ;;
  esac
done
hostname "${{name:-fabric-guest}}"
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
ip link set lo up
ip link set eth0 up
ip addr add "$ip4/32" dev eth0
ip route add default via "$gw4" dev eth0 onlink
if [ -n "$ip6" ]; then
  ip -6 addr add "$ip6/128" dev eth0 nodad
  [ -n "$gw6" ] && ip -6 route add default via "$gw6" dev eth0
fi
if grep -qx 0x0002 /sys/bus/virtio/devices/*/device 2>/dev/null; then  # a virtio disk
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  mkdir -p /data
  mount -t ext4 /dev/vda /data || echo "fabric-guest: /dev/vda not mounted" >/dev/console
fi
/bin/fabric-guest-up
while :; do sleep 3600; done
"""

# Lab only (see the module docstring): run the request body as a shell script.
GUEST_RUN_CGI = """\
#!/bin/sh
echo "Content-Type: text/plain"
echo
script=$(head -c "${CONTENT_LENGTH:-0}")
sh -c "$script" 2>&1
echo "exit=$?"
"""

NOBOOT_INIT = """\
#!/bin/busybox sh
# A guest that never comes up: no network, no ready line.
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo "fabric-guest: stuck before the network" >/dev/console
while :; do /bin/busybox sleep 3600; done
"""

LXD_INITTAB = """\
::sysinit:/etc/init.d/rcS
::ctrlaltdel:/bin/poweroff -f
"""

LXD_RCS = """\
#!/bin/sh
# Fabric lab guest (LXD): the routed NIC already carries the address and default route.
# LXC has mounted /proc, /sys and the container's cgroups (/sys/fs/cgroup) already
grep -q " /proc " /proc/mounts 2>/dev/null || mount -t proc proc /proc
grep -q " /sys " /proc/mounts || mount -t sysfs sysfs /sys
ip link set lo up
/bin/fabric-guest-up
"""

LXD_METADATA = """\
architecture: x86_64
creation_date: {created}
properties:
  description: Fabric lab busybox ({busybox})
  os: busybox
  release: fabric-lab
templates: {{}}
"""

RECIPE_PARTS = [
    GUEST_UP, QEMU_INIT, GUEST_RUN_CGI, NOBOOT_INIT, LXD_INITTAB, LXD_RCS, LXD_METADATA,
    KERNEL_METAPACKAGE, DISK_SIZE, DISK_STAMP,
]  # fmt: skip
RECIPE = hashlib.sha256("\n".join(RECIPE_PARTS).encode()).hexdigest()[:16]


class ImageBuildError(Exception):
    """An image could not be built (the message says which step and why)."""


@dataclass(frozen=True)
class LabImages:
    """Paths of the built artifacts (readable by libvirt's QEMU user) and their versions."""

    dir: str
    recipe: str
    kernel_package: str
    busybox_package: str
    kernel: str
    initrd: str
    noboot_initrd: str
    disk: str
    lxd_metadata: str
    lxd_rootfs: str
    lxd_alias: str = LXD_ALIAS
    ready_marker: str = READY_MARKER

    def exists(self) -> bool:
        paths = [self.kernel, self.initrd, self.noboot_initrd, self.disk, self.lxd_metadata,
                 self.lxd_rootfs]  # fmt: skip
        return all(Path(path).is_file() for path in paths)


def _run(command: list[str], *, cwd: Path | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ImageBuildError(
            f"`{' '.join(command)}` failed ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-1500:]}"
        )
    return result.stdout


def _kernel_package() -> str:
    """The versioned kernel package the cloud metapackage currently depends on."""
    for attempt in range(2):
        if attempt:  # the package lists may never have been fetched on this machine
            _run(["apt-get", "update", "-qq"])
        result = subprocess.run(["apt-cache", "depends", KERNEL_METAPACKAGE],
                                capture_output=True, text=True, check=False)  # fmt: skip
        for line in result.stdout.splitlines():
            name = line.strip().removeprefix("Depends:").strip()
            if line.strip().startswith("Depends:") and name.startswith("linux-image-"):
                return name
    raise ImageBuildError(
        f"apt-cache knows no kernel for {KERNEL_METAPACKAGE}; run `apt-get update` first"
    )


def _download(packages: list[str], into: Path) -> dict[str, Path]:
    _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *packages], cwd=into)
    debs = {}
    for package in packages:
        found = sorted(into.glob(f"{package}_*.deb"))
        if not found:
            raise ImageBuildError(f"apt-get download {package} left no .deb in {into}")
        debs[package] = found[-1]
    return debs


def _cpio_gz(tree: Path, output: Path) -> None:
    """A gzipped newc cpio archive of `tree` (an initramfs), written atomically."""
    temp = output.with_suffix(".tmp")
    paths = sorted(str(path.relative_to(tree)) for path in tree.rglob("*"))
    names = "".join(f"./{path}\n" for path in paths).encode()
    with temp.open("wb") as out:
        cpio = subprocess.run(
            ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
            cwd=tree, input=names, capture_output=True, check=True,
        )  # fmt: skip
        out.write(_gzip(cpio.stdout))
    temp.replace(output)


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=6, mtime=0)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _busybox_tree(root: Path, busybox: Path) -> None:
    """A root with busybox-static, its applet links, and the shared `fabric-guest-up`."""
    for sub in ("bin", "sbin", "dev", "proc", "sys", "tmp", "run", "etc", "www", "root"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, root / "bin/busybox")
    (root / "bin/busybox").chmod(0o755)
    applets = _run([str(busybox), "--list"]).split()
    for applet in applets:
        link = root / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    _write(root / "bin/fabric-guest-up", GUEST_UP, 0o755)
    _write(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    _write(root / "etc/group", "root:x:0:\n")


def _disk_image(work: Path, output: Path) -> None:
    """An ext4 filesystem holding /fabric-image, as a qcow2 file (written atomically).

    `mke2fs -d` fills the filesystem from a directory: nothing is mounted on this machine.
    """
    tree = work / "disk"
    _write(tree / "fabric-image", DISK_STAMP)
    raw = work / "disk.raw"
    _run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "fabric-lab", "-E", "root_owner=0:0",
          "-d", str(tree), str(raw), DISK_SIZE])  # fmt: skip
    temp = output.with_suffix(".tmp")
    _run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(temp)])
    temp.replace(output)


def build(directory: Path | str = DEFAULT_DIR, *, force: bool = False) -> LabImages:
    """Build the lab images into `directory`, or reuse the ones already built there.

    Raises:
        ImageBuildError: apt-get, dpkg, cpio or tar failed (the message has their output).
    """
    directory = Path(directory)
    manifest = directory / "manifest.json"
    if manifest.exists() and not force:
        recorded = json.loads(manifest.read_text())
        if recorded.get("recipe") == RECIPE:  # an older recipe may lack some fields
            images = LabImages(**recorded)
            if images.exists():
                return images
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as temp:
        work = Path(temp)
        kernel_package = _kernel_package()
        debs = _download([kernel_package, "busybox-static"], work)
        for name, deb in debs.items():
            _run(["dpkg-deb", "-x", str(deb), str(work / name)])
        busybox = work / "busybox-static/bin/busybox"
        (vmlinuz,) = (work / kernel_package / "boot").glob("vmlinuz-*")
        (modules_dir,) = (work / kernel_package / "lib/modules").iterdir()

        initramfs = work / "initramfs"
        _busybox_tree(initramfs, busybox)
        (initramfs / "lib/modules").mkdir(parents=True)
        for module in VIRTIO_MODULES:
            found = list(modules_dir.rglob(f"{module}.ko"))
            if not found:
                raise ImageBuildError(f"{kernel_package} has no module {module}.ko")
            shutil.copy2(found[0], initramfs / "lib/modules")
        _write(initramfs / "init", QEMU_INIT, 0o755)
        _write(initramfs / "www/cgi-bin/run", GUEST_RUN_CGI, 0o755)
        noboot = work / "noboot"
        (noboot / "bin").mkdir(parents=True)
        (noboot / "dev").mkdir()
        shutil.copy2(busybox, noboot / "bin/busybox")
        _write(noboot / "init", NOBOOT_INIT, 0o755)

        rootfs = work / "rootfs"
        _busybox_tree(rootfs, busybox)
        (rootfs / "sbin/init").symlink_to("../bin/busybox")
        _write(rootfs / "etc/inittab", LXD_INITTAB)
        _write(rootfs / "etc/init.d/rcS", LXD_RCS, 0o755)
        meta = work / "meta"
        busybox_version = debs["busybox-static"].name.split("_")[1].replace("%3a", ":")
        _write(
            meta / "metadata.yaml",
            LXD_METADATA.format(created=int(time.time()), busybox=busybox_version),
        )

        images = LabImages(
            dir=str(directory), recipe=RECIPE, kernel_package=kernel_package,
            busybox_package=f"busybox-static {busybox_version}",
            kernel=str(directory / "vmlinuz"), initrd=str(directory / "initrd.img"),
            noboot_initrd=str(directory / "initrd-noboot.img"),
            disk=str(directory / "disk.qcow2"),
            lxd_metadata=str(directory / "lxd-metadata.tar.gz"),
            lxd_rootfs=str(directory / "lxd-rootfs.tar.gz"),
        )  # fmt: skip
        shutil.copy2(vmlinuz, images.kernel)
        Path(images.kernel).chmod(0o644)
        _cpio_gz(initramfs, Path(images.initrd))
        _cpio_gz(noboot, Path(images.noboot_initrd))
        _disk_image(work, Path(images.disk))
        for tree, output in ((meta, images.lxd_metadata), (rootfs, images.lxd_rootfs)):
            _run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-C", str(tree),
                  "-czf", f"{output}.tmp", "."])  # fmt: skip
            Path(f"{output}.tmp").replace(output)
        for path in (images.initrd, images.noboot_initrd, images.disk, images.lxd_metadata,
                     images.lxd_rootfs):  # fmt: skip
            Path(path).chmod(0o644)
    manifest.write_text(json.dumps(asdict(images), indent=2) + "\n")
    return images


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["build"])
    parser.add_argument("dir", nargs="?", default=str(DEFAULT_DIR))
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        images = build(args.dir, force=args.force)
    except ImageBuildError as exc:
        print(f"image build failed: {exc}", file=sys.stderr)
        return 1
    print(f"lab images in {images.dir} ({time.monotonic() - started:.1f}s)")
    for key, value in asdict(images).items():
        print(f"  {key:16} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
