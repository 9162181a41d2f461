"""Billing: the append-only usage ledger, and webhooks that push VM state changes."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q

from apps.billing.targets import TargetRefused, check_on_save
from apps.core.errors import Refused
from apps.core.fields import EncryptedTextField
from apps.core.validators import validate_config_description


class AppendOnlyError(Refused):
    """A ledger row was about to be changed or deleted."""

    code = "append_only"


class UsageEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The usage ledger is append-only.")

    def delete(self):
        raise AppendOnlyError("The usage ledger is append-only.")


class UsageEvent(models.Model):
    """One fact of the usage ledger: a VM changed state, or got or gave back an address.

    Rows are only ever added (saving an existing row or deleting raises AppendOnlyError).
    The tenant, VM and plan are referenced without database constraints and the plan is
    snapshotted, so the ledger outlives whatever it describes.
    """

    class Type(models.TextChoices):
        STATE = "state", "VM state changed"
        IP_ASSIGNED = "ip_assigned", "Address assigned"
        IP_RELEASED = "ip_released", "Address released"

    class Kind(models.TextChoices):
        VM = "vm", "Virtual machine"
        CONTAINER = "container", "Container"

    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    vm = models.ForeignKey(
        "compute.VirtualMachine",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="usage_events",
    )
    plan = models.ForeignKey(
        "compute.Plan", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    plan_name = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    event_type = models.CharField(max_length=16, choices=Type.choices)
    state = models.CharField(max_length=16, blank=True, help_text="The VM's new state.")
    previous_state = models.CharField(max_length=16, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    family = models.PositiveSmallIntegerField(null=True, blank=True)
    at = models.DateTimeField(db_index=True)

    objects = UsageEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["tenant", "at"], name="usage_tenant_at"),
            models.Index(fields=["vm", "at"], name="usage_vm_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(event_type="state") & ~Q(state="") & Q(address__isnull=True))
                | (Q(event_type__in=["ip_assigned", "ip_released"]) & Q(address__isnull=False)),
                name="usageevent_fields_match_type",
            ),
        ]

    def __str__(self) -> str:
        what = self.state if self.event_type == self.Type.STATE else self.address
        return f"{self.at:%Y-%m-%d %H:%M:%S} vm {self.vm_id} {self.event_type} {what}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("The usage ledger is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The usage ledger is append-only.")


def validate_webhook_url(value: str) -> None:
    URLValidator(schemes=["http", "https"])(value)


class WebhookEndpoint(models.Model):
    """Where VM state changes are pushed, signed with the endpoint's secret (HMAC-SHA256).

    The secret is stored encrypted (FIELD_ENCRYPTION_KEY) and never shown back.

    With no tenant, the endpoint receives the events of every tenant.
    """

    name = models.CharField(max_length=63, validators=[validate_config_description])
    url = models.URLField(max_length=500, validators=[validate_webhook_url])
    secret = EncryptedTextField(max_length=128, help_text="The HMAC key (stored encrypted).")
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
    )
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_db(cls, db, field_names, values):
        endpoint = super().from_db(db, field_names, values)
        endpoint._stored_url = endpoint.__dict__.get("url")
        return endpoint

    def clean(self) -> None:
        if self.secret and len(self.secret) < 16:
            raise ValidationError({"secret": "Use a secret of at least 16 characters."})
        # A new or changed URL must reach a public address (or an allow-listed network);
        # an unchanged one is left alone (disabling an endpoint always works), and every
        # delivery checks again anyway.
        if self.url and self.url != getattr(self, "_stored_url", None):
            try:
                check_on_save(self.url)
            except TargetRefused as exc:
                raise ValidationError({"url": str(exc)}) from None


class WebhookDelivery(models.Model):
    """One event to one endpoint: the exact body signed, and how its attempts went."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(
        UsageEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    event_type = models.CharField(max_length=64)
    body = models.TextField(help_text="The JSON body, byte for byte as signed.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint} ({self.state})"
