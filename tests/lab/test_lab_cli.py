"""`make lab-down` (`python -m lab down`) leaves nothing behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")
def test_lab_down_removes_its_directory(tmp_path):
    directory = tmp_path / "lab"
    (directory / "node1").mkdir(parents=True)
    (directory / "lab.json").write_text("{}")
    (directory / "node1" / "ssh_host_ed25519_key").write_text("key")

    done = subprocess.run(
        [sys.executable, "-m", "lab", "down", "--dir", str(directory), "--prefix", "ftcli"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert f"{directory} removed" in done.stdout
    assert not directory.exists()
