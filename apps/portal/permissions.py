"""Who may see and do what in the portal, from `apps.api.access` (the API's roles).

- admin, operator: every page and every action (platform staff), except that only admins
  add devices (cluster wizard, nodes, route reflectors): they set management access;
- auditor (platform read-only): every page, no action (POST answers 403, no buttons);
- tenant user: their tenants' VMs and jobs, and the actions on them; operator pages 403;
- tenant read-only: their tenants' VMs and jobs, no action.

Objects of a tenant the user does not act for are outside every queryset, so they
answer 404; an anonymous user is sent to the login page.
"""

from dataclasses import dataclass

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from apps.api.access import ADMIN, ANONYMOUS, STAFF, TENANT_USER, Access, access_for_user

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ACTING_ROLES = STAFF | {TENANT_USER}


@dataclass(frozen=True)
class PortalRoles:
    """The portal's view of an `Access`: what to show and what to allow."""

    access: Access

    @property
    def is_platform(self) -> bool:
        """Sees the operator pages and every tenant (admin, operator, auditor)."""
        return self.access.sees_all_tenants

    @property
    def can_operate(self) -> bool:
        """May act on the fabric (admin, operator)."""
        return self.access.platform_role in STAFF

    @property
    def can_administer(self) -> bool:
        """May set devices' management access: addresses, host keys, credentials, BIRD
        paths (admin only: operators run the fabric but cannot redirect it)."""
        return self.access.platform_role == ADMIN

    @property
    def has_any_role(self) -> bool:
        return bool(self.access.roles)

    @property
    def order_tenant_ids(self) -> list[int]:
        """The tenants this user may order for as a tenant user."""
        return self.access.tenant_ids(frozenset({TENANT_USER}))

    @property
    def can_order(self) -> bool:
        return self.can_operate or bool(self.order_tenant_ids)

    def can_act_for(self, tenant_id: int | None) -> bool:
        """May change this tenant's objects (stop, start, delete a VM)."""
        return self.access.may(ACTING_ROLES, tenant_id)

    def scope(self, queryset: QuerySet, field: str = "tenant") -> QuerySet:
        """`queryset` limited to the visible tenants (others' objects answer 404)."""
        return self.access.scope(queryset, field)


def portal_roles(request) -> PortalRoles:
    """The roles of the request's user, computed once per request."""
    cached = getattr(request, "_portal_roles", None)
    if cached is None:
        user = getattr(request, "user", None)
        access = access_for_user(user) if user is not None and user.is_authenticated else ANONYMOUS
        cached = request._portal_roles = PortalRoles(access)
    return cached


class PortalMixin(LoginRequiredMixin):
    """Login required; `self.roles` known. Subclasses say who may view and who may write.

    `platform_only`: the operator pages (admin, operator, auditor read; others 403).
    `write_requires_operator`: POST needs admin/operator (auditor 403). Views whose writes
    are per tenant (VM actions) check `roles.can_act_for` on the object instead.
    `form_page`: a page that only exists to act (a form, a confirmation): GET needs the
    same right as POST.
    """

    platform_only = False
    write_requires_operator = False
    write_requires_admin = False
    form_page = False

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.roles = portal_roles(request)
        if not self.roles.has_any_role:
            raise PermissionDenied("Your account has no role in the portal yet.")
        if self.platform_only and not self.roles.is_platform:
            raise PermissionDenied("This page is for the platform's operators.")
        acting = request.method not in SAFE_METHODS or self.form_page
        if acting and self.write_requires_operator and not self.roles.can_operate:
            raise PermissionDenied("Your role may look but not change anything.")
        if acting and self.write_requires_admin and not self.roles.can_administer:
            raise PermissionDenied(
                "Only an administrator adds devices: they give its management access "
                "(address, host key, credentials, BIRD paths)."
            )
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["roles"] = self.roles
        return context


class OperatorPageMixin(PortalMixin):
    """An operator page: platform roles see it, admins and operators act on it."""

    platform_only = True
    write_requires_operator = True
