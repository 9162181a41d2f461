"""Reads for tenancy: who may act for which tenant, and which key is which."""

from apps.tenancy.models import ApiKey, Membership
from apps.tenancy.services import api_key_hash


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The key with this secret (revoked or not), or None."""
    return (
        ApiKey.objects.select_related("user", "tenant")
        .filter(hashed_key=api_key_hash(secret))
        .first()
    )


def user_memberships(user) -> list[tuple[int | None, str]]:
    """(tenant id or None for the platform, role) for each membership of `user`.

    Memberships of a suspended tenant (`is_active` off) are left out: its users (sessions
    and user keys alike) see none of its objects and act on none of them.
    """
    return list(
        Membership.objects.filter(user=user)
        .exclude(tenant__is_active=False)
        .values_list("tenant_id", "role")
    )
