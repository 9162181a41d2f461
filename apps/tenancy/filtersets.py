"""Filters of the tenancy lists (API and portal)."""

from django_filters import rest_framework as filters

from apps.core.filtersets import IdFilter, SearchFilterSet
from apps.tenancy.models import ApiKey, Membership, Tenant


class TenantFilterSet(SearchFilterSet):
    name = filters.CharFilter(lookup_expr="iexact")
    search_fields = ("name__icontains", "description__icontains")

    class Meta:
        model = Tenant
        fields = ["name", "is_active"]


class MembershipFilterSet(SearchFilterSet):
    tenant = IdFilter(field_name="tenant_id")
    user = filters.CharFilter(field_name="user__username")
    platform = filters.BooleanFilter(
        field_name="tenant", lookup_expr="isnull", label="Platform-wide memberships only"
    )
    search_fields = ("user__username__icontains",)

    class Meta:
        model = Membership
        fields = ["tenant", "user", "role", "platform"]


class ApiKeyFilterSet(SearchFilterSet):
    tenant = IdFilter(field_name="tenant_id")
    user = filters.CharFilter(field_name="user__username")
    revoked = filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)
    search_fields = ("name__icontains", "prefix__icontains")

    class Meta:
        model = ApiKey
        fields = ["tenant", "user", "role", "revoked"]
