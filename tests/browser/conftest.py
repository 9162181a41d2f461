"""Real headless Chromium (Debian's `chromium`) driving the portal on pytest-django's
live server; the lab and the Celery worker from the end-to-end tests where the flow needs
real devices. Screenshots of the main pages go to test-artifacts/screenshots/."""

import os
import shutil
from pathlib import Path

import pytest

# The lab fixture is the session's (tests/conftest.py); the helpers are the end-to-end tests'.
from apps.fabric.models import Cluster
from apps.fabric.services import cluster_provision_start
from tests.e2e.conftest import add_node, assert_succeeded, build_cluster, wait_job

# Playwright's sync API runs an event loop in the test's thread; the ORM calls the tests
# make in between are still synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "browser-test-password"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless. Never a downloaded browser (`playwright install`)."""
    if not (os.path.exists(CHROMIUM) and shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (make test installs it)")
        pytest.skip("chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def lab_cluster(lab, celery_worker_process, transactional_db) -> Cluster:
    """The lab's cluster, provisioned with node1 ready, through the services and the worker.

    (The workflows must not run in the test's thread: Playwright's event loop lives there.)
    """
    cluster = build_cluster(lab)
    assert_succeeded(wait_job(cluster_provision_start(cluster=cluster)))
    node = add_node(lab, cluster, "node1")
    assert_succeeded(wait_job(node, "node_add"))
    cluster.refresh_from_db()
    return cluster


def login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login/" not in page.url, page.inner_text("main")


def logout(page) -> None:
    page.click("header button:has-text('Log out')")
    page.wait_for_url("**/login/")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_job_page(page, *, timeout: float = 150) -> str:
    """Wait, on a job page, until htmx has shown the job finished; return its state."""
    page.wait_for_selector(
        '#job-progress[data-state="succeeded"], #job-progress[data-state="failed"]',
        timeout=timeout * 1000,
    )
    return page.get_attribute("#job-progress", "data-state")
