"""Writes for tenants, memberships and API keys."""

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.services import instance_create, instance_delete, instance_update
from apps.tenancy.models import ApiKey, Membership, Role, Tenant

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
    """Delete a membership; the keys it gave are revoked (see `member_keys_revoke`)."""
    instance_delete(membership)


@transaction.atomic
def member_invite(
    *, username: str, role: str, tenant: Tenant | None = None, email: str = ""
) -> tuple[Membership, str | None]:
    """Give `username` a membership, creating the user when there is none by that name.

    Returns the membership and, for a new user, its generated password (stored only as a
    hash: shown once by the caller). Nothing is created when any part is invalid.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = user_model(username=username, email=email)
        user.set_password(password)
        user.full_clean()
        user.save()
    elif Membership.objects.filter(user=user, tenant=tenant).exists():
        scope = f"of {tenant.name}" if tenant else "of the platform"
        raise ValidationError({"username": f"{username} is already a member {scope}."})
    membership = membership_create(user=user, tenant=tenant, role=role)
    return membership, password


def membership_remove(*, membership: Membership, by) -> None:
    """Remove a membership on `by`'s request; an administrator can't remove their own
    administrator membership (they would lock themselves out)."""
    if membership.user_id == getattr(by, "pk", None) and membership.role == Role.ADMIN:
        raise ValidationError("You can't remove your own administrator membership.")
    membership_delete(membership)


def member_keys_revoke(*, user_id: int, tenant_id: int | None, leaving: int | None = None) -> int:
    """Revoke what a removed member leaves behind; returns how many keys were revoked.

    Called for every membership about to be deleted (`leaving`: the admin, the API, a
    cascade), by a signal sent before the delete: a cascade from the user clears the keys'
    `created_by` before any post-delete signal runs.
    - the tenant keys the user made for that tenant;
    - once the user has no other membership (and is not a superuser), their own user keys
      and every tenant key they made: a user key acts with its user's memberships, so it
      would otherwise come back to life with any later membership.
    """
    now = timezone.now()
    revoked = 0
    if tenant_id is not None:
        keys = ApiKey.objects.filter(revoked_at__isnull=True, tenant_id=tenant_id)
        revoked += keys.filter(created_by_id=user_id).update(revoked_at=now)
    if not Membership.objects.filter(user_id=user_id).exclude(pk=leaving).exists():
        revoked += user_keys_revoke(user_id=user_id)
    return revoked


def user_keys_revoke(*, user_id: int) -> int:
    """Revoke a user's own keys and every tenant key they made, unless they are a superuser
    (whose keys act without memberships); called when the user leaves or is deleted."""
    if get_user_model().objects.filter(pk=user_id, is_superuser=True).exists():
        return 0
    keys = ApiKey.objects.filter(revoked_at__isnull=True)
    mine = keys.filter(Q(user_id=user_id) | Q(created_by_id=user_id))
    return mine.update(revoked_at=timezone.now())


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
