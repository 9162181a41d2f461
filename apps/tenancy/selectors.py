"""Reads for tenancy: who may act for which tenant, and which key is which."""

from apps.tenancy.models import ApiKey, Membership


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The key with this secret (revoked or not), or None."""
    from apps.tenancy.services import api_key_hash

    return (
        ApiKey.objects.select_related("user", "tenant")
        .filter(hashed_key=api_key_hash(secret))
        .first()
    )


def user_memberships(user) -> list[tuple[int | None, str]]:
    """(tenant id or None for the platform, role) for each membership of `user`."""
    return list(Membership.objects.filter(user=user).values_list("tenant_id", "role"))
