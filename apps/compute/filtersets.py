"""Filters of the compute lists (API and portal)."""

from django.db.models import Exists, OuterRef, Q
from django_filters import rest_framework as filters

from apps.compute.models import GuestImage, Plan, VirtualMachine
from apps.core.filtersets import AddressFilter, DateTimeFilter, IdFilter, SearchFilterSet
from apps.ipam.models import IPAddress


class PlanFilterSet(SearchFilterSet):
    name = filters.CharFilter(lookup_expr="iexact")
    search_fields = ("name__icontains", "description__icontains")

    class Meta:
        model = Plan
        fields = ["name", "kind", "is_active"]


class GuestImageFilterSet(SearchFilterSet):
    search_fields = ("name__icontains", "description__icontains")

    class Meta:
        model = GuestImage
        fields = ["hypervisor", "is_active"]


class VirtualMachineFilterSet(SearchFilterSet):
    """`q` matches the name, the description or the start of an address; tenants are not
    shown where their VMs run, so they cannot filter by node either."""

    tenant = IdFilter(field_name="tenant_id")
    cluster = IdFilter(field_name="cluster_id")
    plan = IdFilter(field_name="plan_id")
    node = IdFilter(field_name="node_id", label="On this node (platform roles only)")
    state = filters.MultipleChoiceFilter(choices=VirtualMachine.State.choices)
    kind = filters.ChoiceFilter(field_name="plan__kind", choices=Plan.Kind.choices)
    name = filters.CharFilter()
    address = AddressFilter(field_name="ip_addresses__address", label="Has this public address")
    created_after = DateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created", lookup_expr="lt")

    search_fields = ("name__icontains", "description__icontains")
    staff_only = {"node": "Only operators filter VMs by node."}

    class Meta:
        model = VirtualMachine
        fields = ["tenant", "cluster", "plan", "node", "state", "kind", "name", "address"]

    def term_matches(self, term: str) -> Q:
        by_address = IPAddress.objects.filter(vm=OuterRef("pk"), address__startswith=term)
        return super().term_matches(term) | Exists(by_address)
