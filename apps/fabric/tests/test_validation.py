"""Cluster, node, route reflector and border gateway validation.

Bad input gives a ValidationError naming the field, with a helpful message, and nothing
is saved; the database constraints refuse what skips `full_clean()`.
"""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.fabric.models import Cluster, Node
from tests.factories import (
    build_bgw,
    build_cluster,
    build_node,
    build_rr,
    make_bgw,
    make_cluster,
    make_network,
    make_node,
    make_pool,
    make_rr,
)
from tests.validation import (
    BAD_DESCRIPTIONS,
    BAD_NAMES,
    DESCRIPTION_HINT,
    GOOD_DESCRIPTIONS,
    GOOD_NAMES,
    NAME_HINT,
    assert_rejected,
    assert_valid,
    bad_names,
)

pytestmark = pytest.mark.django_db

ASN_HINT = "between 1 and 4294967295"
COMMUNITY_HINT = '"ASN:VALUE"'


def _bgw_with_asn(asn):
    return build_bgw(cluster=make_cluster(), peer_asn=asn)


# --- AS numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("asn", [0, 4294967296, -1, -65000])
def test_cluster_asn_out_of_range_is_rejected(asn):
    assert_rejected(build_cluster(bgp_asn=asn), "bgp_asn", ASN_HINT)


@pytest.mark.parametrize("asn", [0, 4294967296, -1])
def test_border_gateway_asn_out_of_range_is_rejected(asn):
    assert_rejected(_bgw_with_asn(asn), "peer_asn", ASN_HINT)


@pytest.mark.parametrize("asn", [1, 65000, 4200000000, 4294967295])
def test_asn_edges_are_accepted(asn):
    assert_valid(build_cluster(bgp_asn=asn))
    assert_valid(_bgw_with_asn(asn))


# --- communities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("community", "hint"),
    [
        ("65000", COMMUNITY_HINT),
        ("a:b", COMMUNITY_HINT),
        ("65000:70000", "standard community must be between 0 and 65535"),
        ("70000:1", "standard community must be between 0 and 65535"),
        ("4294967296:1:2", "large community must be between 0 and 4294967295"),
        ("1:2:3:4", COMMUNITY_HINT),
        ("", "blank"),
        ("65000:100;", COMMUNITY_HINT),
        ("65000:-1", COMMUNITY_HINT),
        ("65000:100 65000:200", COMMUNITY_HINT),
        ("(65000,100)", COMMUNITY_HINT),
        ("65000:1e3", COMMUNITY_HINT),
    ],
)
def test_malformed_community_is_rejected(community, hint):
    assert_rejected(build_cluster(bgp_community=community), "bgp_community", hint)


def test_community_with_superscript_digit_is_rejected_not_a_crash():
    assert_rejected(build_cluster(bgp_community="65000:1\u00b2"), "bgp_community", COMMUNITY_HINT)


@pytest.mark.parametrize(
    "community", ["65000:100", "0:0", "65535:65535", "4200000000:1:2", "4294967295:0:4294967295"]
)
def test_valid_community_is_accepted(community):
    cluster = build_cluster(bgp_community=community)
    assert_valid(cluster)
    assert cluster.bgp_community == community


@pytest.mark.parametrize(
    "typed",
    [" 65000:100", "65000:100\n", "65000:0100", "\u0666\u0665\u0660\u0660\u0660:100"],
)
def test_odd_community_is_rejected_or_stored_canonical(typed):
    """What reaches the device config is plain "ASN:VALUE" or nothing."""
    cluster = build_cluster(bgp_community=typed)
    try:
        cluster.full_clean()
    except ValidationError as exc:
        assert set(exc.message_dict) == {"bgp_community"}, exc.message_dict
    else:
        assert cluster.bgp_community == "65000:100"


# --- gateway MAC and IP --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mac", "hint"),
    [
        ("01:00:5e:00:00:01", "multicast"),
        ("03:00:00:00:00:01", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "multicast"),
        ("00:00:00:00:00:00", "all-zero"),
        ("not-a-mac", "02:00:0a:00:00:01"),
        ("02:00:0a:00:00", "02:00:0a:00:00:01"),
        ("02:00:0a:00:00:zz", "02:00:0a:00:00:01"),
        ("02:00:0a:00:00:01:02", "02:00:0a:00:00:01"),
        ("", "blank"),
        pytest.param(
            "12",
            "02:00:0a:00:00:01",
            id="bare-number",
        ),
    ],
)
def test_bad_gateway_mac_is_rejected(mac, hint):
    assert_rejected(build_cluster(gateway_mac=mac), "gateway_mac", hint)


@pytest.mark.parametrize(
    "typed",
    ["02-00-0A-00-00-01", "02:00:0A:00:00:01", "0200.0a00.0001", "02:00:0a:00:00:01"],
)
def test_gateway_mac_is_normalized(typed):
    cluster = build_cluster(gateway_mac=typed)
    cluster.full_clean()
    assert cluster.gateway_mac == "02:00:0a:00:00:01"


@pytest.mark.parametrize(
    ("field", "address", "hint"),
    [
        ("gateway_ipv4", "224.0.0.1", "unicast"),
        ("gateway_ipv4", "127.0.0.1", "unicast"),
        ("gateway_ipv4", "0.0.0.0", "unicast"),  # noqa: S104 - a value under test
        ("gateway_ipv4", "255.255.255.255", "unicast"),
        ("gateway_ipv4", "2001:db8::1", "IPv4"),
        ("gateway_ipv6", "ff02::1", "unicast"),
        ("gateway_ipv6", "::1", "unicast"),
        ("gateway_ipv6", "::", "unicast"),
        ("gateway_ipv6", "10.0.0.1", "IPv6"),
    ],
)
def test_bad_gateway_ip_is_rejected(field, address, hint):
    assert_rejected(build_cluster(**{field: address}), field, hint)


@pytest.mark.parametrize("field", ["gateway_ipv4", "gateway_ipv6"])
def test_garbage_gateway_ip_is_rejected_not_a_crash(field):
    assert_rejected(build_cluster(**{field: "not-an-ip"}), field, "valid")


def test_gateway_moved_into_a_pool_is_rejected():
    cluster = make_cluster()
    network = make_network(cluster=cluster, prefix="203.0.113.0/24")
    make_pool(network=network, name="vms", first="203.0.113.10", last="203.0.113.200")
    cluster.gateway_ipv4 = "203.0.113.20"
    assert_rejected(cluster, "gateway_ipv4", "203.0.113.20", "vms")


def test_gateway_ipv6_moved_into_a_pool_is_rejected():
    cluster = make_cluster()
    network = make_network(cluster=cluster, prefix="2001:db8:100::/48")
    make_pool(network=network, first="2001:db8:100::10", last="2001:db8:100::ffff")
    cluster.gateway_ipv6 = "2001:db8:100::20"
    assert_rejected(cluster, "gateway_ipv6", "2001:db8:100::20")


def test_gateway_in_the_network_but_outside_pools_is_accepted():
    cluster = make_cluster()
    network = make_network(cluster=cluster, prefix="203.0.113.0/24")
    make_pool(network=network, first="203.0.113.10", last="203.0.113.200")
    cluster.gateway_ipv4 = "203.0.113.1"
    assert_valid(cluster)


# --- names and descriptions ----------------------------------------------------------------


def _cluster_name(value):
    return build_cluster(name=value)


def _node_name(value):
    return build_node(name=value)


def _rr_name(value):
    return build_rr(name=value)


def _bgw_name(value):
    return build_bgw(name=value)


def _bgw_group(value):
    return build_bgw(bgp_group=value)


def _bgw_policy(value):
    return build_bgw(policy_name=value)


NAME_FIELDS = [
    pytest.param(_cluster_name, "name", id="Cluster.name"),
    pytest.param(_bgw_name, "name", id="BorderGateway.name"),
    pytest.param(_bgw_group, "bgp_group", id="BorderGateway.bgp_group"),
    pytest.param(_bgw_policy, "policy_name", id="BorderGateway.policy_name"),
]
BIRD_HOST_NAME_FIELDS = [
    pytest.param(_node_name, "name", id="Node.name"),
    pytest.param(_rr_name, "name", id="RouteReflector.name"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize(("build", "field"), NAME_FIELDS)
def test_name_that_would_break_a_config_is_rejected(build, field, name):
    assert_rejected(build(name), field, NAME_HINT)


@pytest.mark.parametrize("name", bad_names())
@pytest.mark.parametrize(("build", "field"), BIRD_HOST_NAME_FIELDS)
def test_bird_host_name_that_would_break_a_config_is_rejected(build, field, name):
    assert_rejected(build(name), field, NAME_HINT)


@pytest.mark.parametrize("name", GOOD_NAMES)
@pytest.mark.parametrize(("build", "field"), NAME_FIELDS + BIRD_HOST_NAME_FIELDS)
def test_good_name_is_accepted(build, field, name):
    assert_valid(build(name))


def _cluster_description(value):
    return build_cluster(description=value)


def _node_description(value):
    return build_node(description=value)


def _rr_description(value):
    return build_rr(description=value)


DESCRIPTION_FIELDS = [
    pytest.param(_cluster_description, id="Cluster.description"),
    pytest.param(_node_description, id="Node.description"),
    pytest.param(_rr_description, id="RouteReflector.description"),
]


@pytest.mark.parametrize("description", BAD_DESCRIPTIONS)
@pytest.mark.parametrize("build", DESCRIPTION_FIELDS)
def test_description_that_would_break_a_config_is_rejected(build, description):
    hint = "at most 200" if len(description) > 200 else DESCRIPTION_HINT
    assert_rejected(build(description), "description", hint)


@pytest.mark.parametrize("description", GOOD_DESCRIPTIONS)
@pytest.mark.parametrize("build", DESCRIPTION_FIELDS)
def test_good_description_is_accepted(build, description):
    assert_valid(build(description))


# --- nodes and route reflectors: underlay addresses, names, credentials ---------------------


def test_duplicate_node_underlay_ip_in_a_cluster_is_rejected():
    cluster = make_cluster()
    make_node(cluster=cluster, name="hv1", underlay_ip="10.1.0.11")
    node = build_node(cluster=cluster, name="hv2", underlay_ip="10.1.0.11")
    assert_rejected(node, "underlay_ip", "10.1.0.11", "hv1")


def test_duplicate_node_name_in_a_cluster_is_rejected():
    cluster = make_cluster()
    make_node(cluster=cluster, name="hv1")
    assert_rejected(build_node(cluster=cluster, name="hv1"), "name", "hv1")


def test_same_node_name_in_another_cluster_is_accepted():
    make_node(cluster=make_cluster(), name="hv1")
    assert_valid(build_node(cluster=make_cluster(), name="hv1"))


def test_saved_node_does_not_clash_with_itself():
    node = make_node()
    node.description = "rack 4"
    assert_valid(node)


def test_node_underlay_equal_to_a_route_reflector_is_rejected():
    cluster = make_cluster()
    make_rr(cluster=cluster, name="rr1", peering_ip="10.2.0.1")
    node = build_node(cluster=cluster, underlay_ip="10.2.0.1")
    assert_rejected(node, "underlay_ip", "10.2.0.1", "rr1")


def test_node_underlay_equal_to_the_cluster_gateway_is_rejected():
    cluster = make_cluster(gateway_ipv4="10.0.0.1")
    node = build_node(cluster=cluster, underlay_ip="10.0.0.1")
    assert_rejected(node, "underlay_ip", "10.0.0.1", "gateway")


def test_node_underlay_equal_to_the_border_gateway_is_rejected():
    cluster = make_cluster()
    make_bgw(cluster=cluster, peering_ip="10.3.0.1")
    node = build_node(cluster=cluster, underlay_ip="10.3.0.1")
    assert_rejected(node, "underlay_ip", "10.3.0.1", "border gateway")


def test_node_underlay_inside_a_public_network_of_the_cluster_is_rejected():
    cluster = make_cluster()
    make_network(cluster=cluster, prefix="203.0.113.0/24")
    node = build_node(cluster=cluster, underlay_ip="203.0.113.7")
    assert_rejected(node, "underlay_ip", "203.0.113.7", "203.0.113.0/24")


def test_duplicate_rr_peering_ip_in_a_cluster_is_rejected():
    cluster = make_cluster()
    make_rr(cluster=cluster, name="rr1", peering_ip="10.2.0.1")
    rr = build_rr(cluster=cluster, name="rr2", peering_ip="10.2.0.1")
    assert_rejected(rr, "peering_ip", "10.2.0.1", "rr1")


def test_duplicate_rr_name_in_a_cluster_is_rejected():
    cluster = make_cluster()
    make_rr(cluster=cluster, name="rr1")
    assert_rejected(build_rr(cluster=cluster, name="rr1"), "name", "rr1")


def test_rr_peering_ip_equal_to_a_node_underlay_is_rejected():
    cluster = make_cluster()
    make_node(cluster=cluster, name="hv1", underlay_ip="10.1.0.11")
    rr = build_rr(cluster=cluster, peering_ip="10.1.0.11")
    assert_rejected(rr, "peering_ip", "10.1.0.11", "hv1")


def test_rr_peering_ip_equal_to_the_cluster_gateway_is_rejected():
    cluster = make_cluster(gateway_ipv4="10.0.0.1")
    rr = build_rr(cluster=cluster, peering_ip="10.0.0.1")
    assert_rejected(rr, "peering_ip", "10.0.0.1", "gateway")


def test_rr_peering_ip_inside_a_public_network_of_the_cluster_is_rejected():
    cluster = make_cluster()
    make_network(cluster=cluster, prefix="198.51.100.0/25")
    rr = build_rr(cluster=cluster, peering_ip="198.51.100.1")
    assert_rejected(rr, "peering_ip", "198.51.100.1", "198.51.100.0/25")


def test_bgw_peering_ip_equal_to_a_route_reflector_is_rejected():
    cluster = make_cluster()
    make_rr(cluster=cluster, peering_ip="10.2.0.1")
    bgw = build_bgw(cluster=cluster, peering_ip="10.2.0.1")
    assert_rejected(bgw, "peering_ip", "10.2.0.1", "route reflector")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(
            build_node,
            "underlay_ip",
            id="Node.underlay_ip",
        ),
        pytest.param(
            build_rr,
            "peering_ip",
            id="RouteReflector.peering_ip",
        ),
        pytest.param(
            build_bgw,
            "peering_ip",
            id="BorderGateway.peering_ip",
        ),
    ],
)
def test_garbage_peering_address_is_rejected_not_a_crash(build, field):
    cluster = make_cluster()
    make_network(cluster=cluster, prefix="203.0.113.0/24")
    assert_rejected(build(cluster=cluster, **{field: "not-an-ip"}), field, "valid")


DEVICE_ADDRESSES = [
    pytest.param(build_node, "underlay_ip", id="Node.underlay_ip"),
    pytest.param(build_rr, "peering_ip", id="RouteReflector.peering_ip"),
    pytest.param(build_bgw, "peering_ip", id="BorderGateway.peering_ip"),
]


@pytest.mark.parametrize(("build", "field"), DEVICE_ADDRESSES)
@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("0.0.0.0", "unspecified"),  # noqa: S104 - refused, not bound to
        ("255.255.255.255", "broadcast"),
        ("127.0.0.1", "loopback"),
        ("224.0.0.5", "multicast"),
        ("169.254.1.1", "link-local"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_a_device_address_that_is_not_unicast_is_rejected(build, field, address, kind):
    assert_rejected(build(cluster=make_cluster(), **{field: address}), field, address, kind)


@pytest.mark.parametrize(("build", "field"), DEVICE_ADDRESSES)
def test_a_device_address_on_the_underlay_is_accepted(build, field):
    assert_valid(build(cluster=make_cluster(), **{field: "198.51.100.7"}))


def test_bgw_peering_ip_equal_to_the_cluster_gateway_is_rejected():
    bgw = build_bgw(cluster=make_cluster(), peering_ip="10.0.0.1")
    assert_rejected(bgw, "peering_ip", "10.0.0.1", "VM gateway")


def test_bgw_peering_ip_inside_a_public_network_of_the_cluster_is_rejected():
    cluster = make_cluster()
    make_network(cluster=cluster, prefix="203.0.113.0/24")
    bgw = build_bgw(cluster=cluster, peering_ip="203.0.113.9")
    assert_rejected(bgw, "peering_ip", "203.0.113.9", "203.0.113.0/24")


@pytest.mark.parametrize(
    ("field", "too_big", "hint"),
    [
        ("vcpus", 4097, "4096"),
        ("memory_mb", 64 * 1024 * 1024 + 1, "67108864 MiB (64 TiB)"),
        ("disk_gb", 1024 * 1024 + 1, "1048576 GiB (1 PiB)"),
    ],
)
def test_node_capacity_above_the_maximum_is_rejected(field, too_big, hint):
    assert_rejected(build_node(**{field: too_big}), field, hint)
    assert_valid(build_node(**{field: too_big - 1}))


@pytest.mark.parametrize(
    "path",
    ["/etc/bird/../shadow", "/etc/bird//bird.conf", "/etc/bird/./bird.conf", "/etc/bird/x/.."],
)
@pytest.mark.parametrize("field", ["bird_config_path", "bird_socket_path"])
@pytest.mark.parametrize("build", [build_node, build_rr])
def test_a_bird_path_that_is_not_normalised_is_rejected(build, field, path):
    assert_rejected(build(**{field: path}), field, "normalised")


@pytest.mark.parametrize("build", [build_node, build_rr])
def test_bird_host_without_credentials_is_rejected(build):
    host = build(ssh_password="", ssh_private_key="")
    assert_rejected(host, "ssh_private_key", "SSH private key or a password")


@pytest.mark.parametrize("build", [build_node, build_rr])
@pytest.mark.parametrize(
    "credentials",
    [{"ssh_password": "pw", "ssh_private_key": ""}, {"ssh_password": "", "ssh_private_key": "k"}],
)
def test_bird_host_with_password_or_key_is_accepted(build, credentials):
    assert_valid(build(**credentials))


def test_border_gateway_without_credentials_is_rejected():
    bgw = build_bgw(password="", ssh_private_key="")
    assert_rejected(bgw, "password", "password or an SSH private key")


# --- database constraints: the last line of defence ----------------------------------------


@pytest.mark.parametrize("asn", [0, 4294967296])
def test_cluster_asn_out_of_range_is_refused_by_the_database(asn):
    with pytest.raises(IntegrityError), transaction.atomic():
        Cluster.objects.create(name="bad-asn", bgp_asn=asn, bgp_community="65000:100")
    assert not Cluster.objects.filter(name="bad-asn").exists()


def test_duplicate_node_underlay_ip_is_refused_by_the_database():
    node = make_node()
    duplicate = build_node(cluster=node.cluster, underlay_ip=node.underlay_ip)
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert Node.objects.filter(cluster=node.cluster).count() == 1


def test_node_without_credentials_is_refused_by_the_database():
    node = build_node(ssh_password="", ssh_private_key="")
    with pytest.raises(IntegrityError), transaction.atomic():
        node.save()
    assert Node.objects.count() == 0
