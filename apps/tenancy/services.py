"""Writes for tenants, memberships and API keys."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from apps.core.services import instance_create, instance_delete, instance_update
from apps.tenancy.models import ApiKey, Membership, Tenant

API_KEY_PREFIX = "fpk_"


def tenant_create(**fields) -> Tenant:
    return instance_create(Tenant, **fields)


def tenant_update(tenant: Tenant, **fields) -> Tenant:
    return instance_update(tenant, **fields)


def tenant_delete(tenant: Tenant) -> None:
    """Delete a tenant that has no VMs left (ProtectedError otherwise)."""
    instance_delete(tenant)


def membership_create(**fields) -> Membership:
    return instance_create(Membership, **fields)


def membership_update(membership: Membership, **fields) -> Membership:
    return instance_update(membership, **fields)


def membership_delete(membership: Membership) -> None:
    instance_delete(membership)


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, name: str, user=None, tenant: Tenant | None = None, role: str = "", created_by=None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is not stored and never shown again."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        user=user,
        tenant=tenant,
        role=role or "",
        created_by=created_by,
        prefix=secret[: len(API_KEY_PREFIX) + 8],
        hashed_key=api_key_hash(secret),
    )
    key.full_clean()
    key.save()
    return key, secret


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Refuse the key from now on (idempotent); the row stays for the record."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])  # a save: the change log records it
    return api_key


def api_key_touch(*, api_key: ApiKey, every_seconds: int = 60) -> None:
    """Record that the key was used (at most one write per `every_seconds`)."""
    now = timezone.now()
    if api_key.last_used and (now - api_key.last_used).total_seconds() < every_seconds:
        return
    api_key.last_used = now
    ApiKey.objects.filter(pk=api_key.pk).update(last_used=now)
