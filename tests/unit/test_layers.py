"""Seams between the layers that the import contracts (pyproject.toml, `lint-imports`)
cannot see: values one layer mirrors from another, and the lab's app installed only with
the lab, and imports hidden in functions (to dodge a cycle the contracts would see)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

from apps.compute.models import VirtualMachine
from apps.fabric.selectors import ANNOUNCED_VM_STATES

ROOT = Path(__file__).resolve().parent.parent.parent


def test_fabric_announces_the_routes_of_provisioning_running_and_stopped_vms():
    """...and of those on the way between running and stopped."""
    state = VirtualMachine.State
    assert (state.PROVISIONING, *VirtualMachine.PLACED_STATES) == ANNOUNCED_VM_STATES


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


PROJECT_PACKAGES = ("apps", "workers", "lab", "fabric_portal")


def imports_inside_functions(path: Path) -> list[str]:
    """`module:line` of each import of the project's own packages made in a function."""
    found = []
    for function in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.split(".")[0] in PROJECT_PACKAGES for name in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_module_imports_the_project_inside_a_function_but_app_configs_ready():
    modules = [
        path
        for package in PROJECT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "tests" not in path.parts and path.name != "apps.py"  # ready(): Django's hook
    ]
    assert len(modules) > 50
    assert [place for path in modules for place in imports_inside_functions(path)] == []
