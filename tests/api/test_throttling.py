"""API throttles: per key, per user session and per anonymous address, in a shared cache,
answering 429 in the one error format with Retry-After."""

import uuid

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.tenancy.services import api_key_create
from tests.api.conftest import assert_error, bearer


@pytest.fixture
def low_rates(settings):
    settings.FABRIC_API_THROTTLE_RATES = {"anon": "3/min", "authenticated": "5/min"}


def address() -> str:
    """An anonymous client's address no other test (or earlier run) has used."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


def test_a_key_is_throttled_with_429_and_retry_after(world, low_rates):
    key = bearer(api_key_create(name="hot", tenant=world.tenant_a, role="read_only")[1])
    for _ in range(5):
        assert key.get("/api/v1/vms/").status_code == 200
    response = key.get("/api/v1/vms/")
    error = assert_error(response, 429, "throttled")
    assert error["fields"] == {}
    assert 0 < int(response["Retry-After"]) <= 60
    assert_error(key.post("/api/v1/vms/", {}, format="json"), 429, "throttled")
    # Another key of the same tenant has its own budget.
    other = bearer(api_key_create(name="cold", tenant=world.tenant_a, role="read_only")[1])
    assert other.get("/api/v1/vms/").status_code == 200


def test_a_user_session_and_a_user_key_are_throttled(world, low_rates):
    session = APIClient()
    session.force_login(world.users["alice"])
    for _ in range(5):
        assert session.get("/api/v1/jobs/").status_code == 200
    assert_error(session.get("/api/v1/jobs/"), 429, "throttled")
    user_key = world.client("alice")  # a key has a budget of its own
    for _ in range(5):
        assert user_key.get("/api/v1/jobs/").status_code == 200
    assert_error(user_key.get("/api/v1/jobs/"), 429, "throttled")


def test_anonymous_addresses_are_throttled_even_with_bad_keys(db, low_rates):
    mine = address()
    anonymous = APIClient(REMOTE_ADDR=mine)
    guessing = APIClient(REMOTE_ADDR=mine, HTTP_AUTHORIZATION="Bearer fpk_guess")
    assert_error(anonymous.get("/api/v1/vms/"), 401, "not_authenticated")
    assert_error(guessing.get("/api/v1/vms/"), 401, "authentication_failed")
    assert_error(anonymous.get("/api/v1/vms/"), 401)
    response = guessing.get("/api/v1/vms/")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert_error(APIClient(REMOTE_ADDR=address()).get("/api/v1/vms/"), 401)  # another address


def test_throttle_state_lives_in_the_shared_cache():
    backend = django_settings.CACHES["default"]["BACKEND"]
    assert backend == "django.core.cache.backends.redis.RedisCache", backend
    probe = f"probe-{uuid.uuid4().hex}"
    cache.set(probe, 1, 10)
    assert cache.get(probe) == 1  # the Redis started by the test command answers


def test_an_unreachable_cache_does_not_fail_requests(world, low_rates, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    assert world.client("alice").get("/api/v1/vms/").status_code == 200
