"""Writes for IP address management: allocation and release, safe under concurrency.

Allocation locks the cluster's pools of the family (on SQLite: the database's write lock),
so allocators of one pool take turns; the unique constraint on IPAddress.address is the
last line of defence, and a collision there is retried rather than reported.

One allocation, whatever the database: the lock, then a statement that takes the first
free address of the pool's search ranges (next-fit from the cursor, wrapping once, less
the exclusions), moves the cursor and writes the ledger row. apps/ipam/allocation_sql.py
holds that statement's text for PostgreSQL (one statement) and for SQLite (three).
"""

import functools

import netaddr
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.billing.services import usage_record_ip, usage_record_ip_sql
from apps.core.errors import Refused
from apps.core.services import instance_create, instance_delete, instance_update
from apps.core.validators import parse_ip
from apps.ipam import allocation_sql
from apps.ipam.models import IPAddress, IPPool, Network, address_key

COLLISION_RETRIES = 5


class PoolExhausted(Refused):
    """No pool of the cluster has a free address of the asked family."""

    code, field = "pool_exhausted", "cluster"


@functools.lru_cache(maxsize=256)
def _excluded_ranges(excluded: str, version: int) -> tuple[tuple[int, int], ...]:
    """A pool's `excluded` text as sorted, merged (first, last) integer ranges of `version`.

    Raises:
        ValueError: naming the entry that is not an address or a range (IPPool.excluded_set).
    """
    ranges = IPPool(excluded=excluded).excluded_set().iter_ipranges()
    return tuple((r.first, r.last) for r in ranges if r.version == version)


def search_ranges(
    first: int, last: int, cursor: str, excluded: tuple[tuple[int, int], ...]
) -> list[tuple[int, int]]:
    """Where to look for a free address, in order: from after the cursor to the end of the
    pool, then from its start (next-fit, wrapping around once), less the excluded ranges."""
    start = int(cursor, 16) + 1 if cursor else first
    if not first <= start <= last:
        start = first
    result = []
    for low, high in ((start, last), (first, start - 1)):
        for excluded_first, excluded_last in excluded:
            if low > high or excluded_first > high:
                break
            if excluded_last < low:
                continue
            if excluded_first > low:
                result.append((low, excluded_first - 1))
            low = excluded_last + 1
        if low <= high:
            result.append((low, high))
    return result


def cluster_has_pool(cluster, *, family: int) -> bool:
    return IPPool.objects.filter(network__cluster=cluster, network__family=family).exists()


def ip_allocate(*, cluster, vm, family: int = 4) -> IPAddress:
    """Give `vm` a free address of `family` from the cluster's pools, in their order.

    Returns the VM's existing address of that family when it already has one, so that a
    re-run workflow never takes a second address (and writes no second ledger row).

    Raises:
        PoolExhausted: every pool of that family in the cluster is full.
    """
    for _ in range(COLLISION_RETRIES):
        try:
            return _allocate_once(cluster=cluster, vm=vm, family=family)
        except IntegrityError:
            continue
    raise PoolExhausted(f"Could not allocate an IPv{family} address after retries; try again.")


def _exhausted(*, cluster, family: int, any_pool: bool) -> PoolExhausted:
    if not any_pool:
        return PoolExhausted(f"Cluster {cluster} has no IPv{family} pool.")
    return PoolExhausted(f"Every IPv{family} pool of cluster {cluster} is full.")


@transaction.atomic
def _allocate_once(*, cluster, vm, family: int) -> IPAddress:
    """Lock the pools, then claim the first free address of the first pool that has one
    (trying the address after the cursor alone first: the usual case, and cheaper)."""
    sql = allocation_sql.for_vendor(connection.vendor)
    with connection.cursor() as cursor:
        for statement in sql.lock:
            cursor.execute(statement, {"vm": vm.pk, "family": family, "cluster": cluster.pk})
        pools = cursor.fetchall()
        if pools and pools[0][0] is None:
            return IPAddress.objects.get(pk=pools[0][5])
        for pool_id, first, last, pool_cursor, excluded, *_ in pools:
            version = netaddr.IPAddress(first).version
            ranges = search_ranges(
                int(netaddr.IPAddress(first)),
                int(netaddr.IPAddress(last)),
                pool_cursor,
                _excluded_ranges(excluded, version),
            )
            for search in (False, True) if ranges else ():
                ip = _claim(
                    cursor,
                    sql,
                    pool_id=pool_id,
                    ranges=ranges,
                    version=version,
                    vm=vm,
                    search=search,
                )
                if ip is not None:
                    return ip
    raise _exhausted(cluster=cluster, family=family, any_pool=bool(pools))


_CLAIMED_FIELDS = ["id", "pool_id", "address", "family", "key", "status", "vm_id",
                   "description", "created"]  # fmt: skip


def _claim(
    cursor,
    sql: allocation_sql.AllocationSQL,
    *,
    pool_id: int,
    ranges: list[tuple[int, int]],
    version: int,
    vm,
    search: bool,
) -> IPAddress | None:
    """Take for `vm` the first free address of `ranges` (tried in order), or with `search`
    false only the first address if it is free; move the pool's cursor to it and write the
    ledger row. Returns the address, or None when there was none to take."""
    created = timezone.now()
    usage, params = usage_record_ip_sql(vm=vm, assigned=True, at=created, source="ip")
    first_free = []
    for i, (low, high) in enumerate(ranges if search else ranges[:1]):
        first_free.append(sql.first_free_in_range.format(i=i) if search else sql.next_if_free)
        params[f"low{i}"], params[f"high{i}"] = sql.bound(low, version), sql.bound(high, version)
    status = IPAddress.Status.ALLOCATED
    params.update(
        pool=pool_id,
        family=version,
        status=status,
        vm=vm.pk,
        created=IPAddress._meta.get_field("created").get_db_prep_save(created, connection),
    )
    cursor.execute(sql.claim.format(first_free=",".join(first_free), usage=usage), params)
    row = cursor.fetchone()
    if row is None:
        return None
    ip_id, address, key = row
    params.update(claimed_id=ip_id, claimed_key=key)
    for statement in sql.after_claim:
        cursor.execute(statement.format(usage=usage), params)
    values = [ip_id, pool_id, address, version, key, status, vm.pk, "", created]
    ip = IPAddress.from_db(connection.alias, _CLAIMED_FIELDS, values)
    ip.vm = vm
    return ip


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


class AddressInUse(Refused):
    """The address is allocated to a VM; only its VM's teardown gives it back."""

    code, field = "address_in_use", "status"


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
