"""`manage.py create_api_key`: the first API key from the shell, its secret printed once."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from apps.tenancy.models import ApiKey
from apps.tenancy.services import api_key_hash
from tests.factories import make_membership, make_tenant, make_user

pytestmark = pytest.mark.django_db


def create_key(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_a_tenant_key_is_printed_once_and_answers_for_its_tenant():
    acme = make_tenant(name="acme")
    make_tenant(name="globex")

    secret, told = create_key("--tenant", "acme", "--name", "billing")

    key = ApiKey.objects.get()
    assert key.tenant == acme and key.role == "tenant_user" and key.name == "billing"
    assert key.hashed_key == api_key_hash(secret) and secret not in told
    assert key.prefix in told and "acme" in told
    answer = Client().get("/api/v1/tenants/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200
    assert [t["name"] for t in answer.json()["results"]] == ["acme"]


def test_a_user_key_acts_as_its_user():
    admin = make_user(username="root")
    make_membership(user=admin, role="admin")

    secret, _ = create_key("--user", "root", "--name", "automation")

    key = ApiKey.objects.get()
    assert key.user == admin and key.tenant is None and key.role == ""
    answer = Client().post(
        "/api/v1/tenants/", {"name": "initech"}, HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert answer.status_code == 201, answer.content


def test_a_read_only_tenant_key_by_tenant_id():
    acme = make_tenant(name="acme")

    create_key("--tenant", str(acme.pk), "--name", "reports", "--role", "read_only")

    assert ApiKey.objects.get().role == "read_only"


def test_a_user_without_a_role_is_warned():
    make_user(username="someone")

    _, told = create_key("--user", "someone", "--name", "x")

    assert "has no role" in told


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--name", "billing"], "--tenant: there is no tenant 'nope'"),
        (["--user", "nope", "--name", "billing"], "--user: there is no user 'nope'"),
        (["--tenant", "acme", "--name", "bad\nname"], "--name:"),
        (["--tenant", "acme", "--name", ""], "--name:"),
    ],
)
def test_bad_arguments_name_the_option_and_make_no_key(args, message):
    make_tenant(name="acme")

    with pytest.raises(CommandError, match=message):
        create_key(*args)

    assert not ApiKey.objects.exists()


def test_a_tenant_and_a_user_at_once_are_refused():
    make_tenant(name="acme")
    make_user(username="root")

    with pytest.raises(CommandError, match="not allowed with"):
        create_key("--tenant", "acme", "--user", "root", "--name", "x")
