"""What the change log tracks, what it masks, and what a tenant may read of it."""

from auditlog.registry import auditlog
from django.apps import apps

from apps.core.fields import EncryptedTextField

MASK = "********"

# Every model written by people or workers; per model: fields left out, fields masked.
# Every EncryptedTextField is masked too. Jobs, the usage ledger and deliveries are logs
# themselves and are not tracked.
TRACKED: dict[str, dict[str, tuple[str, ...]]] = {
    "auth.User": {"exclude": ("last_login",), "mask": ("password",)},
    "tenancy.Tenant": {},
    "tenancy.Membership": {},
    "tenancy.ApiKey": {"exclude": ("last_used",), "mask": ("hashed_key",)},
    "fabric.Cluster": {},
    "fabric.BorderGateway": {},
    "fabric.RouteReflector": {},
    "fabric.Node": {},
    "ipam.Network": {},
    "ipam.IPPool": {"exclude": ("cursor",)},  # the allocator's bookmark, not a change
    "ipam.IPAddress": {},
    "compute.Plan": {},
    "compute.GuestImage": {},
    "compute.VirtualMachine": {},
    "billing.WebhookEndpoint": {"mask": ("secret",)},
}

# The types a tenant may read the changes of (its own objects only), and the fields of
# each it is not shown (what the portal and the API hide from tenants).
TENANT_VISIBLE: dict[str, frozenset[str]] = {
    "tenancy.tenant": frozenset(),
    "tenancy.membership": frozenset(),
    "tenancy.apikey": frozenset(),
    "compute.virtualmachine": frozenset({"node", "vnet_name"}),
}


def mask(value: str) -> str:
    """A secret's value in the log: whether it was set, never what it was."""
    return "" if value in ("", "None") else MASK


def masked_fields(model) -> list[str]:
    extra = TRACKED[model._meta.label].get("mask", ())
    encrypted = [f.name for f in model._meta.fields if isinstance(f, EncryptedTextField)]
    return sorted({*extra, *encrypted})


def register_tracked_models() -> None:
    for label, options in TRACKED.items():
        model = apps.get_model(label)
        if auditlog.contains(model):
            continue
        excluded = set(options.get("exclude", ()))
        auditlog.register(
            model,
            # The model's own columns (not the reverse relations auditlog lists on a create).
            include_fields=[f.name for f in model._meta.concrete_fields if f.name not in excluded],
            exclude_fields=sorted(excluded),
            mask_fields=masked_fields(model),
            mask_callable="apps.changes.registry.mask",
        )


def tenant_id_of(instance) -> int | None:
    """The tenant an object belongs to (a tenant is its own)."""
    if instance._meta.label == "tenancy.Tenant":
        return instance.pk
    return getattr(instance, "tenant_id", None)
