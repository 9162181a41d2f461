"""Celery tasks of billing: push signed webhooks, retrying with backoff."""

from celery import shared_task

from apps.billing.services import webhook_deliver, webhook_max_attempts


def webhook_backoff(retries: int) -> float:
    return min(10 * 2**retries, 3600)


@shared_task(bind=True, name="billing.deliver_webhook", max_retries=None)
def deliver_webhook_task(self, delivery_id: int) -> None:
    retries = self.request.retries
    done = webhook_deliver(
        delivery_id=delivery_id, final_attempt=retries + 1 >= webhook_max_attempts()
    )
    if not done:
        raise self.retry(countdown=webhook_backoff(retries))
