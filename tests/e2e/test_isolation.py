"""Guest isolation on netns nodes: VMs ordered through the API, built by the real worker,
then attacked from inside the guests. The node's packet filter (workers/firewall.py) must
stop spoofing and every path to the provider's side, and keep the public paths working.

FABRIC_TEST_ISOLATION_FILTER_OFF=1 deletes the filter tables after the VMs are built: the
negative checks must then fail (that is how they were shown to be able to fail).
"""

import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model

from apps.compute.reconcile import reconcile
from apps.fabric.models import Node
from apps.fabric.workflows import node_add
from apps.ipam.models import IPPool, Network
from apps.tenancy.services import api_key_create
from lab.seeding.records import lab_node_fields, lab_vm_namespace_prefix
from tests.conftest import wait_for
from tests.e2e.api_client import Api
from tests.e2e.conftest import assert_succeeded, core_routes, ping, run_inline
from workers.firewall import TABLE

pytestmark = pytest.mark.lab

PUBLIC_V6 = "2001:db8:100::/64"
INTERNET_HOST = "192.0.2.1"  # an address on the core's loopback: a host beyond the gateway
FILTER_OFF = os.environ.get("FABRIC_TEST_ISOLATION_FILTER_OFF") == "1"

PROBE = """\
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as exc:
    print(f"error {exc.errno}")
"""


def netns(namespace: str, command: str, *, check: bool = True) -> str:
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "sh", "-c", command],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"{namespace}: `{command}` failed: {result.stderr}")
    return result.stdout


def tcp(namespace: str, address: str, port: int, timeout: float = 2.0) -> str:
    """connected / refused / timeout (silently dropped) / error N, from `namespace`."""
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", PROBE, address, str(port),
         str(timeout)],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return out


def counter(namespace: str, family: str, table: str, comment: str) -> int:
    """Packets counted by the rule of `table` whose comment is `comment`."""
    out = netns(namespace, f"nft -a list table {family} {table}")
    for line in out.splitlines():
        if f'comment "{comment}"' in line and "counter packets" in line:
            return int(line.split("counter packets")[1].split()[0])
    raise AssertionError(f"no rule {comment!r} in {family} {table}:\n{out}")


@pytest.fixture
def api_users(live_server):
    admin = get_user_model().objects.create_superuser("root", password="not-used-here-1")
    _, secret = api_key_create(name="isolation admin", user=admin)
    return Api(live_server.url, secret)


@pytest.fixture
def core_probe(lab):
    """Counts, in the core, echo requests by source address (a table of the test's own)."""
    core = lab.core.namespace
    netns(core, f"ip addr add {INTERNET_HOST}/32 dev lo")
    netns(core, "nft add table inet isolation_probe")
    netns(core, "nft 'add chain inet isolation_probe pre { type filter hook prerouting "
                "priority -300 ; policy accept ; }'")  # fmt: skip

    def count(source: str) -> int:
        rules = netns(core, "nft list chain inet isolation_probe pre")
        if f"ip saddr {source} " not in rules:
            netns(core, f"nft add rule inet isolation_probe pre ip saddr {source} "
                        "icmp type echo-request counter")  # fmt: skip
            return 0
        for line in rules.splitlines():
            if f"ip saddr {source} " in line:
                return int(line.split("counter packets")[1].split()[0])
        return 0

    yield count
    netns(core, "nft delete table inet isolation_probe", check=False)
    netns(core, f"ip addr del {INTERNET_HOST}/32 dev lo", check=False)


def test_guests_can_reach_the_internet_and_each_other_and_nothing_of_the_provider(
    lab, provisioned_cluster, celery_worker_process, api_users, core_probe
):
    cluster = provisioned_cluster
    network = Network.objects.create(cluster=cluster, prefix=PUBLIC_V6)
    IPPool.objects.create(network=network, name="v6", first_address="2001:db8:100::10",
                          last_address="2001:db8:100::50")  # fmt: skip
    node2 = Node.objects.create(cluster=cluster, **lab_node_fields(lab, "node2"))
    assert_succeeded(run_inline("node_add", node2, node_add))
    api = api_users
    plan = api.post("/plans/", {"name": "iso", "kind": "vm", "vcpus": 1, "memory_mb": 1024,
                                "disk_gb": 10})  # fmt: skip
    tenants = [api.post("/tenants/", {"name": name, "max_vms": 5}) for name in ("acme", "evil")]
    vms = []
    for tenant, name in ((tenants[0], "a1"), (tenants[0], "a2"), (tenants[1], "e1")):
        key = api.post("/api-keys/", {"name": f"{name} key", "tenant": tenant["id"],
                                      "role": "tenant_user"})  # fmt: skip
        customer = Api(api.base_url.removesuffix("/api/v1"), key["key"])
        vm = customer.post("/vms/", {"plan": plan["id"], "cluster": cluster.pk, "name": name},
                           expect=202)  # fmt: skip
        customer.succeeded(vm["job"])
        vms.append(api.get(f"/vms/{vm['id']}/"))  # the operator's view names the node
    a1, a2, evil = vms
    for vm in vms:
        assert vm["ipv6"], vm
    ns = {vm["name"]: f"{lab_vm_namespace_prefix(lab)}{vm['id']}" for vm in vms}
    nodes = {n.pk: lab.hosts[n.name] for n in Node.objects.filter(cluster=cluster)}
    by_node: dict[int, list] = {}
    for vm in vms:
        by_node.setdefault(vm["node"], []).append(vm)
    same = next(pair for pair in by_node.values() if len(pair) == 2)
    other = next(vm for vm in vms if vm not in same)
    evil_node = nodes[evil["node"]]
    wait_for(lambda: len(core_routes(lab)) >= 3, timeout=20)
    if FILTER_OFF:
        for host in nodes.values():
            host.run(f"nft delete table inet {TABLE}; nft delete table arp {TABLE}")

    # what must keep working: the core reaches every guest (ping, HTTP); guests reach each
    # other by their public addresses on one node and across nodes; IPv6 on one node
    for vm in vms:
        assert ping(lab, lab.core.namespace, vm["ipv4"]), vm["name"]
    server = subprocess.Popen(  # noqa: S603 - the test's own namespace and address
        ["ip", "netns", "exec", ns["a1"], sys.executable, "-m", "http.server", "8080",
         "--bind", a1["ipv4"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        fetch = (f"{sys.executable} -c \"import urllib.request; print(urllib.request.urlopen("
                 f"'http://{a1['ipv4']}:8080/', timeout=3).status)\"")  # fmt: skip
        assert wait_for(lambda: netns(lab.core.namespace, fetch, check=False).strip() == "200",
                        timeout=10)  # fmt: skip
        assert tcp(ns[same[1]["name"]], same[0]["ipv4"], 22) == "refused"  # reached, no sshd
    finally:
        server.kill()
        server.wait()
    assert ping(lab, ns[same[0]["name"]], same[1]["ipv4"]), "two guests on one node"
    assert ping(lab, ns[same[1]["name"]], other["ipv4"]), "guests on two nodes"
    netns(ns[same[0]["name"]], f"ping -6 -c 1 -W 2 {same[1]['ipv6']}")  # IPv6, one node
    assert ping(lab, ns["a1"], cluster.gateway_ipv4), "ICMP to the gateway"
    before = core_probe(evil["ipv4"])
    assert ping(lab, ns["e1"], INTERNET_HOST), "a guest reaches the internet"
    assert core_probe(evil["ipv4"]) > before, "the core counts the guest's own pings"

    # Every leak is collected, so that one run shows them all (with the filter off: each).
    leaks = []

    # 1. spoofing: e1 takes the addresses of another tenant's VM (on the other node) and
    # pings the internet and the guest beside it on its node from them
    victim = next(vm for vm in vms if vm["node"] != evil["node"])
    target = next(vm for vm in vms if vm["node"] == evil["node"] and vm is not evil)
    netns(ns["e1"], f"ip addr add {victim['ipv4']}/32 dev eth0; "
                    f"ip -6 addr add {victim['ipv6']}/128 dev eth0 nodad")  # fmt: skip
    spoofed_before = core_probe(victim["ipv4"])
    netns(ns["e1"], f"ping -c 3 -i 0.2 -W 1 -I {victim['ipv4']} {INTERNET_HOST}", check=False)
    if core_probe(victim["ipv4"]) != spoofed_before:
        leaks.append("a spoofed IPv4 source reached the core")
    netns(ns[target["name"]], "nft add table inet sink; nft 'add chain inet sink in "
          "{ type filter hook input priority 0 ; }'; "
          f"nft add rule inet sink in ip6 saddr {victim['ipv6']} counter")  # fmt: skip
    # (the gateway's neighbour entry is learnt first, from e1's own address: a neighbour
    # solicitation from the stolen address would already be dropped at the node)
    netns(ns["e1"], f"ping -6 -c 1 -W 2 -I {evil['ipv6']} {target['ipv6']}")
    netns(ns["e1"], f"ping -6 -c 3 -i 0.2 -W 1 -I {victim['ipv6']} {target['ipv6']}",
          check=False)  # fmt: skip
    if "packets 0 " not in netns(ns[target["name"]], "nft list chain inet sink in"):
        leaks.append("a spoofed IPv6 source reached a guest on the same node")
    netns(ns["e1"], f"ip addr del {victim['ipv4']}/32 dev eth0; "
                    f"ip -6 addr del {victim['ipv6']}/128 dev eth0")  # fmt: skip

    # 2. the provider's side: nothing answers, not even a refusal (silently dropped)
    checks = {
        "node sshd via the gateway": (cluster.gateway_ipv4, 22),
        "node sshd via its underlay address": (evil_node.address, 22),
        "BGP OPEN to the gateway": (cluster.gateway_ipv4, 179),
        "the other node's sshd": (next(h for h in nodes.values() if h is not evil_node)
                                  .address, 22),
        "core BGP on its underlay address": (lab.core.address, 179),
        "BGP to another guest": (target["ipv4"], 179),
    }  # fmt: skip
    for rr in lab.by_role("rr"):
        checks[f"{rr.name} BGP"] = (rr.address, 179)
        checks[f"{rr.name} sshd"] = (rr.address, 22)
    for what, where in checks.items():
        if (result := tcp(ns["e1"], *where)) != "timeout":
            leaks.append(f"{what} {where}: {result}")
    if ping(lab, ns["e1"], lab.core.address):
        leaks.append("ICMP to the core's underlay address answered")
    assert leaks == [], "leaks:\n" + "\n".join(leaks)

    # ... and it was the node's filter that dropped them
    for comment in ("spoofed IPv4 source", "spoofed IPv6 source"):
        assert counter(evil_node.namespace, "inet", TABLE, comment) >= 3, comment
    for comment in ("guest to node", "guest to infrastructure", "BGP from a guest"):
        assert counter(evil_node.namespace, "inet", TABLE, comment) > 0, comment


def test_reconcile_restores_a_deleted_rule_element_and_table(lab, ready_cluster):
    from apps.compute.services import vm_order
    from apps.compute.workflows import vm_create
    from apps.jobs.models import Job
    from apps.jobs.runner import run_job
    from tests.factories import make_plan, make_tenant

    vm = vm_order(tenant=make_tenant(), plan=make_plan(), cluster=ready_cluster, name="drift")
    run_job(Job.objects.get(target_id=vm.pk, kind="vm_create").pk, vm_create)
    vm.refresh_from_db()
    address = vm.ip_addresses.get(family=4).address
    node = lab.hosts["node1"]
    guest = f"{lab_vm_namespace_prefix(lab)}{vm.pk}"
    assert ping(lab, lab.core.namespace, address)
    clean = run_inline("reconcile", None, reconcile)
    assert_succeeded(clean)
    assert clean.steps.get(name="reconcile_node_node1").state == "skipped"

    # a rule deleted by hand, the VM's element deleted, a foreign element added
    listing = node.run(f"nft -a list chain inet {TABLE} from_guest").stdout
    handle = next(line.split("# handle ")[1].strip() for line in listing.splitlines()
                  if "guest to infrastructure" in line and "ip daddr" in line)  # fmt: skip
    node.run(f"nft delete rule inet {TABLE} from_guest handle {handle}")
    job = run_inline("reconcile", None, reconcile)
    assert_succeeded(job)
    output = job.steps.get(name="reconcile_node_node1").output
    assert "rule in inet from_guest (guest to infrastructure) missing or changed" in output
    assert "reloaded" in output
    assert "guest to infrastructure" in node.run(f"nft list chain inet {TABLE} from_guest").stdout

    element = f"'{{ \"{vm.vnet_name}\" . {address} }}'"
    foreign = "'{ \"vnet999999\" . 203.0.113.99 }'"
    node.run(f"nft delete element inet {TABLE} guest4 {element}; "
             f"nft add element inet {TABLE} guest4 {foreign}")  # fmt: skip
    assert not ping(lab, lab.core.namespace, address), "without its element the VM is cut off"
    job = run_inline("reconcile", None, reconcile)
    assert_succeeded(job)
    output = job.steps.get(name="reconcile_node_node1").output
    assert f"filter element {vm.vnet_name} . {address} restored in inet guest4" in output
    assert "filter element vnet999999 . 203.0.113.99 removed from inet guest4" in output
    assert ping(lab, lab.core.namespace, address)

    node.run(f"nft delete table inet {TABLE}")
    job = run_inline("reconcile", None, reconcile)
    assert_succeeded(job)
    assert (
        f"table inet {TABLE} was missing: created"
        in job.steps.get(name="reconcile_node_node1").output
    )
    assert ping(lab, lab.core.namespace, address)
    assert tcp(guest, lab.hosts["rr1"].address, 22) == "timeout"
