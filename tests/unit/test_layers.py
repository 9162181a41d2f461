"""Seams between the layers that the import contracts (pyproject.toml, `lint-imports`)
cannot see: values one layer mirrors from another, and the lab's app installed only with
the lab."""

import os
import subprocess
import sys
from pathlib import Path

from apps.compute.models import VirtualMachine
from apps.fabric.selectors import ANNOUNCED_VM_STATES

ROOT = Path(__file__).resolve().parent.parent.parent


def test_fabric_announces_the_routes_of_provisioning_running_and_stopped_vms():
    state = VirtualMachine.State
    assert ANNOUNCED_VM_STATES == (state.PROVISIONING, state.RUNNING, state.STOPPED)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "FABRIC_LAB"} | env
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_seed_lab_exists_only_where_the_lab_is_in_use():
    without = manage("seed_lab", "--help")
    assert without.returncode != 0 and "Unknown command: 'seed_lab'" in without.stderr

    with_lab = manage("seed_lab", "--help", FABRIC_LAB="1")
    assert with_lab.returncode == 0, with_lab.stderr
    assert "--lab-dir" in with_lab.stdout
