"""The statements of an IP allocation, in PostgreSQL's and in SQLite's SQL.

The allocation itself (apps/ipam/services.py, `ip_allocate`) is written once: lock the
cluster's pools of the family, then for each pool in order take the first free address of
its search ranges (after the cursor, then from the start, less the exclusions), move the
cursor to it and write the ledger row. Only the text of those statements differs:

- the lock: PostgreSQL locks the pool rows (`FOR UPDATE`); SQLite has no row locks, and a
  write as the transaction's first statement takes its database write lock instead (taken
  later, after reading, it could fail instead of waiting).
- the gap search: PostgreSQL walks the unique index on `address` (inet arithmetic);
  SQLite walks the (pool, key) index on the hex `key`, with `ipam_key_next` and
  `ipam_key_address` (registered on each SQLite connection, see `register_sqlite_functions`).
- the claim: PostgreSQL inserts the address, moves the cursor and writes the ledger row in
  one statement (data-modifying CTEs); SQLite has none, so it takes three.
"""

from dataclasses import dataclass

import netaddr


@dataclass(frozen=True)
class AllocationSQL:
    """One database's statements; `{...}` are filled in per allocation, `%(...)s` are
    parameters (see services._claim for what each one receives)."""

    lock: tuple[str, ...]  # run in order; the last returns the pools, or the VM's address
    first_free_in_range: str  # the first free address of range {i}, or NULL
    next_if_free: str  # the range's first address if free (the usual case, planned faster)
    claim: str  # takes COALESCE({first_free}) for the VM; returns (id, address, key)
    after_claim: tuple[str, ...]  # run once claimed: cursor and ledger where claim did not
    key_bounds: bool  # ranges bounded by hex keys (SQLite) rather than addresses

    def bound(self, value: int, version: int) -> str:
        return f"{value:032x}" if self.key_bounds else str(netaddr.IPAddress(value, version))


# The cluster's pools of the family in order (locked in that order, so allocators never
# deadlock), unless the VM has an address of the family already: then that address alone.
_POOLS = """
WITH existing AS (
    SELECT id FROM ipam_ipaddress WHERE vm_id = %(vm)s AND family = %(family)s
), pools AS (
    SELECT p.id, {address}(p.first_address) AS first, {address}(p.last_address) AS last,
           p.cursor, p.excluded, n.prefix, p.name
    FROM ipam_ippool p JOIN ipam_network n ON n.id = p.network_id
    WHERE n.cluster_id = %(cluster)s AND n.family = %(family)s
      AND NOT EXISTS (SELECT 1 FROM existing)
    ORDER BY n.prefix, p.name
    {lock}
)
SELECT id, first, last, cursor, excluded, NULL AS existing, prefix, name FROM pools
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, id, NULL, NULL FROM existing
ORDER BY 7, 8
"""

POSTGRESQL = AllocationSQL(
    lock=(_POOLS.format(address="host", lock="FOR UPDATE OF p"),),
    # its first address, or the one after the first used address that the next used one
    # does not follow (LEAD over the unique index on address)
    first_free_in_range="""
(SELECT %(low{i})s::inet WHERE NOT EXISTS
    (SELECT 1 FROM ipam_ipaddress WHERE address = %(low{i})s::inet)),
(SELECT used.address + 1 FROM (
    SELECT address, lead(address) OVER (ORDER BY address) AS next
    FROM ipam_ipaddress WHERE address >= %(low{i})s::inet AND address <= %(high{i})s::inet
 ) used
 WHERE used.address < %(high{i})s::inet AND (used.next IS NULL OR used.next > used.address + 1)
 ORDER BY used.address LIMIT 1)""",
    next_if_free="""
(SELECT %(low0)s::inet WHERE NOT EXISTS
    (SELECT 1 FROM ipam_ipaddress WHERE address = %(low0)s::inet))""",
    claim="""
WITH found AS MATERIALIZED (
    SELECT COALESCE({first_free}) AS address
), ip AS (
    INSERT INTO ipam_ipaddress (pool_id, address, family, key, status, vm_id, description,
                                created)
    SELECT %(pool)s, address, %(family)s,
           lpad(encode(substring(inet_send(address) FROM 5), 'hex'), 32, '0'),
           %(status)s, %(vm)s, '', %(created)s
    FROM found WHERE address IS NOT NULL
    RETURNING id, address, key, family
), moved AS (
    UPDATE ipam_ippool SET cursor = ip.key FROM ip WHERE ipam_ippool.id = %(pool)s
), usage AS (
    {usage}
)
SELECT id, host(address), key FROM ip
""",
    after_claim=(),
    key_bounds=False,
)

SQLITE = AllocationSQL(
    lock=(
        """
UPDATE ipam_ippool SET cursor = cursor WHERE network_id IN
    (SELECT id FROM ipam_network WHERE cluster_id = %(cluster)s AND family = %(family)s)
""",
        _POOLS.format(address="", lock=""),
    ),
    first_free_in_range="""
(SELECT %(low{i})s WHERE NOT EXISTS
    (SELECT 1 FROM ipam_ipaddress WHERE pool_id = %(pool)s AND "key" = %(low{i})s)),
(SELECT ipam_key_next(used."key") FROM (
    SELECT "key", lead("key") OVER (ORDER BY "key") AS next
    FROM ipam_ipaddress
    WHERE pool_id = %(pool)s AND "key" >= %(low{i})s AND "key" <= %(high{i})s
 ) used
 WHERE used."key" < %(high{i})s
   AND (used.next IS NULL OR used.next > ipam_key_next(used."key"))
 ORDER BY used."key" LIMIT 1)""",
    next_if_free="""
(SELECT %(low0)s WHERE NOT EXISTS
    (SELECT 1 FROM ipam_ipaddress WHERE pool_id = %(pool)s AND "key" = %(low0)s))""",
    claim="""
WITH found AS (
    SELECT COALESCE({first_free}, NULL) AS free
)
INSERT INTO ipam_ipaddress (pool_id, address, family, "key", status, vm_id, description,
                            created)
SELECT %(pool)s, ipam_key_address(free, %(family)s), %(family)s, free,
       %(status)s, %(vm)s, '', %(created)s
FROM found WHERE free IS NOT NULL
RETURNING id, address, "key"
""",
    after_claim=(
        "UPDATE ipam_ippool SET cursor = %(claimed_key)s WHERE id = %(pool)s",
        """
WITH ip AS (SELECT address, family FROM ipam_ipaddress WHERE id = %(claimed_id)s)
{usage}
""",
    ),
    key_bounds=True,
)


def for_vendor(vendor: str) -> AllocationSQL:
    return POSTGRESQL if vendor == "postgresql" else SQLITE


def key_next(key: str) -> str:
    """The key of the address after the one `key` names."""
    return f"{int(key, 16) + 1:032x}"


def key_address(key: str, family: int) -> str:
    """The address `key` names, as the address column stores it."""
    return str(netaddr.IPAddress(int(key, 16), int(family)))


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: SQLite's SQL gets the key arithmetic it lacks."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("ipam_key_next", 1, key_next, deterministic=True)
        connection.connection.create_function(
            "ipam_key_address", 2, key_address, deterministic=True
        )
