"""Sending webhooks: one signed POST of a queued delivery (apps/billing/services.py queues
them; the task in apps/billing/tasks.py sends each, retrying with backoff)."""

import hashlib
import hmac
import http.client
import time

from django.conf import settings
from django.utils import timezone

from apps.billing.models import WebhookDelivery
from apps.billing.targets import TargetRefused, pinned_post

SIGNATURE_HEADER = "X-Fabric-Signature"
TIMESTAMP_HEADER = "X-Fabric-Timestamp"


def webhook_max_attempts() -> int:
    return getattr(settings, "FABRIC_WEBHOOK_MAX_ATTEMPTS", 8)


def webhook_timeout() -> float:
    return getattr(settings, "FABRIC_WEBHOOK_TIMEOUT", 10.0)


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
