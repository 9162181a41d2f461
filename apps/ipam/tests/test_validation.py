"""Network, pool and address validation.

Bad input gives a ValidationError naming the field, with a helpful message, and nothing
is saved; the database constraints refuse what skips `full_clean()`.
"""

import pytest
from django.db import IntegrityError, transaction

from apps.ipam.models import IPAddress
from tests.factories import (
    build_network,
    build_pool,
    make_cluster,
    make_network,
    make_pool,
    make_vm,
)
from tests.validation import (
    BAD_DESCRIPTIONS,
    DESCRIPTION_HINT,
    NAME_HINT,
    assert_rejected,
    assert_valid,
    bad_names,
)

pytestmark = pytest.mark.django_db

NET = "203.0.113.0/24"


# --- networks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "hints"),
    [
        ("203.0.113.5/24", ["203.0.113.5/24 is not a network address", "203.0.113.0/24"]),
        ("2001:db8:100::1/48", ["not a network address", "2001:db8:100::/48"]),
        ("10.0.0.0/8", ["10.0.0.0/8", "private"]),
        ("192.168.1.0/24", ["192.168.1.0/24", "private"]),
        ("172.16.0.0/16", ["172.16.0.0/16", "private"]),
        ("224.0.0.0/24", ["224.0.0.0/24", "multicast"]),
        ("240.0.0.0/8", ["240.0.0.0/8", "reserved"]),
        ("127.0.0.0/8", ["127.0.0.0/8", "loopback"]),
        ("169.254.0.0/16", ["169.254.0.0/16", "link-local"]),
        ("0.0.0.0/0", ["0.0.0.0/0", "default route"]),
        ("0.0.0.0/8", ["0.0.0.0/8", "this network"]),
        ("100.64.0.0/10", ["100.64.0.0/10", "carrier-grade NAT"]),
        ("8.0.0.0/7", ["8.0.0.0/7", "shorter than /8"]),
        ("fd00::/8", ["fd00::/8", "shorter than /16"]),
        ("fd00::/48", ["fd00::/48", "unique-local"]),
        ("fe80::/64", ["fe80::/64", "link-local"]),
        ("ff02::/16", ["ff02::/16", "multicast"]),
        ("::1/128", ["::1/128", "loopback"]),
        ("::/0", ["::/0", "default route"]),
        ("::ffff:203.0.113.0/120", ["reserved"]),
        ("2000::/15", ["2000::/15", "shorter than /16"]),
        ("203.0.113.0", ["prefix length"]),
        ("2001:db8:100::", ["prefix length"]),
        ("203.0.113/24", ["Enter a prefix such as"]),
        ("203.0.113.0/33", ["Enter a prefix such as"]),
        ("not-a-prefix", ["Enter a prefix such as"]),
        ("", ["blank"]),
    ],
)
def test_bad_prefix_is_rejected(prefix, hints):
    assert_rejected(build_network(prefix=prefix), "prefix", *hints)


@pytest.mark.parametrize("prefix", ["192.0.0.0/24", "198.18.0.0/15", "100::/64"])
def test_non_global_special_purpose_prefix_is_rejected(prefix):
    assert_rejected(build_network(prefix=prefix), "prefix", prefix)


@pytest.mark.parametrize(
    "prefix",
    ["203.0.113.0/24", "198.51.100.0/25", "192.0.2.0/24", "2001:db8:100::/48", "8.8.8.0/24"],
)
def test_public_and_documentation_prefixes_are_accepted(prefix):
    network = make_network(prefix=prefix)
    assert network.prefix == prefix
    assert network.family == (6 if ":" in prefix else 4)


def test_prefix_is_normalized():
    network = make_network(prefix="2001:DB8:0100:0::/48")
    assert network.prefix == "2001:db8:100::/48"


@pytest.mark.parametrize(
    "prefix", ["203.0.113.0/24", "203.0.113.128/25", "203.0.112.0/23", "203.0.113.7/32"]
)
def test_prefix_overlapping_another_clusters_network_is_rejected(prefix):
    make_network(cluster=make_cluster(name="east"), prefix=NET)
    network = build_network(cluster=make_cluster(), prefix=prefix)
    assert_rejected(network, "prefix", NET, "east")


def test_prefix_overlapping_in_the_same_cluster_is_rejected():
    cluster = make_cluster()
    make_network(cluster=cluster, prefix="2001:db8:100::/48")
    network = build_network(cluster=cluster, prefix="2001:db8:100:8000::/49")
    assert_rejected(network, "prefix", "2001:db8:100::/48")


def test_adjacent_prefix_is_accepted():
    make_network(prefix=NET)
    assert_valid(build_network(prefix="203.0.112.0/24"))


def test_shrinking_a_network_below_its_pools_is_rejected():
    network = make_network(prefix=NET)
    make_pool(network=network, name="vms", first="203.0.113.10", last="203.0.113.200")
    network.prefix = "203.0.113.0/25"
    assert_rejected(network, "prefix", "vms")


@pytest.mark.parametrize("description", BAD_DESCRIPTIONS)
def test_network_description_that_would_break_a_config_is_rejected(description):
    hint = "at most 200" if len(description) > 200 else DESCRIPTION_HINT
    assert_rejected(build_network(description=description), "description", hint)


# --- pools ---------------------------------------------------------------------------------


@pytest.fixture
def network():
    return make_network(prefix=NET)


@pytest.mark.parametrize(
    ("first", "last", "field", "hints"),
    [
        ("198.51.100.10", "203.0.113.20", "first_address", ["198.51.100.10", NET]),
        ("203.0.112.255", "203.0.113.20", "first_address", ["203.0.112.255", NET]),
        ("203.0.113.10", "203.0.114.5", "last_address", ["203.0.114.5", NET]),
        ("203.0.113.10", "198.51.100.20", "last_address", ["198.51.100.20", NET]),
        ("203.0.113.200", "203.0.113.10", "last_address", ["before the first"]),
        ("2001:db8::10", "2001:db8::20", "first_address", ["IPv4", NET]),
        ("2001:db8::10", "203.0.113.20", "first_address", ["IPv4", NET]),
        pytest.param(
            "203.0.113.10",
            "2001:db8::20",
            "last_address",
            ["IPv4", NET],
            id="last-wrong-family",
        ),
    ],
)
def test_pool_range_that_does_not_fit_is_rejected(network, first, last, field, hints):
    assert_rejected(build_pool(network=network, first=first, last=last), field, *hints)


def test_pool_in_ipv6_network_with_ipv4_addresses_is_rejected():
    network = make_network(prefix="2001:db8:100::/48")
    pool = build_pool(network=network, first="203.0.113.10", last="203.0.113.20")
    assert_rejected(pool, "first_address", "IPv6", "2001:db8:100::/48")


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("203.0.113.50", "203.0.113.150"),
        ("203.0.113.1", "203.0.113.10"),
        ("203.0.113.100", "203.0.113.254"),
        ("203.0.113.20", "203.0.113.30"),
        ("203.0.113.1", "203.0.113.254"),
    ],
)
def test_pool_overlapping_another_pool_of_the_network_is_rejected(network, first, last):
    make_pool(network=network, name="pool-a", first="203.0.113.10", last="203.0.113.100")
    pool = build_pool(network=network, first=first, last=last)
    assert_rejected(pool, "first_address", "pool-a", "203.0.113.10-203.0.113.100")


def test_pool_next_to_another_pool_is_accepted(network):
    make_pool(network=network, first="203.0.113.10", last="203.0.113.100")
    assert_valid(build_pool(network=network, first="203.0.113.101", last="203.0.113.200"))


@pytest.mark.parametrize(
    ("first", "last"), [("203.0.113.1", "203.0.113.100"), ("203.0.113.0", "203.0.113.1")]
)
def test_pool_holding_the_cluster_gateway_is_rejected(first, last):
    cluster = make_cluster(gateway_ipv4="203.0.113.1")
    network = make_network(cluster=cluster, prefix=NET)
    pool = build_pool(network=network, first=first, last=last)
    assert_rejected(pool, "first_address", "gateway", "203.0.113.1")


def test_ipv6_pool_holding_the_cluster_gateway_is_rejected():
    cluster = make_cluster(gateway_ipv6="2001:db8:100::1")
    network = make_network(cluster=cluster, prefix="2001:db8:100::/48")
    pool = build_pool(network=network, first="2001:db8:100::", last="2001:db8:100::ff")
    assert_rejected(pool, "first_address", "gateway", "2001:db8:100::1")


@pytest.mark.parametrize(
    ("excluded", "hint"),
    [
        ("bogus", '"bogus"'),
        ("203.0.113.20, bogus", '"bogus"'),
        ("203.0.113.20\n203.0.113.300", '"203.0.113.300"'),
        ("203.0.113.30-", '"203.0.113.30-"'),
        ("203.0.113.50-203.0.113.40", '"203.0.113.50-203.0.113.40"'),
        ("203.0.113.0/28", '"203.0.113.0/28"'),
        ("203.0.113.5", "outside the pool: 203.0.113.5/32"),
        ("203.0.113.20, 203.0.113.201", "outside the pool: 203.0.113.201/32"),
        ("203.0.113.190-203.0.113.210", "outside the pool"),
        ("2001:db8::1", "outside the pool"),
        ("198.51.100.1", "outside the pool: 198.51.100.1/32"),
    ],
)
def test_bad_excluded_entries_are_rejected(network, excluded, hint):
    pool = build_pool(network=network, first="203.0.113.10", last="203.0.113.200")
    pool.excluded = excluded
    assert_rejected(pool, "excluded", hint)


def test_excluded_entries_inside_the_pool_are_accepted(network):
    pool = build_pool(network=network, first="203.0.113.10", last="203.0.113.200")
    pool.excluded = "203.0.113.10, 203.0.113.30 - 203.0.113.40\n203.0.113.200\n\n"
    assert_valid(pool)


def test_duplicate_pool_name_in_a_network_is_rejected(network):
    make_pool(network=network, name="vms", first="203.0.113.10", last="203.0.113.100")
    pool = build_pool(network=network, name="vms", first="203.0.113.101", last="203.0.113.200")
    assert_rejected(pool, "name", "vms", NET)


def test_same_pool_name_in_another_network_is_accepted(network):
    make_pool(network=network, name="vms")
    assert_valid(build_pool(network=make_network(prefix="198.51.100.0/24"), name="vms"))


@pytest.mark.parametrize("name", bad_names())
def test_pool_name_that_would_break_a_config_is_rejected(network, name):
    assert_rejected(build_pool(network=network, name=name), "name", NAME_HINT)


@pytest.mark.parametrize("field", ["first_address", "last_address"])
def test_garbage_pool_address_is_rejected_not_a_crash(network, field):
    pool = build_pool(network=network)
    setattr(pool, field, "not-an-ip")
    assert_rejected(pool, field, "valid")


# --- addresses -----------------------------------------------------------------------------


def _address(pool, address, **overrides):
    fields = {"status": IPAddress.Status.RESERVED, "family": pool.first.version}
    fields.update(overrides)
    return IPAddress(pool=pool, address=address, **fields)


def test_address_outside_its_pool_is_rejected(network):
    pool = make_pool(network=network, name="vms", first="203.0.113.10", last="203.0.113.20")
    assert_rejected(_address(pool, "203.0.113.21"), "address", "203.0.113.21", "vms")


def test_allocated_address_without_vm_is_rejected(network):
    pool = make_pool(network=network)
    address = _address(pool, str(pool.first), status=IPAddress.Status.ALLOCATED)
    assert_rejected(address, "vm", "needs its VM")


def test_reserved_address_with_vm_is_rejected(network):
    pool = make_pool(network=network)
    address = _address(pool, str(pool.first), vm=make_vm(cluster=network.cluster))
    assert_rejected(address, "vm", "Only allocated addresses")


def test_garbage_address_is_rejected_not_a_crash(network):
    pool = make_pool(network=network)
    assert_rejected(_address(pool, "not-an-ip", family=4), "address", "valid")


# --- database constraints: the last line of defence ----------------------------------------


def test_allocated_address_without_vm_is_refused_by_the_database(network):
    pool = make_pool(network=network)
    address = IPAddress(pool=pool, address=str(pool.first), status=IPAddress.Status.ALLOCATED)
    with pytest.raises(IntegrityError), transaction.atomic():
        address.save()
    assert IPAddress.objects.count() == 0


def test_duplicate_address_is_refused_by_the_database(network):
    pool = make_pool(network=network)
    IPAddress.objects.create(pool=pool, address="203.0.113.10", status="reserved")
    with pytest.raises(IntegrityError), transaction.atomic():
        IPAddress.objects.create(pool=pool, address="203.0.113.10", status="reserved")
    assert IPAddress.objects.count() == 1


def test_duplicate_ipv6_address_written_differently_is_refused_by_the_database():
    network = make_network(prefix="2001:db8:100::/48")
    pool = make_pool(network=network)
    IPAddress.objects.create(pool=pool, address="2001:db8:100::10", status="reserved")
    with pytest.raises(IntegrityError), transaction.atomic():
        IPAddress.objects.create(pool=pool, address="2001:0DB8:0100:0::0010", status="reserved")
    assert IPAddress.objects.count() == 1
