"""The Celery app of the worker-loss tests' workers: the project's, plus `test_hold`."""

from apps.jobs import registry
from fabric_portal.celery import app
from tests.integration.hold_workflow import HOLD

registry._workflows[HOLD.kind] = HOLD

__all__ = ["app"]
