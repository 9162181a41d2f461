"""A node's options are explicit fields, not guessed from its driver or addresses."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migration_adding(loader, app: str, field: str) -> tuple[str, str]:
    for (label, name), migration in loader.disk_migrations.items():
        if label == app and any(getattr(op, "name", "") == field for op in migration.operations):
            return label, name
    raise LookupError(field)


@pytest.mark.django_db(transaction=True)
def test_nodes_the_old_rule_took_for_lab_nodes_keep_their_sysctls_unpersisted():
    executor = MigrationExecutor(connection)
    adding = migration_adding(executor.loader, "fabric", "persist_host_config")
    dependencies = executor.loader.get_migration(*adding).dependencies
    before = [dep for dep in dependencies if dep[0] == "fabric"]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    cluster = old.get_model("fabric", "Cluster").objects.create(
        name="old", bgp_asn=65000, bgp_community="65000:1"
    )
    node = old.get_model("fabric", "Node").objects
    common = {"cluster": cluster, "ssh_private_key": "k", "vcpus": 1, "memory_mb": 64,
              "disk_gb": 1}  # fmt: skip
    node.create(name="ns", underlay_ip="10.9.0.1", hypervisor="netns", **common)
    node.create(name="private", underlay_ip="10.9.0.2", hypervisor="lxd",
                hypervisor_options={"state_dir": "/srv/hv"}, **common)  # fmt: skip
    node.create(name="server", underlay_ip="10.9.0.3", hypervisor="libvirt", **common)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    new = executor.loader.project_state(executor.loader.graph.leaf_nodes()).apps
    persisted = new.get_model("fabric", "Node").objects.values_list("name", "persist_host_config")
    assert dict(persisted) == {"ns": False, "private": False, "server": True}
