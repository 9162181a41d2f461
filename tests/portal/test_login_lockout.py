"""Wrong passwords on the portal's and the admin's login lock out the account and the
address (django-axes, counted in the database), with a clear 429 page instead of a 500."""

import pytest
from django.test import Client

from tests.factories import make_user

PASSWORD = "correct horse battery staple"


@pytest.fixture
def carol(db):
    return make_user(username="carol", password=PASSWORD, is_staff=True, is_superuser=True)


def attempt(client, path, username, password):
    return client.post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_an_account_is_locked_after_five_wrong_passwords_from_any_address(carol, settings, path):
    settings.AXES_FAILURE_LIMIT = 5
    statuses = [
        attempt(Client(REMOTE_ADDR=f"192.0.2.{n}"), path, "carol", "wrong").status_code
        for n in range(1, 6)
    ]
    assert 429 not in statuses[:4] and 500 not in statuses
    response = attempt(Client(REMOTE_ADDR="192.0.2.99"), path, "carol", PASSWORD)
    assert response.status_code == 429  # even the right password, from a new address
    text = response.content.decode()
    assert "Too many failed logins" in text and "Traceback" not in text
    assert "_auth_user_id" not in response.client.session


def test_an_address_is_locked_after_five_wrong_passwords_for_any_account(carol, settings):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client(REMOTE_ADDR="198.51.100.7")
    for n in range(5):
        assert attempt(client, "/login/", f"nobody{n}", "wrong").status_code in (200, 429)
    assert attempt(client, "/login/", "carol", PASSWORD).status_code == 429
    # carol herself, from elsewhere, still logs in (one failure short of her own limit).
    elsewhere = Client(REMOTE_ADDR="198.51.100.8")
    assert attempt(elsewhere, "/login/", "carol", PASSWORD).status_code == 302


def test_a_right_password_before_the_limit_logs_in(carol):
    client = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(2):
        assert attempt(client, "/login/", "carol", "wrong").status_code == 200
    assert attempt(client, "/login/", "carol", PASSWORD).status_code == 302
