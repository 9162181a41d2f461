"""Filters of the job lists (API and portal)."""

from django.contrib.contenttypes.models import ContentType
from django_filters import rest_framework as filters

from apps.core.filtersets import DateTimeFilter, IdFilter, SearchFilterSet
from apps.jobs import registry
from apps.jobs.models import Job

TARGETS = {
    "vm": ("compute", "virtualmachine"),
    "node": ("fabric", "node"),
    "cluster": ("fabric", "cluster"),
    "border_gateway": ("fabric", "bordergateway"),
}


class JobFilterSet(SearchFilterSet):
    """`q` matches the target; for platform roles the error too (tenants are not shown
    errors, so their search does not match them)."""

    tenant = IdFilter(field_name="tenant_id")
    vm = IdFilter(method="filter_target", label="Jobs of this VM")
    node = IdFilter(method="filter_target", label="Jobs of this node")
    cluster = IdFilter(method="filter_target", label="Jobs of this cluster")
    border_gateway = IdFilter(method="filter_target", label="Jobs of this border gateway")
    state = filters.MultipleChoiceFilter(choices=Job.State.choices)
    kind = filters.MultipleChoiceFilter(choices=registry.choices)
    created_after = DateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created", lookup_expr="lt")

    search_fields = ("target_repr__icontains",)
    staff_search_fields = ("error__icontains",)

    class Meta:
        model = Job
        fields = ["tenant", "state", "kind"]

    def filter_target(self, queryset, name, value):
        app_label, model = TARGETS[name]
        target_type = ContentType.objects.get_by_natural_key(app_label, model)
        return queryset.filter(target_type=target_type, target_id=value)
