"""A tenant's portal searches match only what the tenant is shown (no node, vnet, job error)."""

from tests.portal.conftest import make_job


def test_vm_search_does_not_match_node_or_vnet_for_tenants(world):
    for who in ("alice", "alice_ro"):
        client = world.client(who)
        assert "web-a" in client.get("/vms/?q=web").content.decode()
        for hidden in ("hv1", "vnet1", "10.1.0.1"):
            assert "web-a" not in client.get(f"/vms/?q={hidden}").content.decode(), (who, hidden)


def test_job_search_does_not_match_errors_for_tenants(world):
    job = make_job(kind="vm_start", target=world.vm_a, tenant=world.tenant_a, state="failed")
    assert "node-x" in job.error
    operator = world.client("operator").get("/jobs/?q=node-x").content.decode()
    assert f"/jobs/{job.pk}/" in operator
    for who in ("alice", "alice_ro"):
        client = world.client(who)
        assert f"/jobs/{job.pk}/" in client.get("/jobs/?q=web-a").content.decode(), who
        assert f"/jobs/{job.pk}/" not in client.get("/jobs/?q=node-x").content.decode(), who
