"""The lab (network namespaces, sshd, BIRD 2, the Junos simulator) as a pytest fixture."""

import os
import shutil
import subprocess

import pytest

from lab.netns import Lab, lab_down, lab_up

LAB_PREFIX = "ft"
LAB_UNDERLAY = "198.18.0.0/24"


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
    lab = lab_up(directory=directory, prefix=LAB_PREFIX, nodes=3, route_reflectors=2,
                 underlay=LAB_UNDERLAY, junos_minute_seconds=2.0)  # fmt: skip
    yield lab
    lab_down(directory=directory, prefix=LAB_PREFIX)


def birdc(lab: Lab, host: str, command: str) -> str:
    socket = lab.hosts[host].bird_socket
    return subprocess.run(
        ["birdc", "-s", socket, *command.split()], capture_output=True, text=True, check=False
    ).stdout


def core_routes(lab: Lab) -> dict[str, str]:
    """The core's kernel routes learned by BIRD: {prefix: next hop}."""
    out = lab.core.run("ip -4 route show proto bird").stdout
    routes = {}
    for line in out.splitlines():
        parts = line.split()
        if "via" in parts:
            routes[parts[0] if "/" in parts[0] else parts[0] + "/32"] = parts[
                parts.index("via") + 1
            ]
    return routes


def ping(lab: Lab, host_namespace: str, address: str) -> bool:
    result = subprocess.run(
        ["ip", "netns", "exec", host_namespace, "ping", "-c", "1", "-W", "2", address],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.returncode == 0
