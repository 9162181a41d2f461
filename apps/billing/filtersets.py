"""Filters of the billing lists (API)."""

from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint
from apps.core.filtersets import BaseFilterSet, DateTimeFilter, IdFilter, SearchFilterSet


class UsageEventFilterSet(BaseFilterSet):
    tenant = IdFilter(field_name="tenant_id")
    vm = IdFilter(field_name="vm_id")
    plan = IdFilter(field_name="plan_id")
    after = DateTimeFilter(field_name="at", lookup_expr="gte")
    before = DateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = UsageEvent
        fields = ["tenant", "vm", "plan", "event_type", "kind"]


class WebhookEndpointFilterSet(SearchFilterSet):
    tenant = IdFilter(field_name="tenant_id")
    search_fields = ("name__icontains", "url__icontains")

    class Meta:
        model = WebhookEndpoint
        fields = ["tenant", "is_active"]


class WebhookDeliveryFilterSet(BaseFilterSet):
    endpoint = IdFilter(field_name="endpoint_id")

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "state", "event_type"]
