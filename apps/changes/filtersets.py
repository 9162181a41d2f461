"""Filters of the change log (API)."""

from django.contrib.contenttypes.models import ContentType
from django_filters import rest_framework as filters

from apps.changes.models import ObjectChange
from apps.changes.registry import TRACKED
from apps.core.filtersets import DateTimeFilter, IdFilter, SearchFilterSet

ACTION_CHOICES = [("create", "create"), ("update", "update"), ("delete", "delete")]
ACTION_VALUES = {"create": 0, "update": 1, "delete": 2}
OBJECT_TYPES = sorted(label.lower() for label in TRACKED)


class ObjectChangeFilterSet(SearchFilterSet):
    object_type = filters.ChoiceFilter(
        choices=[(t, t) for t in OBJECT_TYPES], method="filter_object_type",
        label='The changed object\'s type, e.g. "compute.virtualmachine"',
    )  # fmt: skip
    object_id = IdFilter(field_name="object_id")
    user = IdFilter(field_name="actor_id", label="Changes made by this user")
    api_key = IdFilter(field_name="api_key_id", label="Changes made through this API key")
    tenant = IdFilter(field_name="tenant_id")
    action = filters.ChoiceFilter(choices=ACTION_CHOICES, method="filter_action")
    since = DateTimeFilter(field_name="timestamp", lookup_expr="gte")
    before = DateTimeFilter(field_name="timestamp", lookup_expr="lt")

    search_fields = ("object_repr__icontains",)

    class Meta:
        model = ObjectChange
        fields = ["object_type", "object_id", "user", "api_key", "tenant", "action"]

    def filter_object_type(self, queryset, name, value):
        app_label, model = value.split(".")
        try:
            content_type = ContentType.objects.get_by_natural_key(app_label, model)
        except ContentType.DoesNotExist:
            return queryset.none()  # a tracked model nothing was written to yet
        return queryset.filter(content_type=content_type)

    def filter_action(self, queryset, name, value):
        return queryset.filter(action=ACTION_VALUES[value])
