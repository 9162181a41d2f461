"""Celery tasks of billing: push signed webhooks, retrying with backoff."""

from celery import shared_task

from apps.billing.delivery import webhook_deliver, webhook_max_attempts
from workers.polling import backoff


@shared_task(bind=True, name="billing.deliver_webhook", max_retries=None)
def deliver_webhook_task(self, delivery_id: int) -> None:
    retries = self.request.retries
    done = webhook_deliver(
        delivery_id=delivery_id, final_attempt=retries + 1 >= webhook_max_attempts()
    )
    if not done:
        raise self.retry(countdown=backoff(retries, base=10, cap=3600))
