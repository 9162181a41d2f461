"""Writes for IP address management: allocation and release, safe under concurrency.

Allocation locks the pool row (SELECT ... FOR UPDATE), so allocators of one pool take
turns; the unique constraint on IPAddress.address is the last line of defence, and a
collision there (SQLite has no row locks) is retried rather than reported.
"""

import netaddr
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.billing.services import usage_record_ip
from apps.core.services import instance_create, instance_delete, instance_update
from apps.core.validators import parse_ip
from apps.ipam.models import IPAddress, IPPool, Network, address_key

SCAN_WINDOW = 256
COLLISION_RETRIES = 5


class PoolExhausted(Exception):
    """No pool of the cluster has a free address of the asked family."""


def _first_free(pool: IPPool, excluded: netaddr.IPSet) -> int | None:
    """The first free address after the pool's cursor, wrapping around once."""
    first, last = int(pool.first), int(pool.last)
    start = int(pool.cursor, 16) + 1 if pool.cursor else first
    if not first <= start <= last:
        start = first
    version = pool.first.version
    for low, high in ((start, last), (first, start - 1)):
        window_start = low
        while window_start <= high:
            window_end = min(window_start + SCAN_WINDOW - 1, high)
            used = set(
                IPAddress.objects.filter(
                    pool=pool,
                    key__gte=f"{window_start:032x}",
                    key__lte=f"{window_end:032x}",
                ).values_list("key", flat=True)
            )
            for candidate in range(window_start, window_end + 1):
                if f"{candidate:032x}" in used:
                    continue
                if excluded and netaddr.IPAddress(candidate, version) in excluded:
                    continue
                return candidate
            window_start = window_end + 1
    return None


def cluster_has_pool(cluster, *, family: int) -> bool:
    return IPPool.objects.filter(network__cluster=cluster, network__family=family).exists()


def ip_allocate(*, cluster, vm, family: int = 4) -> IPAddress:
    """Give `vm` a free address of `family` from the cluster's pools.

    Returns the VM's existing address of that family when it already has one, so that a
    re-run workflow never takes a second address.

    Raises:
        PoolExhausted: every pool of that family in the cluster is full.
    """
    existing = IPAddress.objects.filter(vm=vm, family=family).first()
    if existing:
        return existing
    for _ in range(COLLISION_RETRIES):
        try:
            return _allocate_once(cluster=cluster, vm=vm, family=family)
        except IntegrityError:
            continue
    raise PoolExhausted(f"Could not allocate an IPv{family} address after retries; try again.")


@transaction.atomic
def _allocate_once(*, cluster, vm, family: int) -> IPAddress:
    pool_ids = list(
        IPPool.objects.filter(network__cluster=cluster, network__family=family)
        .order_by("network__prefix", "name")
        .values_list("pk", flat=True)
    )
    for pool_id in pool_ids:
        pool = IPPool.objects.select_for_update().select_related("network").get(pk=pool_id)
        found = _first_free(pool, pool.excluded_set())
        if found is None:
            continue
        address = netaddr.IPAddress(found, family)
        with transaction.atomic():
            ip = IPAddress.objects.create(
                pool=pool,
                address=str(address),
                family=family,
                key=address_key(address),
                status=IPAddress.Status.ALLOCATED,
                vm=vm,
            )
        pool.cursor = ip.key
        pool.save(update_fields=["cursor"])
        usage_record_ip(ip, vm=vm, assigned=True, at=ip.created)
        return ip
    if not pool_ids:
        raise PoolExhausted(f"Cluster {cluster} has no IPv{family} pool.")
    raise PoolExhausted(f"Every IPv{family} pool of cluster {cluster} is full.")


def ip_release(*, vm) -> list[str]:
    """Return the VM's addresses to their pools; returns what was released (idempotent)."""
    with transaction.atomic():
        addresses = list(IPAddress.objects.select_for_update().filter(vm=vm))
        released = [ip.address for ip in addresses]
        for ip in addresses:
            usage_record_ip(ip, vm=vm, assigned=False)
        IPAddress.objects.filter(pk__in=[ip.pk for ip in addresses]).delete()
    return released


# --- networks, pools and reservations (operator records) ----------------------------------------


class AddressInUse(Exception):
    """The address is allocated to a VM; only its VM's teardown gives it back."""


def network_create(**fields) -> Network:
    return instance_create(Network, **fields)


def network_update(network: Network, **fields) -> Network:
    return instance_update(network, **fields)


def network_delete(network: Network) -> None:
    instance_delete(network)


def pool_create(**fields) -> IPPool:
    return instance_create(IPPool, **fields)


def pool_update(pool: IPPool, **fields) -> IPPool:
    return instance_update(pool, **fields)


def pool_delete(pool: IPPool) -> None:
    instance_delete(pool)


def ip_reserve(*, pool: IPPool, address: str, status: str, description: str = "") -> IPAddress:
    """Take `address` out of `pool` (reserved or quarantined): it is never handed to a VM."""
    if status == IPAddress.Status.ALLOCATED:
        raise ValidationError({"status": "Addresses are allocated by ordering a VM."})
    ip = IPAddress(pool=pool, address=address, status=status, description=description)
    parsed = netaddr.IPAddress(address) if parse_ip(address) else None
    if parsed is not None:
        ip.family, ip.key = parsed.version, address_key(parsed)
    ip.full_clean()
    ip.save()
    return ip


def ip_update(ip: IPAddress, **fields) -> IPAddress:
    """Change a reserved or quarantined address (status between those two, description)."""
    if ip.status == IPAddress.Status.ALLOCATED:
        raise AddressInUse(f"{ip.address} is allocated to VM {ip.vm}.")
    if fields.get("status") == IPAddress.Status.ALLOCATED:
        raise ValidationError({"status": "Addresses are allocated by ordering a VM."})
    return instance_update(ip, **fields)


def ip_unreserve(ip: IPAddress) -> None:
    """Give a reserved or quarantined address back to its pool."""
    if ip.status == IPAddress.Status.ALLOCATED:
        raise AddressInUse(f"{ip.address} is allocated to VM {ip.vm}; delete the VM instead.")
    instance_delete(ip)
