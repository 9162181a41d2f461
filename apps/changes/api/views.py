from apps.api.views import ApiViewSet, ReadMixins
from apps.changes import selectors
from apps.changes.api.serializers import ObjectChangeSerializer
from apps.changes.filtersets import ObjectChangeFilterSet


class ObjectChangeViewSet(ReadMixins, ApiViewSet):
    """The change log (read-only): every write by every user, API key and worker ("system"),
    with the changed fields old -> new, secrets masked. Platform roles read every change; a
    tenant the changes of its own VMs, keys, memberships and tenant, never the
    infrastructure's, and not the fields it is not shown (a VM's node and vnet)."""

    serializer_class = ObjectChangeSerializer
    filterset_class = ObjectChangeFilterSet
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
