"""Webhooks go to public addresses only (unless allow-listed): checked when an endpoint is
saved and again at each delivery, connecting to the address that was checked."""

import socket

import pytest

from apps.billing import targets
from apps.billing.models import WebhookDelivery, WebhookEndpoint
from tests.api.conftest import assert_error
from tests.api.test_resources import order_running_vm
from tests.api.test_webhooks import SECRET, Receiver, change_state

REFUSED = [
    "http://127.0.0.1/hooks",
    "http://127.1/hooks",
    "http://localhost:8000/hooks",
    "http://api.localhost/hooks",
    "http://[::1]/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hooks",
    "http://10.1.2.3/hooks",
    "http://172.16.0.1/hooks",
    "http://192.168.1.1/hooks",
    "http://100.64.0.1/hooks",
    "http://[fd00::1]/hooks",
    "http://224.0.0.1/hooks",
    "http://[ff02::1]/hooks",
    "http://0.0.0.0/hooks",
    "http://[::]/hooks",
    "http://240.0.0.1/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[::ffff:169.254.169.254]/hooks",
    "http://[2002:7f00:1::]/hooks",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::a00:1]/hooks",  # NAT64 of 10.0.0.1
    "http://2130706433/hooks",
    "http://0177.0.0.1/hooks",
    "http://0x7f.1/hooks",
]


@pytest.fixture
def eager_tasks(monkeypatch):
    from fabric_portal.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.mark.parametrize("url", REFUSED)
def test_private_targets_are_refused_at_save(world, url):
    response = world.client("operator").post(
        "/api/v1/webhooks/", {"name": "x", "url": url}, format="json"
    )
    assert_error(response, 400, "validation_error", "url")
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0177.0.0.1", "0x7f.1", "::ffff:a00:1"])
def test_every_form_of_a_private_address_is_read_as_such(host):
    address = targets.literal_address(host)
    assert address is not None and targets.refusal(address)


def test_public_and_allow_listed_targets_are_accepted(world, settings):
    client = world.client("operator")
    public = client.post("/api/v1/webhooks/", {"name": "p", "url": "https://93.184.215.14/h"},
                         format="json")  # fmt: skip
    assert public.status_code == 201, public.content
    private = {"name": "b", "url": "http://10.20.0.5:8080/h"}
    assert_error(client.post("/api/v1/webhooks/", private, format="json"), 400, field="url")
    settings.FABRIC_WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    assert client.post("/api/v1/webhooks/", private, format="json").status_code == 201
    moved = client.patch(f"/api/v1/webhooks/{public.json()['id']}/",
                         {"url": "http://169.254.169.254/"}, format="json")  # fmt: skip
    assert_error(moved, 400, field="url")


def test_a_name_resolving_to_a_private_address_is_refused_at_save(world, monkeypatch):
    monkeypatch.setattr(
        targets.socket, "getaddrinfo", fake_dns({"hooks.example.com": ["10.0.0.7"]})
    )
    response = world.client("operator").post(
        "/api/v1/webhooks/", {"name": "x", "url": "https://hooks.example.com/h"}, format="json"
    )
    assert_error(response, 400, "validation_error", "url")


def fake_dns(table: dict, calls: list | None = None):
    """A resolver answering `table` for names (addresses pass through: the socket
    module itself looks them up when it connects)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if targets.literal_address(str(host)) is not None:
            return real(host, port, *args, **kwargs)
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    return getaddrinfo


def deliver(world, url, capture):
    vm = order_running_vm(world)
    WebhookEndpoint.objects.create(name="b", url=url, secret=SECRET)  # saved when it was fine
    change_state(vm, "stopped", capture)
    return WebhookDelivery.objects.get()


def test_delivery_checks_again_and_refuses_what_dns_now_says(
    world, settings, monkeypatch, eager_tasks, django_capture_on_commit_callbacks
):
    settings.FABRIC_WEBHOOK_MAX_ATTEMPTS = 1
    receiver = Receiver([])
    try:
        port = receiver.server.server_address[1]
        # The name now resolves to a public address and to the loopback: refused.
        dns = fake_dns({"hooks.example.com": ["93.184.215.14", "127.0.0.1"]})
        monkeypatch.setattr(targets.socket, "getaddrinfo", dns)
        url = f"http://hooks.example.com:{port}/hooks"
        delivery = deliver(world, url, django_capture_on_commit_callbacks)
    finally:
        receiver.close()
    assert (delivery.state, delivery.last_status) == ("failed", None)
    assert "127.0.0.1 is a loopback address" in delivery.last_error
    assert receiver.requests == []


def test_a_literal_private_address_is_refused_at_delivery(
    world, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.FABRIC_WEBHOOK_MAX_ATTEMPTS = 1
    receiver = Receiver([])
    try:
        delivery = deliver(world, receiver.url, django_capture_on_commit_callbacks)
    finally:
        receiver.close()
    assert delivery.state == "failed" and delivery.last_error.startswith("Refused:")
    assert receiver.requests == []


def test_delivery_connects_to_the_address_it_checked(
    world, settings, monkeypatch, eager_tasks, django_capture_on_commit_callbacks
):
    settings.FABRIC_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    calls: list = []
    monkeypatch.setattr(targets.socket, "getaddrinfo",
                        fake_dns({"hooks.example.com": ["127.0.0.1"]}, calls))  # fmt: skip
    receiver = Receiver([])
    try:
        port = receiver.server.server_address[1]
        url = f"http://hooks.example.com:{port}/hooks?x=1"
        delivery = deliver(world, url, django_capture_on_commit_callbacks)
    finally:
        receiver.close()
    assert (delivery.state, delivery.last_status) == ("delivered", 200), delivery.last_error
    assert calls == ["hooks.example.com"]  # one resolution; the socket went to its answer
    headers, _ = receiver.requests[0]
    assert headers["Host"] == f"hooks.example.com:{port}"


def test_redirects_are_not_followed(
    world, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.FABRIC_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.FABRIC_WEBHOOK_MAX_ATTEMPTS = 1
    target, redirecting = Receiver([]), Receiver([302])
    try:
        delivery = deliver(world, redirecting.url, django_capture_on_commit_callbacks)
    finally:
        target.close()
        redirecting.close()
    assert (delivery.state, delivery.last_status) == ("failed", 302)
    assert len(redirecting.requests) == 1 and target.requests == []


@pytest.mark.parametrize("url", ["http://[::1", "http://h:99999/", "gopher://10.0.0.1/"])
def test_malformed_urls_are_field_errors_in_the_admin_too(db, url):
    from django.core.exceptions import ValidationError

    endpoint = WebhookEndpoint(name="x", url=url, secret="s" * 32)
    with pytest.raises(ValidationError) as caught:
        endpoint.full_clean()
    assert "url" in caught.value.message_dict


def test_the_admin_refuses_a_private_target(world):
    from django.test import Client

    client = Client()
    client.force_login(world.users["admin"])
    response = client.post("/admin/billing/webhookendpoint/add/", {
        "name": "meta", "url": "http://169.254.169.254/", "secret": "s" * 32, "is_active": "on",
    })  # fmt: skip
    assert response.status_code == 200 and "link-local" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
