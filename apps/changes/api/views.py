from django.contrib.contenttypes.models import ContentType
from django_filters import rest_framework as filters
from rest_framework import exceptions

from apps.api.filters import IdFilter
from apps.api.views import ApiViewSet, ReadMixins
from apps.changes import selectors
from apps.changes.api.serializers import ObjectChangeSerializer
from apps.changes.models import ObjectChange
from apps.changes.registry import TRACKED

ACTION_CHOICES = [("create", "create"), ("update", "update"), ("delete", "delete")]
ACTION_VALUES = {"create": 0, "update": 1, "delete": 2}
OBJECT_TYPES = sorted(label.lower() for label in TRACKED)


class ObjectChangeFilter(filters.FilterSet):
    object_type = filters.ChoiceFilter(
        choices=[(t, t) for t in OBJECT_TYPES], method="filter_object_type",
        label='The changed object\'s type, e.g. "compute.virtualmachine"',
    )  # fmt: skip
    object_id = IdFilter(field_name="object_id")
    user = IdFilter(field_name="actor_id", label="Changes made by this user")
    api_key = IdFilter(field_name="api_key_id", label="Changes made through this API key")
    tenant = IdFilter(field_name="tenant_id")
    action = filters.ChoiceFilter(choices=ACTION_CHOICES, method="filter_action")
    since = filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    before = filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = ObjectChange
        fields = ["object_type", "object_id", "user", "api_key", "tenant", "action"]

    def filter_object_type(self, queryset, name, value):
        app_label, model = value.split(".")
        try:
            content_type = ContentType.objects.get_by_natural_key(app_label, model)
        except ContentType.DoesNotExist:
            raise exceptions.ValidationError({"object_type": ["Unknown type."]}) from None
        return queryset.filter(content_type=content_type)

    def filter_action(self, queryset, name, value):
        return queryset.filter(action=ACTION_VALUES[value])


class ObjectChangeViewSet(ReadMixins, ApiViewSet):
    """The change log (read-only): every write by every user, API key and worker ("system"),
    with the changed fields old -> new, secrets masked. Platform roles read every change; a
    tenant the changes of its own VMs, keys, memberships and tenant, never the
    infrastructure's, and not the fields it is not shown (a VM's node and vnet)."""

    serializer_class = ObjectChangeSerializer
    filterset_class = ObjectChangeFilter
    search_fields = ["object_repr"]
    ordering_fields = ["id", "timestamp"]

    def get_queryset(self):
        changes = selectors.change_list().order_by("-timestamp", "-id")
        if getattr(self, "swagger_fake_view", False):
            return changes
        return selectors.changes_visible_to(changes, self.access)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request is not None and not getattr(self, "swagger_fake_view", False):
            context["access"] = self.access
        return context
