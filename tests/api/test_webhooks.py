"""Signed webhooks on VM state changes, delivered to a local HTTP server, with retries."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.billing.models import WebhookDelivery, WebhookEndpoint
from apps.compute.services import vm_set_state
from fabric_portal.celery import app as celery_app
from tests.api.test_resources import order_running_vm

SECRET = "whsec_test_secret_0123456789"


class Receiver:
    """An HTTP server on 127.0.0.1 answering with the next status of `statuses`."""

    def __init__(self, statuses):
        self.statuses, self.requests = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(statuses=()):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings):
    """The receivers listen on 127.0.0.1: an administrator's allow-list lets them in."""
    settings.FABRIC_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def eager_tasks(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def change_state(vm, state, capture):
    with capture(execute=True):
        vm_set_state(vm, state)


def test_a_state_change_is_pushed_signed(
    world, receiver_factory, eager_tasks, django_capture_on_commit_callbacks
):
    receiver = receiver_factory()
    vm = order_running_vm(world)
    WebhookEndpoint.objects.create(name="b", url=receiver.url, secret=SECRET)
    WebhookEndpoint.objects.create(name="other", url=receiver.url, secret=SECRET,
                                   tenant=world.tenant_b)  # fmt: skip
    change_state(vm, "stopped", django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 1  # tenant B's endpoint is not told about tenant A
    headers, body = receiver.requests[0]
    timestamp = headers["X-Fabric-Timestamp"]
    signed = timestamp.encode() + b"." + body  # the timestamp is signed: no replays later
    expected = "v1=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Fabric-Signature"], expected)
    assert abs(int(timestamp) - time.time()) < 60
    event = json.loads(body)
    assert event["type"] == headers["X-Fabric-Event"] == "vm.state_changed"
    assert (event["data"]["vm"]["id"], event["data"]["vm"]["state"]) == (vm.pk, "stopped")
    assert event["data"]["vm"]["previous_state"] == "running"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)


def test_failed_deliveries_are_retried(
    world, receiver_factory, eager_tasks, django_capture_on_commit_callbacks
):
    receiver = receiver_factory([503, 500])
    vm = order_running_vm(world)
    WebhookEndpoint.objects.create(name="b", url=receiver.url, secret=SECRET,
                                   tenant=world.tenant_a)  # fmt: skip
    change_state(vm, "stopped", django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 3
    assert len({body for _, body in receiver.requests}) == 1  # the same signed body each time
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)


def test_delivery_gives_up_after_the_last_attempt(
    world, settings, receiver_factory, eager_tasks, django_capture_on_commit_callbacks
):
    settings.FABRIC_WEBHOOK_MAX_ATTEMPTS = 3
    receiver = receiver_factory([500] * 10)
    vm = order_running_vm(world)
    WebhookEndpoint.objects.create(name="b", url=receiver.url, secret=SECRET)
    change_state(vm, "stopped", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 3, 500)
    assert len(receiver.requests) == 3
    listed = world.client("operator").get("/api/v1/webhook-deliveries/", {"state": "failed"})
    assert listed.json()["count"] == 1


def test_an_unreachable_endpoint_is_retried_then_given_up(
    world, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.FABRIC_WEBHOOK_MAX_ATTEMPTS = 2
    receiver = Receiver([])
    url = receiver.url
    receiver.close()  # nothing listens there any more
    vm = order_running_vm(world)
    WebhookEndpoint.objects.create(name="gone", url=url, secret=SECRET)
    change_state(vm, "stopped", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 2, None)
    assert "Error" in delivery.last_error


def test_endpoint_secret_is_generated_shown_once_and_never_again(world):
    client = world.client("operator")
    created = client.post("/api/v1/webhooks/", {"name": "b", "url": "https://b.example.net/h"},
                          format="json")  # fmt: skip
    assert created.status_code == 201
    secret = created.json()["signing_secret"]
    assert WebhookEndpoint.objects.get().secret == secret and len(secret) > 30
    assert "signing_secret" not in client.get(f"/api/v1/webhooks/{created.json()['id']}/").json()
