"""Role permissions: each view says which roles may read it and which may write it.

Objects of tenants the principal does not act for are filtered out of the queryset
(TenantScopedMixin), so they answer 404. A role that may see a resource but not change
it answers 403, an anonymous request 401.
"""

from dataclasses import dataclass

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.api.access import ALL_ROLES, STAFF, get_access


@dataclass(frozen=True)
class Policy:
    """The roles that may read a view (safe methods) and that may write through it."""

    read: frozenset[str] = ALL_ROLES
    write: frozenset[str] = STAFF

    def roles_for(self, request, view) -> frozenset[str]:
        return self.read if request.method in SAFE_METHODS else self.write


class RolePermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        access = get_access(request)
        if not access.authenticated:
            return False
        policy: Policy = view.policy
        if access.roles & policy.roles_for(request, view):
            return True
        # A write on one object by a role that may read: answer 404 when the object is out
        # of scope (get_object), 403 only once it is found (has_object_permission).
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")
        return lookup in getattr(view, "kwargs", {}) and bool(access.roles & policy.read)

    def has_object_permission(self, request, view, obj) -> bool:
        access = get_access(request)
        roles = view.policy.roles_for(request, view)
        if not access.roles & roles:
            return False
        if access.platform_role in roles or not view.tenant_field:
            return True
        return access.may(roles, view.object_tenant_id(obj))
