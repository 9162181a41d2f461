"""The change log: one row per write of a tracked object (django-auditlog's log entry).

Who: the user (`actor`) and, for API writes, the key (`api_key`); neither for the workers
("system"). `tenant` is the tenant the object belongs to (what a tenant may read).
"""

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.db import models

from apps.changes.registry import tenant_id_of


class ObjectChangeManager(LogEntryManager):
    def log_create(self, instance, force_log: bool = False, **kwargs):
        kwargs.setdefault("tenant_id", tenant_id_of(instance))
        return super().log_create(instance, force_log, **kwargs)


class ObjectChange(AbstractLogEntry):
    """A create, update or delete of a tracked object: fields old -> new, secrets masked."""

    # No database constraint on these two: a change may be recorded while its tenant or key
    # is being deleted (a cascade), and the record keeps naming them afterwards.
    api_key = models.ForeignKey(
        "tenancy.ApiKey",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        help_text="The API key the write came through (none for the portal and the workers).",
    )
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        help_text="The tenant of the changed object (none for the platform's objects).",
    )

    objects = ObjectChangeManager()

    class Meta(AbstractLogEntry.Meta):
        abstract = False
        ordering = ["-timestamp", "-id"]
        verbose_name = "change"
        verbose_name_plural = "changes"
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="change_object"),
            models.Index(fields=["tenant", "content_type"], name="change_tenant_type"),
        ]

    @property
    def who(self) -> str:
        """The user, else the API key, else "system" (a worker)."""
        if self.actor_id:
            return str(self.actor)
        if self.api_key_id:
            return f"API key {self.api_key.prefix}…"
        return "system"
