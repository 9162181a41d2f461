"""A small world for the API tests: two tenants, a cluster to order on, one principal per role.

Every principal authenticates for real: API keys in `Authorization: Bearer`, and the
platform auditor through a session (as the portal would).
"""

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from apps.tenancy.services import api_key_create
from tests.factories import (
    make_membership,
    make_network,
    make_plan,
    make_pool,
    make_ready_cluster,
    make_tenant,
    make_user,
)


@dataclass
class World:
    tenant_a: object
    tenant_b: object
    cluster: object
    plan: object
    clients: dict
    users: dict
    secrets: dict

    def client(self, who: str) -> APIClient:
        return self.clients[who]


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def make_world() -> World:
    tenant_a, tenant_b = make_tenant(name="acme"), make_tenant(name="globex")
    cluster = make_ready_cluster(name="fra1")
    make_pool(network=make_network(cluster=cluster, prefix="203.0.113.0/24"),
              first="203.0.113.10", last="203.0.113.250")  # fmt: skip
    plan = make_plan(name="small")

    users = {
        "admin": make_user(username="root", is_superuser=True, is_staff=True),
        "operator": make_user(username="ops"),
        "auditor": make_user(username="auditor"),
        "alice": make_user(username="alice"),
        "bob": make_user(username="bob"),
    }
    make_membership(user=users["operator"], role="operator")
    make_membership(user=users["auditor"], role="read_only")
    make_membership(user=users["alice"], tenant=tenant_a, role="tenant_user")
    make_membership(user=users["bob"], tenant=tenant_b, role="tenant_user")

    clients, secrets = {"anonymous": APIClient()}, {}
    for who in ("admin", "operator", "alice", "bob"):
        secrets[who] = api_key_create(name=who, user=users[who])[1]
        clients[who] = bearer(secrets[who])
    clients["alice_ro"] = bearer(api_key_create(name="ro", tenant=tenant_a, role="read_only")[1])
    clients["b_key"] = bearer(api_key_create(name="bk", tenant=tenant_b, role="tenant_user")[1])
    auditor = APIClient()
    auditor.force_login(users["auditor"])
    clients["auditor"] = auditor
    return World(tenant_a, tenant_b, cluster, plan, clients, users, secrets)


@pytest.fixture
def world(db) -> World:
    return make_world()


def assert_error(response, status: int, code: str | None = None, field: str | None = None):
    """The one error shape: {"error": {"status", "code", "message", "fields"}}."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    error = response.json()["error"]
    assert set(error) == {"status", "code", "message", "fields"}
    assert error["status"] == status and error["message"]
    if code:
        assert error["code"] == code, error
    if field:
        assert field in error["fields"], error
    return error
