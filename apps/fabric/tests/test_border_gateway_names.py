"""Border gateway objects belong to one cluster: derived names, no two clusters' names on
one router, and a sync that never replaces what this cluster did not create."""

import pytest

from apps.fabric.models import BorderGateway
from tests.factories import build_bgw, make_bgw, make_cluster
from tests.validation import assert_rejected, assert_valid

pytestmark = pytest.mark.django_db


def test_group_and_policies_are_named_after_the_cluster_by_default():
    bgw = make_bgw(cluster=make_cluster(name="ams1"))
    assert (bgw.bgp_group, bgw.policy_name) == ("FABRIC-ams1", "FABRIC-ams1")
    assert bgw.reject_policy_name == "FABRIC-ams1-REJECT"
    created = BorderGateway.objects.create(
        cluster=make_cluster(name="fra1"), name="mx", mgmt_host="mx.example.net",
        username="netops", password="pw", peering_ip="198.51.100.9", peer_asn=65000,
    )  # fmt: skip
    assert created.bgp_group == created.policy_name == "FABRIC-fra1"


def test_two_clusters_on_one_router_cannot_share_a_group_or_policy_name():
    make_bgw(mgmt_host="mx1.example.net", bgp_group="VM", policy_name="VM")
    same_group = build_bgw(mgmt_host="MX1.example.net", bgp_group="VM", policy_name="OTHER")
    assert_rejected(same_group, "bgp_group", "VM is used on MX1.example.net")
    same_policy = build_bgw(mgmt_host="mx1.example.net", bgp_group="OTHER", policy_name="VM")
    assert_rejected(same_policy, "policy_name", "each cluster needs its own names")
    # the other cluster's reject policy is VM-REJECT: a policy named so would replace it
    reject = build_bgw(mgmt_host="mx1.example.net", bgp_group="G2", policy_name="VM-REJECT")
    assert_rejected(reject, "policy_name", "VM-REJECT")


def test_the_same_names_on_another_router_or_port_are_fine():
    make_bgw(mgmt_host="mx1.example.net", bgp_group="VM", policy_name="VM")
    assert_valid(build_bgw(mgmt_host="mx2.example.net", bgp_group="VM", policy_name="VM"))
    assert_valid(
        build_bgw(mgmt_host="mx1.example.net", mgmt_port=2222, bgp_group="VM", policy_name="VM")
    )


def test_derived_names_of_two_clusters_never_clash():
    make_bgw(cluster=make_cluster(name="a"), mgmt_host="mx1.example.net")
    assert_valid(build_bgw(cluster=make_cluster(name="b"), mgmt_host="mx1.example.net"))
