"""Hypervisor drivers behind one interface; `driver_for(name)` picks one."""

from workers.hypervisors.base import GuestImage, GuestSpec, HypervisorDriver
from workers.hypervisors.libvirt import LibvirtDriver
from workers.hypervisors.lxd import LxdDriver
from workers.hypervisors.netns import NetnsDriver

DRIVERS: dict[str, type[HypervisorDriver]] = {
    "netns": NetnsDriver,
    "libvirt": LibvirtDriver,
    "lxd": LxdDriver,
}


def driver_for(name: str, **options) -> HypervisorDriver:
    """The driver called `name` (a Node.hypervisor value); options go to its constructor."""
    try:
        return DRIVERS[name](**options)
    except KeyError:
        raise ValueError(f"no hypervisor driver {name!r}; known: {sorted(DRIVERS)}") from None


__all__ = ["GuestImage", "GuestSpec", "HypervisorDriver", "driver_for"]
