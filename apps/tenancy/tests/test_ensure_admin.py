"""`make run`'s first administrator: created once, its password printed that once."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run(settings, tmp_path) -> str:
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("ensure_admin", username="root", stdout=out)
    return out.getvalue()


def test_the_password_is_printed_once_with_the_login_address(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("FABRIC_ADMIN_PASSWORD", "first-run-password-1")

    first, second = run(settings, tmp_path), run(settings, tmp_path)

    assert "first-run-password-1" in first and "http://127.0.0.1:8000/login/" in first
    assert "first-run-password-1" not in second
    assert "http://127.0.0.1:8000/login/" in second and str(tmp_path / "admin-password") in second
    assert get_user_model().objects.get(username="root").check_password("first-run-password-1")
    assert (tmp_path / "admin-password").stat().st_mode & 0o777 == 0o600
