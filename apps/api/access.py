"""Who is asking: the roles of a request's principal and the tenants it may act for.

A session or a user API key acts as the user: a superuser is an admin, otherwise the
user's memberships say it all (admin/operator/read-only on the platform, tenant user or
read-only per tenant). A tenant API key acts for its tenant with its own role.
"""

from dataclasses import dataclass, field

from apps.tenancy.models import ApiKey, Role
from apps.tenancy.selectors import user_memberships

ADMIN, OPERATOR, TENANT_USER, READ_ONLY = (
    Role.ADMIN.value,
    Role.OPERATOR.value,
    Role.TENANT_USER.value,
    Role.READ_ONLY.value,
)
# A read-only membership without a tenant: reads everything (an auditor). As a role name
# it differs from a tenant's read-only, so policies can tell them apart.
AUDITOR = "auditor"
ALL_ROLES = frozenset({ADMIN, OPERATOR, AUDITOR, TENANT_USER, READ_ONLY})
STAFF = frozenset({ADMIN, OPERATOR})
STAFF_AND_AUDITORS = frozenset({ADMIN, OPERATOR, AUDITOR})


@dataclass(frozen=True)
class Access:
    """The principal of a request and what it may do."""

    user: object | None = None  # the Django user acting (None for a tenant key)
    api_key: ApiKey | None = None
    platform_role: str | None = None  # admin, operator or auditor: over every tenant
    tenant_roles: dict[int, str] = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return self.user is not None or self.api_key is not None

    @property
    def roles(self) -> frozenset[str]:
        roles = set(self.tenant_roles.values())
        if self.platform_role:
            roles.add(self.platform_role)
        return frozenset(roles)

    @property
    def sees_all_tenants(self) -> bool:
        return self.platform_role is not None

    def tenant_ids(self, roles: frozenset[str] | None = None) -> list[int]:
        """The tenants this principal acts for (with one of `roles`, when given)."""
        return [t for t, role in self.tenant_roles.items() if roles is None or role in roles]

    def scope(self, queryset, field: str = "tenant"):
        """`queryset` limited to the tenants this principal acts for (all of them for
        platform roles); `field` leads from the model to its tenant."""
        if self.sees_all_tenants:
            return queryset
        return queryset.filter(**{f"{field}__in": self.tenant_ids()})

    def may(self, roles: frozenset[str], tenant_id: int | None = None) -> bool:
        """Whether a role in `roles` applies: platform-wide, or for `tenant_id`."""
        if self.platform_role in roles:
            return True
        if tenant_id is None:
            return False
        return self.tenant_roles.get(tenant_id) in roles

    @property
    def principal(self) -> str:
        """A stable name for idempotency records: the user, or the tenant key."""
        if self.user is not None:
            return f"user:{self.user.pk}"
        if self.api_key is not None:
            return f"apikey:{self.api_key.pk}"
        return "anonymous"


ANONYMOUS = Access()


def access_for_user(user, api_key: ApiKey | None = None) -> Access:
    if user.is_superuser:
        return Access(user=user, api_key=api_key, platform_role=ADMIN)
    platform_role, tenant_roles = None, {}
    for tenant_id, role in user_memberships(user):
        if tenant_id is None:
            platform_role = AUDITOR if role == READ_ONLY else role
        else:
            tenant_roles[tenant_id] = role
    return Access(
        user=user, api_key=api_key, platform_role=platform_role, tenant_roles=tenant_roles
    )


def access_for_tenant_key(api_key: ApiKey) -> Access:
    return Access(api_key=api_key, tenant_roles={api_key.tenant_id: api_key.role})


def get_access(request) -> Access:
    """The Access of a DRF request, computed once per request."""
    cached = getattr(request, "_fabric_access", None)
    if cached is not None:
        return cached
    user, auth = getattr(request, "user", None), getattr(request, "auth", None)
    if isinstance(auth, ApiKey) and auth.tenant_id:
        access = access_for_tenant_key(auth)
    elif user is not None and user.is_authenticated and getattr(user, "pk", None):
        access = access_for_user(user, auth if isinstance(auth, ApiKey) else None)
    else:
        access = ANONYMOUS
    request._fabric_access = access
    return access
