"""Edits after creation: the configs they change (rendered before and after, nothing kept by
a preview) and the jobs that carry them to the devices."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.changes.models import ObjectChange
from apps.fabric.edits import (
    ConfigsChanged,
    config_edit_apply,
    config_edit_preview,
    device_configs,
)
from apps.fabric.models import BorderGateway, Cluster, Node
from apps.fabric.services import border_gateway_update, cluster_update, node_update
from apps.jobs.models import Job
from tests.factories import make_bgw, make_cluster, make_network, make_node, make_rr

pytestmark = pytest.mark.django_db


def fabric(name: str, *, state: str = "ready", second: int = 1) -> Cluster:
    cluster = make_cluster(name=name, state=state)
    make_network(cluster=cluster, prefix=f"198.51.{100 + second}.0/24")
    make_rr(cluster=cluster, name=f"rr-{name}", peering_ip=f"10.{second}.2.1", state="ready")
    make_node(cluster=cluster, name=f"hv-{name}", underlay_ip=f"10.{second}.1.1", state="ready")
    make_bgw(cluster=cluster, peering_ip=f"10.{second}.3.1")
    return cluster


def test_a_preview_keeps_nothing_even_inside_an_outer_transaction():
    cluster = fabric("fra1")
    logged = ObjectChange.objects.count()
    with transaction.atomic():
        edit = config_edit_preview(instance=cluster, update=cluster_update,
                                   changes={"bgp_community": "65000:9"})  # fmt: skip
        assert Cluster.objects.get(pk=cluster.pk).bgp_community == "65000:100"
    assert [d.device for d in edit.diffs] == ["route reflector rr-fra1"]
    assert edit.syncs == ("cluster_provision",)
    assert cluster.bgp_community == "65000:100"  # the caller's object is left alone too
    assert ObjectChange.objects.count() == logged and not Job.objects.exists()


def test_a_refused_change_raises_the_services_field_error():
    cluster = fabric("fra1")
    node = cluster.nodes.get()
    make_node(cluster=cluster, name="hv2", underlay_ip="10.1.1.2")
    with pytest.raises(ValidationError) as refused:
        config_edit_preview(instance=node, update=node_update, changes={"name": "hv2"})
    assert "name" in refused.value.message_dict
    assert Node.objects.get(pk=node.pk).name == "hv-fra1"


def test_a_new_device_address_changes_the_packet_filters_of_every_cluster():
    fra, ams = fabric("fra1"), fabric("ams1", state="new", second=2)
    bgw = BorderGateway.objects.get(cluster=ams)
    edit = config_edit_preview(instance=bgw, update=border_gateway_update,
                               changes={"peering_ip": "10.2.3.9"})  # fmt: skip
    changed = {(d.cluster, d.device, d.config_name) for d in edit.diffs}
    assert ("fra1", "node hv-fra1", "packet filter") in changed  # another cluster's node
    assert ("ams1", "route reflector rr-ams1", "bird.conf") in changed  # its neighbor
    # ams1 was never provisioned: nothing for it; fra1's nodes filter the new address.
    assert edit.syncs == ("reconcile",)
    assert any("has not been provisioned" in note for note in edit.notes)
    assert not Job.objects.exists() and fra.nodes.get().name == "hv-fra1"


def test_apply_saves_and_queues_only_what_was_confirmed():
    cluster = fabric("fra1")
    changes = {"bgp_asn": 65001}
    shown = config_edit_preview(instance=cluster, update=cluster_update, changes=changes)
    with pytest.raises(ConfigsChanged):
        config_edit_apply(instance=cluster, update=cluster_update, changes=changes,
                          digest=None)  # fmt: skip
    assert Cluster.objects.get(pk=cluster.pk).bgp_asn == 65000 and not Job.objects.exists()

    edit = config_edit_apply(instance=cluster, update=cluster_update, changes=changes,
                             digest=shown.digest)  # fmt: skip
    assert [job.kind for job in edit.jobs] == ["cluster_provision"]
    assert Cluster.objects.get(pk=cluster.pk).bgp_asn == 65001 == cluster.bgp_asn
    assert edit.diffs == shown.diffs


def test_device_configs_are_the_active_rrs_the_serving_nodes_and_the_border_gateway():
    cluster = fabric("fra1")
    make_node(cluster=cluster, name="hv-new", underlay_ip="10.1.1.5")  # not serving yet
    make_rr(cluster=cluster, name="rr-gone", peering_ip="10.1.2.9", state="removing")
    devices = {(c.device, c.kind) for c in device_configs(cluster).values()}
    assert devices == {
        ("route reflector rr-fra1", "bird"),
        ("node hv-fra1", "bird"),
        ("node hv-fra1", "nft"),
        ("border gateway " + cluster.border_gateway.name, "junos"),
    }
