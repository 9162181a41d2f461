"""Fixtures shared by every test: real services, started by scripts/test.sh, made usable."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from lab.netns import Lab, free_underlay, lab_down, lab_up

ROOT = Path(__file__).resolve().parent.parent


def _database_url(settings_dict: dict) -> str:
    """The URL of the database the tests use (pytest-django's test database)."""
    engine = settings_dict["ENGINE"]
    if "sqlite" in engine:
        return f"sqlite:///{settings_dict['NAME']}"
    options = settings_dict.get("OPTIONS", {})
    host = quote(str(settings_dict.get("HOST") or options.get("host", "")), safe="")
    port = settings_dict.get("PORT") or options.get("port", "")
    user = settings_dict.get("USER") or ""
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


def start_celery_worker(log_path: Path, *, name: str = "test-worker", queues: str = "celery",
                        env: dict | None = None, app: str = "fabric_portal",
                        ) -> subprocess.Popen:  # fmt: skip
    """Start a real `celery worker` on the test broker and database; wait until ready.

    `app`: the module of the Celery app (a test's may register test-only workflows)."""
    environment = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", app, "worker",
            "--pool=solo", "--loglevel=INFO", "--without-mingle", "--without-gossip",
            f"--hostname={name}@%h", "-Q", queues,
        ],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    process.log_path = log_path
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"celery worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    return process


def stop_celery_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real `celery worker` process on the test broker and the test database."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database: run through `make test` (PostgreSQL)")
    process = start_celery_worker(tmp_path_factory.mktemp("celery") / "worker.log")
    yield process
    stop_celery_worker(process)


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = ""):
    """Poll `predicate` until it returns a truthy value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(message or f"timed out after {timeout}s waiting for {predicate}")


# Each test session gets a lab of its own (namespaces, links, underlay), so that two
# sessions on one machine - or a session beside `make demo` - never tear each other down.
LAB_PREFIX = os.environ.get("FABRIC_TEST_LAB_PREFIX", f"ft{os.getpid() % 100:02d}")


def _missing_requirements() -> str:
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces)"
    for tool in ("bird", "birdc", "ip", "ssh-keygen"):
        if not shutil.which(tool):
            return f"{tool} is not installed (make test installs it)"
    if not os.path.exists("/usr/sbin/sshd"):
        return "openssh-server is not installed (make test installs it)"
    return ""


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    missing = _missing_requirements()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"lab tests cannot run: {missing}")
        pytest.skip(missing)
    directory = tmp_path_factory.mktemp("lab")
    underlay = os.environ.get("FABRIC_TEST_LAB_UNDERLAY") or free_underlay(
        [f"198.18.{n % 256}.0/24" for n in range(os.getpid() % 256, os.getpid() % 256 + 256)]
    )
    lab = lab_up(directory=directory, prefix=LAB_PREFIX, nodes=3, route_reflectors=2,
                 underlay=underlay, junos_minute_seconds=6.0)  # fmt: skip
    yield lab
    lab_down(directory=directory, prefix=LAB_PREFIX)
