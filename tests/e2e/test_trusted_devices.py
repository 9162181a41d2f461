"""Pinned device identities and a BIRD apply that writes only its own files, in the lab.

The lab runs under the strict policy (the default): its records pin every host key. These
tests set the policy explicitly where it is the point.
"""

from pathlib import Path

import pytest

from apps.fabric.connections import bird_paths
from apps.fabric.models import BorderGateway, Node, RouteReflector
from apps.fabric.workflows import border_gateway_preview, cluster_provision, node_add
from lab.seeding.records import lab_node_fields
from tests.e2e.conftest import build_cluster, lab_session, run_inline
from workers.bird_remote import MANAGED_MARKER, BirdPaths, apply_config
from workers.errors import BirdFileNotManaged
from workers.ssh import fingerprint

pytestmark = [pytest.mark.lab, pytest.mark.django_db]

SECRET_LINE = "root:$6$not-a-real-hash$abcdef:19000:0:99999:7:::\n"


def test_strict_refuses_a_node_without_a_pinned_key(lab, settings):
    settings.FABRIC_SSH_HOST_KEY_POLICY = "strict"
    cluster = build_cluster(lab)
    node = Node.objects.create(cluster=cluster, **lab_node_fields(lab, "node2", ssh_host_key=""))

    job = run_inline("node_add", node, node_add)

    assert job.state == "failed" and job.attempts == 1  # not retried: an admin must act
    assert job.error.startswith("step node_connect failed: HostKeyUnknown")
    assert "node node2" in job.error and "strict" in job.error


def test_a_changed_node_key_fails_naming_the_device_and_both_fingerprints(lab, settings):
    settings.FABRIC_SSH_HOST_KEY_POLICY = "strict"
    cluster = build_cluster(lab)
    stored = lab.host_key("node3")  # the key of another host: node2 now "offers another"
    node = Node.objects.create(
        cluster=cluster, **lab_node_fields(lab, "node2", ssh_host_key=stored)
    )

    job = run_inline("node_add", node, node_add)

    assert job.state == "failed" and job.attempts == 1
    assert job.error.startswith("step node_connect failed: HostKeyMismatch")
    assert "node node2" in job.error
    assert f"stored {fingerprint(stored)}" in job.error
    assert f"offered {fingerprint(lab.host_key('node2'))}" in job.error
    assert [s.name for s in job.steps.all()] == ["node_connect"]  # nothing else ran


def test_tofu_stores_the_first_node_key_and_reports_it(lab, settings):
    settings.FABRIC_SSH_HOST_KEY_POLICY = "tofu"
    cluster = build_cluster(lab)
    assert run_inline("cluster_provision", cluster, cluster_provision).state == "succeeded"
    node = Node.objects.create(cluster=cluster, **lab_node_fields(lab, "node2", ssh_host_key=""))

    job = run_inline("node_add", node, node_add)

    assert job.state == "succeeded", job.error
    node.refresh_from_db()
    assert fingerprint(node.ssh_host_key) == fingerprint(lab.host_key("node2"))
    connect = job.steps.get(name="node_connect").output
    assert "trusted on first use" in connect and fingerprint(lab.host_key("node2")) in connect


def test_the_border_gateway_key_is_checked_by_netmiko(lab, settings):
    settings.FABRIC_SSH_HOST_KEY_POLICY = "strict"
    bgw = build_cluster(lab).border_gateway
    BorderGateway.objects.filter(pk=bgw.pk).update(ssh_host_key=lab.host_key("rr1"))

    job = run_inline("border_gateway_preview", bgw, border_gateway_preview)

    assert job.state == "failed" and job.attempts == 1
    assert job.error.startswith("step bgw_compare failed: HostKeyMismatch")
    assert "border gateway mx-lab" in job.error
    assert fingerprint(lab.host_key("rr1")) in job.error
    assert fingerprint(lab.junos_host_key) in job.error

    BorderGateway.objects.filter(pk=bgw.pk).update(ssh_host_key="")
    job = run_inline("border_gateway_preview", bgw, border_gateway_preview)
    assert job.state == "failed" and "HostKeyUnknown" in job.error


def test_tofu_stores_the_border_gateways_first_key(lab, settings):
    settings.FABRIC_SSH_HOST_KEY_POLICY = "tofu"
    bgw = build_cluster(lab).border_gateway
    BorderGateway.objects.filter(pk=bgw.pk).update(ssh_host_key="")
    bgw.refresh_from_db()

    job = run_inline("border_gateway_preview", bgw, border_gateway_preview)

    assert job.state == "succeeded", job.error
    bgw.refresh_from_db()
    assert fingerprint(bgw.ssh_host_key) == fingerprint(lab.junos_host_key)
    assert fingerprint(lab.junos_host_key) in job.steps.get(name="bgw_compare").output


def _marked(rr) -> str:
    return f"{MANAGED_MARKER}: test\nrouter id {rr.address};\nprotocol device {{ scan time 10; }}\n"


def test_the_apply_refuses_to_replace_a_file_it_did_not_write(lab):
    rr = lab.hosts["rr2"]
    target = Path(rr.bird_dir, "shadow")
    target.write_text(SECRET_LINE)
    paths = BirdPaths(config=str(target), socket=f"{rr.bird_dir}/none.ctl")
    try:
        with lab_session(lab, "rr2") as session, pytest.raises(BirdFileNotManaged) as refused:
            apply_config(session, paths, _marked(rr))
        assert target.read_text() == SECRET_LINE
        assert "not-a-real-hash" not in str(refused.value)
        assert not list(Path(rr.bird_dir).glob("shadow.*"))  # no copy, no temporary file
    finally:
        target.unlink()


def test_a_database_edited_to_point_at_a_system_file_still_cannot_overwrite_it(lab):
    """Validation refuses such a path; even a row changed behind its back (.update()) only
    makes the apply fail, and the job output never shows the file."""
    rr2 = lab.hosts["rr2"]
    target = Path(rr2.bird_dir, "passwd")
    target.write_text(SECRET_LINE)
    cluster = build_cluster(lab)
    RouteReflector.objects.filter(cluster=cluster, name="rr2").update(bird_config_path=str(target))
    try:
        job = run_inline("cluster_provision", cluster, cluster_provision)
        assert job.state == "failed"
        assert "BirdFileNotManaged" in job.error and str(target) in job.error
        assert target.read_text() == SECRET_LINE
        outputs = "".join(s.output for s in job.steps.all()) + job.error
        assert "not-a-real-hash" not in outputs
    finally:
        target.unlink()


def test_an_existing_unmarked_bird_config_is_adopted_once_with_a_copy(lab):
    rr = lab.hosts["rr2"]
    conf, socket = Path(rr.bird_dir, "adopt.conf"), f"{rr.bird_dir}/adopt.ctl"
    handmade = f"# written by hand\nrouter id {rr.address};\nprotocol device {{ }}\n"
    conf.write_text(handmade)
    paths = BirdPaths(config=str(conf), socket=socket)
    try:
        with lab_session(lab, "rr2") as session:
            result = apply_config(session, paths, _marked(rr))
            assert result.changed and result.adopted_backup == f"{conf}.before-fabric-portal"
            assert result.previous is None  # the adopted file is not shown back
            assert Path(result.adopted_backup).read_text() == handmade
            assert conf.read_text().startswith(MANAGED_MARKER)
            again = apply_config(session, paths, _marked(rr))  # now it is the product's
            assert not again.adopted_backup
            session.run(f"birdc -s {socket} down", check=False)
    finally:
        for leftover in Path(rr.bird_dir).glob("adopt.*"):
            leftover.unlink()
        for leftover in Path(rr.bird_dir).glob(".adopt.*"):
            leftover.unlink()


def test_rendered_configs_carry_the_marker(lab, ready_cluster):
    for rr in RouteReflector.objects.filter(cluster=ready_cluster):
        assert Path(bird_paths(rr).config).read_text().startswith(MANAGED_MARKER)
