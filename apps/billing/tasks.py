"""Celery tasks of billing: push signed webhooks, retried by Celery with backoff and jitter."""

from celery import shared_task

from apps.billing.delivery import webhook_deliver, webhook_max_attempts


class DeliveryPending(Exception):
    """The endpoint has not taken the delivery yet: Celery tries again later."""


@shared_task(
    bind=True,
    name="billing.deliver_webhook",
    autoretry_for=(DeliveryPending,),
    retry_backoff=10,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=None,  # webhook_deliver gives up after FABRIC_WEBHOOK_MAX_ATTEMPTS
)
def deliver_webhook_task(self, delivery_id: int) -> None:
    attempt = self.request.retries + 1
    if not webhook_deliver(
        delivery_id=delivery_id, final_attempt=attempt >= webhook_max_attempts()
    ):
        raise DeliveryPending(f"webhook delivery {delivery_id}: attempt {attempt} failed")
