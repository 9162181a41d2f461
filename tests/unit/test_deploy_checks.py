"""Production settings pass Django's deployment checks; unsafe ones are reported."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x7#9kq!m2v@z8p$w4r&t6y*u1i(o3e)l5a-s0d+f=g^h%j~cN4bV7nM1qW3eR5tY8u",
    "FIELD_ENCRYPTION_KEY": "pIYBtBxuXo0dfjqd7jj2ubDu6Y6YGTWbYQ-yCHOp1kk=",
    "ALLOWED_HOSTS": "portal.example.net",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def check_deploy(overrides: dict) -> subprocess.CompletedProcess:
    # the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE belongs to the test harness, not production
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_production_settings_pass_check_deploy():
    result = check_deploy(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_default_settings_are_reported_as_unfit_for_production():
    result = check_deploy({"DEBUG": "1", "SECURE_HSTS_SECONDS": "0", "SESSION_COOKIE_SECURE": "0"})
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # no HSTS


def test_missing_secret_key_is_refused_off_debug():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    env["SECRET_KEY"] = ""
    result = check_deploy({**env, "SECRET_KEY": "insecure-local-development-key-change-me"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
