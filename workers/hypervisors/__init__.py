"""Hypervisor drivers behind one interface; `driver_for(name)` picks one."""

from workers.hypervisors.base import GuestSpec, HypervisorDriver
from workers.hypervisors.netns import NetnsDriver

DRIVERS: dict[str, type[HypervisorDriver]] = {"netns": NetnsDriver}


def driver_for(name: str) -> HypervisorDriver:
    try:
        return DRIVERS[name]()
    except KeyError:
        raise ValueError(f"no hypervisor driver {name!r}; known: {sorted(DRIVERS)}") from None


__all__ = ["GuestSpec", "HypervisorDriver", "driver_for"]
