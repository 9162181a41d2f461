"""Writes for billing: append to the usage ledger, queue signed webhooks (sent by
apps/billing/delivery.py, from the task in apps/billing/tasks.py)."""

import json
import secrets
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint
from apps.billing.tasks import deliver_webhook_task
from apps.core.services import instance_create, instance_delete, instance_update

WEBHOOK_EVENT_VM_STATE = "vm.state_changed"


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
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: deliver_webhook_task.delay(pk))
    return deliveries
