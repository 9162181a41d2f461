"""Secrets by default: off DEBUG the product refuses the development SECRET_KEY and a missing
FIELD_ENCRYPTION_KEY; cookies are Secure; `make run` makes its own keys in var/ (0600)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
DEV_KEY = "insecure-local-development-key-change-me"
GOOD = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "-a-long-random-production-secret-key-value",
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}
SHOW = (
    "from django.conf import settings as s; "
    "print(s.SECRET_KEY, s.FIELD_ENCRYPTION_KEY, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
)


def manage(tmp_path, overrides: dict, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE",
                        "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"}}  # fmt: skip
    env.update({"FABRIC_VAR_DIR": str(tmp_path), **overrides})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip


def show(tmp_path, overrides: dict) -> list[str]:
    result = manage(tmp_path, overrides, "shell", "-c", SHOW)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split()  # after the auto-import note


def test_the_development_secret_key_is_refused_off_debug(tmp_path):
    for value in (DEV_KEY, ""):
        result = manage(tmp_path, {**GOOD, "SECRET_KEY": value}, "check")
        assert result.returncode != 0, value
        assert "SECRET_KEY must be set" in result.stderr


def test_a_missing_encryption_key_is_refused_off_debug_with_how_to_make_one(tmp_path):
    result = manage(tmp_path, {**GOOD, "FIELD_ENCRYPTION_KEY": ""}, "check")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY must be set" in result.stderr
    assert "Fernet.generate_key()" in result.stderr
    bad = manage(tmp_path, {**GOOD, "FIELD_ENCRYPTION_KEY": "not-a-fernet-key"}, "check")
    assert bad.returncode != 0 and "FIELD_ENCRYPTION_KEY" in bad.stderr


def test_the_encryption_key_is_never_derived_from_the_secret_key(tmp_path):
    assert show(tmp_path, GOOD)[1] == GOOD["FIELD_ENCRYPTION_KEY"]


def test_debug_keeps_working_without_any_secret(tmp_path):
    secret, key, session, csrf = show(tmp_path, {"DEBUG": "1"})
    assert secret == DEV_KEY and Fernet(key.encode())
    assert (session, csrf) == ("False", "False")


def test_cookies_are_secure_by_default_off_debug(tmp_path):
    assert show(tmp_path, GOOD)[2:] == ["True", "True"]
    off = {**GOOD, "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0"}
    assert show(tmp_path, off)[2:] == ["False", "False"]  # plain-http `make run` says so


def test_run_makes_its_keys_once_in_var_with_mode_0600_and_settings_read_them(tmp_path):
    script = f'source scripts/common.sh && ensure_local_secrets "{tmp_path}"'
    for _ in range(2):
        subprocess.run(["bash", "-c", script], cwd=ROOT, check=True, capture_output=True)
    files = [tmp_path / "secret_key", tmp_path / "field_encryption_key"]
    first = [f.read_text() for f in files]
    subprocess.run(["bash", "-c", script], cwd=ROOT, check=True, capture_output=True)
    assert [f.read_text() for f in files] == first  # reused, not remade
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert first[0].strip() != DEV_KEY and Fernet(first[1].strip().encode())
    secret, key, _, _ = show(tmp_path, {"DEBUG": "0"})
    assert (secret, key) == (first[0].strip(), first[1].strip())


def test_dockerignore_keeps_secrets_and_state_out_of_the_image():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().split("\n")
               if line.strip() and not line.startswith("#")}  # fmt: skip
    for name in (".env", "var", ".git", ".venv", "test-artifacts", "**/__pycache__"):
        assert name in ignored, name
