"""Writes for IP address management: allocation and release, safe under concurrency.

Allocation locks the pool row (SELECT ... FOR UPDATE), so allocators of one pool take
turns; the unique constraint on IPAddress.address is the last line of defence, and a
collision there (SQLite has no row locks) is retried rather than reported.

On PostgreSQL an allocation is two statements: the lock, then one that searches, inserts
the address, moves the pool's cursor and writes the ledger row. Elsewhere (SQLite) the
same search runs through the ORM.
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
from apps.ipam.models import IPAddress, IPPool, Network, address_key

SCAN_WINDOW = 256
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


def _search_ranges(
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


def _first_free(pool: IPPool, excluded: netaddr.IPSet) -> int | None:
    """The first free address after the pool's cursor, wrapping around once."""
    version = pool.first.version
    ranges = tuple((r.first, r.last) for r in excluded.iter_ipranges() if r.version == version)
    for low, high in _search_ranges(int(pool.first), int(pool.last), pool.cursor, ranges):
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
                if f"{candidate:032x}" not in used:
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
    if connection.vendor == "postgresql":
        allocate_once = _allocate_once_postgresql  # looks for the existing address itself
    else:
        existing = IPAddress.objects.filter(vm=vm, family=family).first()
        if existing:
            return existing
        allocate_once = _allocate_once
    for _ in range(COLLISION_RETRIES):
        try:
            return allocate_once(cluster=cluster, vm=vm, family=family)
        except IntegrityError:
            continue
    raise PoolExhausted(f"Could not allocate an IPv{family} address after retries; try again.")


def _exhausted(*, cluster, family: int, any_pool: bool) -> PoolExhausted:
    if not any_pool:
        return PoolExhausted(f"Cluster {cluster} has no IPv{family} pool.")
    return PoolExhausted(f"Every IPv{family} pool of cluster {cluster} is full.")


@transaction.atomic
def _allocate_once(*, cluster, vm, family: int) -> IPAddress:
    """The portable allocation (SQLite): lock, search and insert through the ORM."""
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
    raise _exhausted(cluster=cluster, family=family, any_pool=bool(pool_ids))


# PostgreSQL: two statements. The first locks the cluster's pools of the family (in their
# order, so allocators never deadlock) unless the VM already has an address; the second,
# with a snapshot taken after the lock, finds the first free address of the search ranges,
# inserts it, moves the pool's cursor to it and writes the ledger row.
_LOCK_POOLS_SQL = """
WITH existing AS (
    SELECT id FROM ipam_ipaddress WHERE vm_id = %(vm)s AND family = %(family)s
), pools AS (
    SELECT p.id, host(p.first_address) AS first, host(p.last_address) AS last, p.cursor,
           p.excluded, n.prefix, p.name
    FROM ipam_ippool p JOIN ipam_network n ON n.id = p.network_id
    WHERE n.cluster_id = %(cluster)s AND n.family = %(family)s
      AND NOT EXISTS (SELECT 1 FROM existing)
    ORDER BY n.prefix, p.name
    FOR UPDATE OF p
)
SELECT id, first, last, cursor, excluded, NULL FROM pools
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, id FROM existing
"""

# The first free address of one range: its first address, or the one after the first used
# address that the next used one does not follow (LEAD over the unique index on address).
_FIRST_FREE_IN_RANGE_SQL = """
(SELECT %(low{i})s::inet WHERE NOT EXISTS
    (SELECT 1 FROM ipam_ipaddress WHERE address = %(low{i})s::inet)),
(SELECT used.address + 1 FROM (
    SELECT address, lead(address) OVER (ORDER BY address) AS next
    FROM ipam_ipaddress WHERE address >= %(low{i})s::inet AND address <= %(high{i})s::inet
 ) used
 WHERE used.address < %(high{i})s::inet AND (used.next IS NULL OR used.next > used.address + 1)
 ORDER BY used.address LIMIT 1)"""

# Whether the address after the cursor is free: the usual case, and a statement that
# PostgreSQL plans in a fraction of the time of the whole search.
_NEXT_IF_FREE_SQL = """
(SELECT %(low0)s::inet WHERE NOT EXISTS
    (SELECT 1 FROM ipam_ipaddress WHERE address = %(low0)s::inet))"""

_CLAIM_SQL = """
WITH found AS MATERIALIZED (
    SELECT COALESCE({first_free}) AS address
), ip AS (
    INSERT INTO ipam_ipaddress (pool_id, address, family, key, status, vm_id, description,
                                created)
    SELECT %(pool)s, address, %(family)s,
           lpad(encode(substring(inet_send(address) FROM 5), 'hex'), 32, '0'),
           %(status)s, %(vm)s, '', %(created)s
    FROM found WHERE address IS NOT NULL
    RETURNING *
), moved AS (
    UPDATE ipam_ippool SET cursor = ip.key FROM ip WHERE ipam_ippool.id = %(pool)s
), usage AS (
    {usage}
)
SELECT {columns} FROM ip
"""


# IPAddress's fields, in the order the claim returns them.
_IP_ADDRESS_FIELDS = [f.attname for f in IPAddress._meta.concrete_fields]
_IP_ADDRESS_COLUMNS = ", ".join(
    "host(address)" if f.attname == "address" else f.column for f in IPAddress._meta.concrete_fields
)


def _claim_sql(
    *, pool_id: int, ranges: list[tuple[int, int]], version: int, vm, search: bool
) -> tuple[str, dict]:
    """The statement taking for `vm` the first free address of `ranges` (tried in order),
    or with `search` false only the first address if it is free; it moves the pool's cursor
    to the address and writes the ledger row. Returns (sql, params)."""
    created = timezone.now()
    usage, params = usage_record_ip_sql(vm=vm, assigned=True, at=created, source="ip")
    first_free = []
    for i, (low, high) in enumerate(ranges if search else ranges[:1]):
        first_free.append(_FIRST_FREE_IN_RANGE_SQL.format(i=i) if search else _NEXT_IF_FREE_SQL)
        params[f"low{i}"] = str(netaddr.IPAddress(low, version))
        params[f"high{i}"] = str(netaddr.IPAddress(high, version))
    params.update(
        pool=pool_id,
        family=version,
        status=IPAddress.Status.ALLOCATED,
        vm=vm.pk,
        created=created,
    )
    sql = _CLAIM_SQL.format(
        first_free=",".join(first_free), usage=usage, columns=_IP_ADDRESS_COLUMNS
    )
    return sql, params


@transaction.atomic
def _allocate_once_postgresql(*, cluster, vm, family: int) -> IPAddress:
    """The allocation in two statements (see _LOCK_POOLS_SQL), the ledger row included."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_POOLS_SQL, {"vm": vm.pk, "family": family, "cluster": cluster.pk})
        pools = cursor.fetchall()
        if pools and pools[0][0] is None:
            return IPAddress.objects.get(pk=pools[0][5])
        for pool_id, first, last, pool_cursor, excluded, _ in pools:
            version = netaddr.IPAddress(first).version
            ranges = _search_ranges(
                int(netaddr.IPAddress(first)),
                int(netaddr.IPAddress(last)),
                pool_cursor,
                _excluded_ranges(excluded, version),
            )
            if not ranges:
                continue
            for search in (False, True):
                claim = _claim_sql(
                    pool_id=pool_id, ranges=ranges, version=version, vm=vm, search=search
                )
                cursor.execute(*claim)
                row = cursor.fetchone()
                if row is not None:
                    ip = IPAddress.from_db(connection.alias, _IP_ADDRESS_FIELDS, row)
                    ip.vm = vm
                    return ip
    raise _exhausted(cluster=cluster, family=family, any_pool=bool(pools))


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
