"""The OpenAPI schema: served, documented offline, complete, and true (schemathesis)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint
from apps.jobs.models import Job
from apps.tenancy.models import Membership
from apps.tenancy.services import api_key_create
from fabric_portal.wsgi import application
from tests.api.test_resources import order_running_vm
from tests.factories import make_bgw, make_rr

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 6},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)


def test_schema_is_served_and_lists_every_resource(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    resources = {path.split("/")[3] for path in schema["paths"]}
    assert resources >= {
        "tenants", "memberships", "api-keys", "plans", "clusters", "border-gateways",
        "route-reflectors", "nodes", "networks", "pools", "ip-addresses", "vms", "jobs",
        "usage", "usage-events", "webhooks", "webhook-deliveries",
    }  # fmt: skip
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403"} <= codes, (method, path)
            errors = [c for c in codes if c >= "400"]
            for code in errors:
                ref = operation["responses"][code]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/Error"}, (method, path, code)
    vm_order = schema["paths"]["/api/v1/vms/"]["post"]
    assert {"202", "400", "409", "422"} <= set(vm_order["responses"])
    assert "Idempotency-Key" in [p["name"] for p in vm_order["parameters"]]
    assert "apiKey" in schema["components"]["securitySchemes"]
    for name, component in schema["components"]["schemas"].items():
        for secret in ("password", "ssh_password", "ssh_private_key", "hashed_key"):
            if not name.endswith("Request") and secret in component.get("properties", {}):
                pytest.fail(f"{name}.{secret} would be shown in a response")


def test_docs_page_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page and "/static/drf_spectacular_sidecar/" in page
    assert "cdn" not in page.lower() and "unpkg" not in page
    asset = page.split('src="', 1)[1].split('"', 1)[0]
    assert client.get(asset).status_code == 200


# Generating the schema needs no database: it is loaded once, through the WSGI app.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


@pytest.fixture
def in_process_wsgi():
    """Keep the test's database connection across WSGI requests (as Django's test client
    does): the request signals would close it, and with it the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def data(world, in_process_wsgi):
    """One object of each resource, so that half the generated ids name a real one."""
    vm = order_running_vm(world)
    endpoint = WebhookEndpoint.objects.create(name="b", url="http://127.0.0.1:9/", secret="s" * 20)
    event = UsageEvent.objects.filter(vm=vm).first()
    network = world.cluster.networks.get()
    world.known_ids = {
        "tenants": world.tenant_a.pk,
        "memberships": Membership.objects.filter(tenant=world.tenant_a).first().pk,
        "api-keys": api_key_create(name="spare", tenant=world.tenant_a, role="read_only")[0].pk,
        "plans": world.plan.pk,
        "clusters": world.cluster.pk,
        "border-gateways": make_bgw(cluster=world.cluster).pk,
        "route-reflectors": make_rr(cluster=world.cluster).pk,
        "nodes": vm.node_id,
        "networks": network.pk,
        "pools": network.pools.get().pk,
        "ip-addresses": vm.ip_addresses.get().pk,
        "vms": vm.pk,
        "jobs": Job.objects.filter(tenant=world.tenant_a).first().pk,
        "usage-events": event.pk,
        "webhooks": endpoint.pk,
        "webhook-deliveries": WebhookDelivery.objects.create(
            endpoint=endpoint, event=event, body="{}", event_type="vm.state_changed"
        ).pk,
    }
    return world


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_conforms_to_its_schema(case, data):
    """Every operation, as an admin: no 5xx, and every answer as the schema says."""
    generated = case.path_parameters.get("id") if case.path_parameters else None
    if isinstance(generated, int) and generated % 2 == 0:
        case.path_parameters["id"] = data.known_ids[case.path.split("/")[3]]
    case.call_and_validate(
        headers={"Authorization": f"Bearer {data.secrets['admin']}"}, checks=CHECKS
    )
