"""Small test factories: plain keyword-only functions, one per model.

`build_*` returns an unsaved instance with valid defaults (for validation tests that change
one field and call `full_clean()`); `make_*` builds, runs `full_clean()` and saves, as the
services do. Every default is unique per call, so several objects can live in one test.
Anything can be overridden by keyword.
"""

import itertools

from django.contrib.auth import get_user_model

from apps.compute.models import Plan, VirtualMachine
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.ipam.models import IPPool, Network
from apps.tenancy.models import Membership, Tenant

TEST_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ntest-only\n-----END OPENSSH PRIVATE KEY-----\n"

# A valid OpenSSH public host key (test only: no host holds its private half).
TEST_HOST_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJDCW54iUnVOR5dEjg6WMpPZ0mk4fm+4ezTeLK5530UC test-host"
)

_sequence = itertools.count(1)


def _next() -> int:
    return next(_sequence)


def _underlay(second_octet: int, n: int) -> str:
    """A private underlay address 10.<second_octet>.x.y, distinct for each n."""
    return f"10.{second_octet}.{n // 250 % 250}.{n % 250 + 1}"


def _given(value, default):
    """`value` unless it is None (so that "" can be passed to test a blank field)."""
    return default if value is None else value


def _save(instance):
    instance.full_clean()
    instance.save()
    return instance


# --- tenancy -------------------------------------------------------------------------------


def make_user(*, username: str | None = None, **overrides):
    username = _given(username, f"user{_next()}")
    return get_user_model().objects.create_user(username=username, **overrides)


def build_tenant(*, name: str | None = None, **overrides) -> Tenant:
    return Tenant(name=_given(name, f"tenant-{_next()}"), **overrides)


def make_tenant(**overrides) -> Tenant:
    return _save(build_tenant(**overrides))


def build_membership(*, user=None, tenant=None, role: str = "tenant_user", **overrides):
    return Membership(user=user or make_user(), tenant=tenant, role=role, **overrides)


def make_membership(**overrides) -> Membership:
    return _save(build_membership(**overrides))


# --- fabric --------------------------------------------------------------------------------


def build_cluster(**overrides) -> Cluster:
    fields = {"name": f"cluster-{_next()}", "bgp_asn": 65000, "bgp_community": "65000:100"}
    fields.update(overrides)
    return Cluster(**fields)


def make_cluster(**overrides) -> Cluster:
    return _save(build_cluster(**overrides))


def make_ready_cluster(**overrides) -> Cluster:
    """A cluster that takes orders: `ready`, with one ready lab (netns) node."""
    cluster = make_cluster(**{"state": Cluster.State.READY, **overrides})
    make_node(cluster=cluster, hypervisor=Node.Hypervisor.NETNS, state=Node.State.READY)
    return cluster


def build_node(
    *, cluster: Cluster | None = None, name: str | None = None, underlay_ip: str | None = None, **o
) -> Node:
    n = _next()
    fields = {
        "cluster": cluster or make_cluster(),
        "name": _given(name, f"node-{n}"),
        "underlay_ip": _given(underlay_ip, _underlay(1, n)),
        "ssh_private_key": TEST_SSH_KEY,
        "ssh_host_key": TEST_HOST_KEY,
        "vcpus": 16,
        "memory_mb": 65536,
        "disk_gb": 500,
    }
    fields.update(o)
    return Node(**fields)


def make_node(**overrides) -> Node:
    return _save(build_node(**overrides))


def build_rr(
    *, cluster: Cluster | None = None, name: str | None = None, peering_ip: str | None = None, **o
) -> RouteReflector:
    n = _next()
    fields = {
        "cluster": cluster or make_cluster(),
        "name": _given(name, f"rr-{n}"),
        "peering_ip": _given(peering_ip, _underlay(2, n)),
        "ssh_private_key": TEST_SSH_KEY,
        "ssh_host_key": TEST_HOST_KEY,
    }
    fields.update(o)
    return RouteReflector(**fields)


def make_rr(**overrides) -> RouteReflector:
    return _save(build_rr(**overrides))


def build_bgw(*, cluster: Cluster | None = None, **overrides) -> BorderGateway:
    n = _next()
    cluster = cluster or make_cluster()
    fields = {
        "cluster": cluster,
        "name": f"mx-{n}",
        "mgmt_host": f"mx-{n}.example.net",
        "username": "netops",
        "password": "test-only-password",
        "peering_ip": _underlay(3, n),
        "peer_asn": cluster.bgp_asn,
        "ssh_host_key": TEST_HOST_KEY,
    }
    fields.update(overrides)
    return BorderGateway(**fields)


def make_bgw(**overrides) -> BorderGateway:
    return _save(build_bgw(**overrides))


# --- ipam ----------------------------------------------------------------------------------


def build_network(
    *, cluster: Cluster | None = None, prefix: str | None = None, **overrides
) -> Network:
    if prefix is None:
        n = _next()
        prefix = f"185.{n // 256 % 256}.{n % 256}.0/24"
    return Network(cluster=cluster or make_cluster(), prefix=prefix, **overrides)


def make_network(**overrides) -> Network:
    return _save(build_network(**overrides))


def build_pool(
    *,
    network: Network | None = None,
    first: str | None = None,
    last: str | None = None,
    name: str | None = None,
    **overrides,
) -> IPPool:
    """A pool of `network`; by default its addresses 10 to 200 (or to the last but one)."""
    network = network or make_network()
    addresses = network.ip_network
    return IPPool(
        network=network,
        name=_given(name, f"pool-{_next()}"),
        first_address=_given(first, str(addresses[10])),
        last_address=_given(last, str(addresses[min(200, addresses.size - 2)])),
        **overrides,
    )


def make_pool(**overrides) -> IPPool:
    return _save(build_pool(**overrides))


# --- compute -------------------------------------------------------------------------------


def build_plan(*, name: str | None = None, kind: str = Plan.Kind.VM, **overrides) -> Plan:
    fields = {"vcpus": 2, "memory_mb": 2048, "disk_gb": 20}
    fields.update(overrides)
    return Plan(name=_given(name, f"plan-{_next()}"), kind=kind, **fields)


def make_plan(**overrides) -> Plan:
    return _save(build_plan(**overrides))


def build_vm(
    *,
    tenant: Tenant | None = None,
    plan: Plan | None = None,
    cluster: Cluster | None = None,
    name: str | None = None,
    **overrides,
) -> VirtualMachine:
    return VirtualMachine(
        tenant=tenant or make_tenant(),
        plan=plan or make_plan(),
        cluster=cluster or make_cluster(),
        name=_given(name, f"vm-{_next()}"),
        **overrides,
    )


def make_vm(**overrides) -> VirtualMachine:
    return _save(build_vm(**overrides))
