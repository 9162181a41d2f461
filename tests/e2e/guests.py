"""Acting inside lab guests, for the tests: a shell command in an LXD container or a QEMU VM.

LXD containers: `lxc exec` on the node's LXD. QEMU VMs have no management channel; the lab's
own image (lab/images.py, never the product) serves a CGI at http://VM_IP/cgi-bin/run that
runs the POSTed body with `sh`. It is reached from the core's internet-side address, as any
client on the internet would reach the VM.
"""

import shlex
import sys
from dataclasses import dataclass

from apps.compute.models import VirtualMachine
from tests.e2e.test_real_hypervisors import address_of, in_namespace, internet_host, lxc


@dataclass(frozen=True)
class GuestRun:
    status: int
    output: str

    @property
    def ok(self) -> bool:
        return self.status == 0


def guest_sh(lab, vm: VirtualMachine, command: str, *, timeout: float = 30) -> GuestRun:
    """Run `command` with `sh` inside `vm` (output: stdout and stderr together)."""
    if vm.node.hypervisor == "lxd":
        done = lxc(lab, vm.node.name, f"exec fabric-vm-{vm.pk} -- sh -c {shlex.quote(command)}")
        return GuestRun(done.returncode, done.stdout + done.stderr)
    code = (
        "import http.client,sys;"
        f"c=http.client.HTTPConnection('{address_of(vm)}',80,timeout={timeout},"
        f"source_address=('{internet_host(lab)}',0));"
        f"c.request('POST','/cgi-bin/run',body={command.encode()!r});"
        "sys.stdout.write(c.getresponse().read().decode())"
    )
    done = in_namespace(lab.core.namespace, f"{sys.executable} -c {shlex.quote(code)}")
    body, marker, status = done.stdout.rpartition("exit=")
    if not marker:
        raise AssertionError(f"no answer from {vm} ({address_of(vm)}): {done.stderr[-500:]}")
    return GuestRun(int(status.strip()), body)


def tcp_connects(lab, vm: VirtualMachine, host: str, port: int) -> bool:
    """Whether a TCP connection from inside `vm` to host:port is established (busybox nc:
    exit 0 once connected; "can't connect" or "timed out" otherwise)."""
    return guest_sh(lab, vm, f"nc -w 2 {host} {port:d} </dev/null").ok


# A BGP OPEN (RFC 4271): marker, length 29, type 1, version 4, AS 64512, hold 90 s, router id
# 10.0.0.2, no optional parameters; in octal for busybox printf.
BGP_OPEN = "\\377" * 16 + "\\000\\035\\001\\004\\374\\000\\000\\132\\012\\000\\000\\002\\000"


def bgp_open_accepted(lab, vm: VirtualMachine, host: str) -> bool:
    """Whether `vm` can open TCP to host:179 and hand it a BGP OPEN."""
    return guest_sh(lab, vm, f"printf '{BGP_OPEN}' | nc -w 2 {host} 179").ok
