"""API keys and sessions: who is who, revocation, and keys shown once."""

from apps.tenancy.models import ApiKey
from apps.tenancy.services import api_key_create, api_key_revoke
from tests.api.conftest import assert_error, bearer

KEYS = "/api/v1/api-keys/"


def test_a_created_key_is_shown_once_and_works(world):
    response = world.client("alice").post(
        KEYS, {"name": "billing", "tenant": world.tenant_a.pk, "role": "read_only"}, format="json"
    )
    assert response.status_code == 201
    secret = response.json()["key"]
    key = ApiKey.objects.get(pk=response.json()["id"])
    assert secret.startswith(key.prefix) and secret not in key.hashed_key
    assert "key" not in world.client("alice").get(f"{KEYS}{key.pk}/").json()
    client = bearer(secret)
    assert client.get("/api/v1/vms/").status_code == 200
    assert_error(client.post("/api/v1/vms/", {}, format="json"), 403)  # read-only
    key.refresh_from_db()
    assert key.last_used is not None


def test_revoked_and_unknown_keys_are_401(world):
    key, secret = api_key_create(name="old", tenant=world.tenant_a, role="tenant_user")
    client = bearer(secret)
    assert client.get("/api/v1/vms/").status_code == 200
    response = world.client("alice").delete(f"{KEYS}{key.pk}/")
    assert response.status_code == 204
    assert_error(client.get("/api/v1/vms/"), 401, "authentication_failed")
    assert_error(bearer("fpk_nope").get("/api/v1/vms/"), 401, "authentication_failed")
    assert_error(bearer("two words").get("/api/v1/vms/"), 401, "authentication_failed")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_user_keys_act_as_their_user(world):
    _, secret = api_key_create(name="ops-key", user=world.users["operator"])
    assert bearer(secret).get("/api/v1/nodes/").status_code == 200
    world.users["operator"].is_active = False
    world.users["operator"].save()
    assert_error(bearer(secret).get("/api/v1/nodes/"), 401, "authentication_failed")


def test_key_management_rules(world):
    alice = world.client("alice")
    assert_error(alice.post(KEYS, {"name": "x", "user": "alice"}, format="json"), 400, field="user")
    assert_error(alice.post(KEYS, {"name": "x"}, format="json"), 400, field="tenant")
    bad_role = {"name": "x", "tenant": world.tenant_a.pk, "role": "admin"}
    assert_error(alice.post(KEYS, bad_role, format="json"), 400, field="role")
    b_key = world.client("b_key")  # a tenant key cannot mint or revoke keys
    own = {"name": "x", "tenant": world.tenant_b.pk, "role": "read_only"}
    assert_error(b_key.post(KEYS, own, format="json"), 403, "permission_denied")
    admin = world.client("admin")
    response = admin.post(KEYS, {"name": "ops", "user": "ops"}, format="json")
    assert response.status_code == 201 and response.json()["user"] == "ops"
    both = {"name": "x", "user": "ops", "tenant": world.tenant_a.pk, "role": "read_only"}
    assert_error(admin.post(KEYS, both, format="json"), 400)


def test_session_authentication_for_the_portal(world):
    auditor = world.client("auditor")  # logged in, no key
    assert auditor.get("/api/v1/nodes/").status_code == 200
    assert_error(auditor.post("/api/v1/plans/", {}, format="json"), 403)


def test_revoking_is_idempotent(world):
    key, _ = api_key_create(name="k", tenant=world.tenant_a, role="read_only")
    first = api_key_revoke(api_key=key).revoked_at
    key.refresh_from_db()
    assert api_key_revoke(api_key=key).revoked_at == first
