"""Writes for billing: append to the usage ledger, queue and deliver signed webhooks."""

import hashlib
import hmac
import http.client
import json
import secrets
import time
from datetime import datetime

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint
from apps.billing.targets import TargetRefused, pinned_post
from apps.core.services import instance_create, instance_delete, instance_update

WEBHOOK_EVENT_VM_STATE = "vm.state_changed"
SIGNATURE_HEADER = "X-Fabric-Signature"
TIMESTAMP_HEADER = "X-Fabric-Timestamp"


def webhook_max_attempts() -> int:
    return getattr(settings, "FABRIC_WEBHOOK_MAX_ATTEMPTS", 8)


def webhook_timeout() -> float:
    return getattr(settings, "FABRIC_WEBHOOK_TIMEOUT", 10.0)


# --- the ledger ------------------------------------------------------------------------------


def _snapshot(vm) -> dict:
    plan = vm.plan
    return {
        "tenant_id": vm.tenant_id,
        "vm_id": vm.pk,
        "plan_id": plan.pk,
        "plan_name": plan.name,
        "kind": plan.kind,
    }


def usage_record_state(vm, *, previous_state: str = "", at: datetime | None = None) -> UsageEvent:
    """Append "`vm` is now in `vm.state`" to the ledger and queue the webhooks for it."""
    event = UsageEvent.objects.create(
        **_snapshot(vm),
        event_type=UsageEvent.Type.STATE,
        state=vm.state,
        previous_state=previous_state or "",
        at=at or timezone.now(),
    )
    webhooks_queue(event=event, vm=vm)
    return event


def _ip_event_values(*, vm, assigned: bool, at: datetime | None) -> dict:
    """An address ledger row's values by field attname, but the address and family."""
    return {
        **_snapshot(vm),
        "event_type": UsageEvent.Type.IP_ASSIGNED if assigned else UsageEvent.Type.IP_RELEASED,
        "at": at or timezone.now(),
    }


def usage_record_ip(ip, *, vm, assigned: bool, at: datetime | None = None) -> UsageEvent:
    """Append "address `ip` was assigned to / released from `vm`" to the ledger."""
    return UsageEvent.objects.create(
        **_ip_event_values(vm=vm, assigned=assigned, at=at), address=ip.address, family=ip.family
    )


def usage_record_ip_sql(*, vm, assigned: bool, at: datetime, source: str) -> tuple[str, dict]:
    """usage_record_ip as SQL, for a PostgreSQL statement that picks the address itself.

    Returns an `INSERT ... SELECT ... FROM source` (`source` names a relation of that
    statement with `address` and `family` columns) and its named parameters.
    """
    values = _ip_event_values(vm=vm, assigned=assigned, at=at)
    columns, expressions, params = [], [], {}
    for field in UsageEvent._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.attname in ("address", "family"):
            expressions.append(f"{source}.{field.attname}")
        else:
            params[f"usage_{field.attname}"] = values.get(field.attname, field.get_default())
            expressions.append(f"%(usage_{field.attname})s")
    # Names come from the model, every value is a parameter.
    insert = f"INSERT INTO {UsageEvent._meta.db_table} ({', '.join(columns)})"
    return f"{insert} SELECT {', '.join(expressions)} FROM {source}", params  # noqa: S608


# --- webhooks -------------------------------------------------------------------------------


def webhook_endpoint_create(*, secret: str = "", **fields) -> WebhookEndpoint:
    """Create an endpoint; without a secret one is generated (shown once by the API)."""
    return instance_create(
        WebhookEndpoint, secret=secret or "whsec_" + secrets.token_urlsafe(32), **fields
    )


def webhook_endpoint_update(endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    return instance_update(endpoint, **fields)


def webhook_endpoint_delete(endpoint: WebhookEndpoint) -> None:
    instance_delete(endpoint)


def webhook_body(event: UsageEvent, vm) -> str:
    payload = {
        "id": f"evt_{event.pk}",
        "type": WEBHOOK_EVENT_VM_STATE,
        "created": event.at,
        "data": {
            "vm": {
                "id": vm.pk,
                "name": vm.name,
                "tenant": vm.tenant_id,
                "cluster": vm.cluster_id,
                "plan": event.plan_id,
                "plan_name": event.plan_name,
                "kind": event.kind,
                "state": event.state,
                "previous_state": event.previous_state or None,
            }
        },
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))


def webhooks_queue(*, event: UsageEvent, vm) -> list[WebhookDelivery]:
    """One delivery per active endpoint of the VM's tenant (or of every tenant), queued
    for sending once the surrounding transaction commits."""
    endpoints = WebhookEndpoint.objects.filter(is_active=True).filter(
        Q(tenant_id=event.tenant_id) | Q(tenant__isnull=True)
    )
    endpoints = list(endpoints.values_list("pk", flat=True))
    if not endpoints:
        return []
    body = webhook_body(event, vm)
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint_id=pk, event=event, event_type=WEBHOOK_EVENT_VM_STATE, body=body)
        for pk in endpoints
    )
    from apps.billing.tasks import deliver_webhook_task

    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: deliver_webhook_task.delay(pk))
    return deliveries


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The value of X-Fabric-Signature: `v1=` and the hex HMAC-SHA256 of
    `<X-Fabric-Timestamp>.<body>`, so that a receiver can refuse an old request replayed."""
    signed = timestamp.encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_deliver(*, delivery_id: int, final_attempt: bool) -> bool:
    """Send a delivery once. Returns True when it needs no more attempts (delivered, gave
    up, or gone), False when it should be retried."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id, state=WebhookDelivery.State.PENDING)
        .first()
    )
    if delivery is None:
        return True
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        delivery.state, delivery.last_error = WebhookDelivery.State.FAILED, "endpoint disabled"
        delivery.save(update_fields=["state", "last_error"])
        return True
    body, timestamp = delivery.body.encode(), str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "fabric-portal-webhooks/1",
        SIGNATURE_HEADER: webhook_signature(endpoint.secret, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        "X-Fabric-Event": delivery.event_type,
        "X-Fabric-Delivery": str(delivery.pk),
    }
    delivery.attempts += 1
    status, error = None, ""
    try:  # resolved once, every address checked, connected to a checked one; no redirects
        status = pinned_post(endpoint.url, body=body, headers=headers, timeout=webhook_timeout())
    except TargetRefused as exc:
        error = f"Refused: {exc}"[:500]
    except (OSError, http.client.HTTPException, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}"
    delivery.last_status, delivery.last_error = status, error
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.delivered_at = WebhookDelivery.State.DELIVERED, timezone.now()
    elif final_attempt:
        delivery.state = WebhookDelivery.State.FAILED
    delivery.save(update_fields=["attempts", "last_status", "last_error", "state", "delivered_at"])
    return delivery.state != WebhookDelivery.State.PENDING
