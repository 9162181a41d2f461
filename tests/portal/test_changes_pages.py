"""Each object page shows the object's change log; tenants see their VMs' changes without
the fields they are not shown (node, vnet)."""

import re


def changes_part(page: str) -> str:
    match = re.search(r'<section class="card" id="changes".*?</section>', page, re.S)
    assert match, "the page has no Changes part"
    return match.group(0)


def test_device_pages_show_their_changes_with_who_made_them(world):
    world.node.ssh_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFirstSeen"
    world.node.save(update_fields=["ssh_host_key"])  # a worker pinning the first-seen key
    client = world.client("operator")
    part = changes_part(client.get(f"/nodes/{world.node.pk}/").content.decode())
    assert "ssh_host_key" in part and "AAAAIFirstSeen" in part and "system" in part
    for url in (f"/clusters/{world.cluster.pk}/", f"/route-reflectors/{world.rr.pk}/",
                f"/border-gateways/{world.bgw.pk}/", f"/vms/{world.vm_a.pk}/"):  # fmt: skip
        assert "create" in changes_part(client.get(url).content.decode()), url


def test_a_portal_write_is_recorded_with_its_user_and_secrets_are_masked(world):
    client = world.client("admin")
    world.rr.ssh_password = "hunter2-root-password"
    world.rr.save()
    part = changes_part(client.get(f"/route-reflectors/{world.rr.pk}/").content.decode())
    assert "ssh_password" in part and "********" in part and "hunter2" not in part
    data = {"plan": world.plan.pk, "cluster": world.cluster.pk, "name": "db1"}
    response = world.client("alice").post("/vms/new/", data)
    assert response.status_code == 302
    part = changes_part(world.client("alice").get(response["Location"]).content.decode())
    assert "<td>alice</td>" in part and "<td>create</td>" in part


def test_tenants_see_their_vm_changes_without_node_or_vnet(world):
    world.vm_a.description = "shop"
    world.vm_a.save()
    staff = changes_part(world.client("operator").get(f"/vms/{world.vm_a.pk}/").content.decode())
    assert "vnet_name" in staff and "vnet1" in staff
    for who in ("alice", "alice_ro"):
        part = changes_part(world.client(who).get(f"/vms/{world.vm_a.pk}/").content.decode())
        assert "description" in part and "shop" in part, who
        for hidden in ("vnet_name", "vnet1", "<code>node</code>"):
            assert hidden not in part, (who, hidden)
