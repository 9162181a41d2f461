"""Hostile input: whatever a user types is either refused with a ValidationError or
rendered into configs that BIRD parses and Junos lines that cannot carry a second statement.
"""

import dataclasses

import netaddr
import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.validators import (
    parse_community,
    validate_config_description,
    validate_config_name,
    validate_public_prefix,
)
from tests.unit.test_render import BGW, NODE, RR
from workers.bird import check_config
from workers.render import (
    BgpPeer,
    Community,
    render_border_gateway_junos,
    render_node_bird,
    render_route_reflector_bird,
)

FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHAPES = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ['web"1', "a;b", "x}y", "a\nb", "rr1\n", "a#b", "ok-name", "node.1", "a b", "x\\y", "\x00"]
)


def accepted(validator, value) -> bool:
    try:
        validator(value)
    except ValidationError:
        return False
    return True  # anything but ValidationError propagates and fails the test


def assert_bird_parses(text: str) -> None:
    check_config(text)


VALID_LOOKING_NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
VALID_LOOKING_DESCRIPTIONS = st.from_regex(r"\A[A-Za-z0-9 _.,:/()@+=-]{0,80}\Z")


@FEW
@given(name=SHAPES | VALID_LOOKING_NAMES)
def test_names_are_refused_or_render_configs_that_parse(name):
    if not accepted(validate_config_name, name):
        return

    def node(value: str):
        return dataclasses.replace(
            NODE, node=value, cluster=value,
            route_reflectors=(BgpPeer("rr_1", f"Route reflector {value}", "198.51.100.2"),),
        )  # fmt: skip

    text = render_node_bird(node(name))
    assert text.count("\n") == render_node_bird(node("safe")).count("\n")
    assert_bird_parses(text)
    lines = render_border_gateway_junos(dataclasses.replace(BGW, group=name, policy=name))
    assert len(lines) == len(render_border_gateway_junos(BGW))
    assert all(line.startswith(("set ", "delete ")) and ";" not in line for line in lines)


@FEW
@given(description=SHAPES | VALID_LOOKING_DESCRIPTIONS)
def test_descriptions_are_refused_or_render_configs_that_parse(description):
    if not accepted(validate_config_description, description):
        return

    def rr(value: str):
        return dataclasses.replace(RR, nodes=(BgpPeer("node_1", f"Node {value}", "198.51.100.11"),))

    text = render_route_reflector_bird(rr(description))
    assert text.count("\n") == render_route_reflector_bird(rr("safe")).count("\n")
    assert_bird_parses(text)


@FEW
@given(
    address=st.integers(min_value=0, max_value=2**32 - 1),
    length=st.integers(min_value=0, max_value=32),
    typo=st.sampled_from(["", "", "", " ", "/", "x"]),
    mask=st.booleans(),
)
def test_ipv4_prefixes_are_refused_or_accepted_everywhere(address, length, typo, mask):
    if mask:  # half of them are network addresses, so the accepted path is exercised
        address &= (2**32 - 1) ^ (2 ** (32 - length) - 1)
    prefix = f"{netaddr.IPAddress(address)}/{length}{typo}"
    if not accepted(validate_public_prefix, prefix):
        return
    cidr = str(netaddr.IPNetwork(prefix).cidr)
    assert_bird_parses(render_route_reflector_bird(dataclasses.replace(RR, networks_v4=(cidr,))))
    assert_bird_parses(render_node_bird(dataclasses.replace(NODE, networks_v4=(cidr,))))
    lines = render_border_gateway_junos(dataclasses.replace(BGW, networks_v4=(cidr,)))
    assert f"from route-filter {cidr} orlonger" in "\n".join(lines)


@FEW
@given(address=st.integers(min_value=0, max_value=2**128 - 1), length=st.integers(0, 128))
def test_ipv6_prefixes_are_refused_or_accepted_everywhere(address, length):
    address &= (2**128 - 1) ^ (2 ** (128 - length) - 1)
    prefix = f"{netaddr.IPAddress(address, 6)}/{length}"
    if not accepted(validate_public_prefix, prefix):
        return
    rr = dataclasses.replace(RR, networks_v6=(prefix,))
    assert_bird_parses(render_route_reflector_bird(rr))


@FEW
@given(community=st.from_regex(r"\A[0-9]{1,11}(:[0-9]{1,11}){0,3}\Z") | SHAPES)
def test_communities_are_refused_or_render_a_filter_that_parses(community):
    try:
        parts = parse_community(community)
    except ValidationError:
        return
    assert len(parts) in (2, 3)
    assert_bird_parses(
        render_route_reflector_bird(dataclasses.replace(RR, community=Community(parts)))
    )


@pytest.mark.parametrize(
    "value",
    ['x" ; delete protocols', "VM\nset system root-authentication", "VM;", "VM }"],
)
def test_injection_attempts_are_refused_as_names(value):
    with pytest.raises(ValidationError):
        validate_config_name(value)
