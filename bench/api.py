"""API throughput under gunicorn (4 workers): VM list (a page of 100 of 10,000 VMs) and
VM orders, beside the floor of the same server answering /healthz; queries per request."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import median, percentile, setup_django, table, timer

setup_django()

import netaddr  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.compute.models import Plan, VirtualMachine  # noqa: E402
from apps.fabric.models import Cluster, Node  # noqa: E402
from apps.ipam.models import IPAddress, IPPool, Network, address_key  # noqa: E402
from apps.tenancy.models import Membership, Role, Tenant  # noqa: E402
from apps.tenancy.services import api_key_create  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VMS = 10_000


def seed() -> tuple[str, dict]:
    cluster = Cluster.objects.create(name="api-bench", bgp_asn=65000, bgp_community="65000:1",
                                     state=Cluster.State.READY)  # fmt: skip
    # a ready node, so that the cluster takes orders (the bench's jobs are never run)
    Node.objects.create(cluster=cluster, name="n1", underlay_ip="192.0.2.1", hypervisor="netns",
                        ssh_private_key="unused", vcpus=4096, memory_mb=2**26, disk_gb=2**20,
                        state=Node.State.READY)  # fmt: skip
    network = Network.objects.create(cluster=cluster, prefix="49.0.0.0/16")
    pool = IPPool.objects.create(network=network, name="p", first_address="49.0.0.1",
                                 last_address="49.0.255.254")  # fmt: skip
    tenant = Tenant.objects.create(name="bench", max_vms=10**6)
    plan = Plan.objects.create(name="api-bench", vcpus=1, memory_mb=512, disk_gb=1)
    vms = VirtualMachine.objects.bulk_create(
        VirtualMachine(tenant=tenant, cluster=cluster, plan=plan, name=f"vm{i}") for i in range(VMS)
    )
    addresses = netaddr.iter_iprange("49.0.0.1", "49.0.255.254")
    IPAddress.objects.bulk_create(
        IPAddress(pool=pool, address=str(a), family=4, key=address_key(a), status="allocated",
                  vm=vm)
        for vm, a in zip(vms, addresses, strict=False)
    )  # fmt: skip
    IPPool.objects.filter(pk=pool.pk).update(cursor=address_key(netaddr.IPAddress("49.0.39.16")))
    user = get_user_model().objects.create_user("bench-ops")
    Membership.objects.create(user=user, role=Role.OPERATOR)
    _, secret = api_key_create(name="bench", user=user)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return secret, {"plan": plan.pk, "cluster": cluster.pk, "tenant": tenant.pk}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(port: int, method: str, path: str, headers: dict, bodies, *, clients: int, each: int):
    latencies, lock, errors = [], threading.Lock(), []

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(each):
            body = bodies(n, i) if bodies else None
            with timer() as t:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            if response.status >= 300:
                errors.append(response.status)
            with lock:
                latencies.append(t())
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    with timer() as wall:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return len(latencies) / wall(), median(latencies), percentile(latencies, 99), errors


def query_counts(secret: str, order: dict) -> tuple[int, int]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="127.0.0.1")
    with CaptureQueriesContext(connection) as listed:
        assert client.get("/api/v1/vms/?page_size=100").status_code == 200
    with CaptureQueriesContext(connection) as ordered:
        response = client.post("/api/v1/vms/", {**order, "name": "qcount"},
                               content_type="application/json")  # fmt: skip
        assert response.status_code == 202, response.content
    return len(listed), len(ordered)


def main() -> None:
    secret, order = seed()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "fabric_portal.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "4", "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "ALLOWED_HOSTS": "127.0.0.1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        rows = []
        floor = load(port, "GET", "/healthz", {}, None, clients=8, each=100)
        rows.append(["GET /healthz (floor)", *floor[:3], 1.0, len(floor[3])])
        listing = load(port, "GET", "/api/v1/vms/?page_size=100", auth, None, clients=8, each=25)
        rows.append(["GET /api/v1/vms/ (100 of 10,000)", *listing[:3], listing[1] / floor[1],
                     len(listing[3])])  # fmt: skip
        orders = load(
            port,
            "POST",
            "/api/v1/vms/",
            auth,
            lambda n, i: json.dumps({**order, "name": f"b{n}-{i}"}),
            clients=8,
            each=25,
        )
        rows.append(["POST /api/v1/vms/ (order)", *orders[:3], orders[1] / floor[1],
                     len(orders[3])])  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    table(["request", "req/s", "p50 s", "p99 s", "p50 / floor p50", "errors"], rows)
    listed, ordered = query_counts(secret, order)
    print(f"queries per request: VM list page {listed}, VM order {ordered}")


if __name__ == "__main__":
    main()
