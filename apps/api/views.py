"""Base classes of every API view: authentication, roles, tenant scoping, filters, services."""

from rest_framework import mixins, status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.api.access import Access, get_access
from apps.api.filters import NoNullCharacters, RoleFilterBackend, StrictOrderingFilter
from apps.api.permissions import Policy, RolePermission
from apps.api.serializers import refuse_read_only_writes
from apps.api.throttling import ThrottleBeforeRefusingMixin


class JsonErrorsMixin:
    """Errors are JSON, whatever representation (e.g. CSV) the request asked for."""

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code >= 400 and isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class TenantScopedMixin:
    """Objects of tenants the principal does not act for are not in the queryset (→ 404).

    `tenant_field` is the lookup from the model to its tenant ("tenant", "vm__tenant",
    "pk" for tenants themselves); None for platform resources seen by every allowed role.
    """

    tenant_field: str | None = None

    @property
    def access(self) -> Access:
        return get_access(self.request)

    def scope(self, queryset):
        if getattr(self, "swagger_fake_view", False):
            return queryset
        return self.access.scope(queryset, self.tenant_field) if self.tenant_field else queryset

    def get_queryset(self):
        return self.scope(super().get_queryset())

    def object_tenant_id(self, obj) -> int | None:
        """The tenant an object belongs to (what write permissions are checked against)."""
        if not self.tenant_field:
            return None
        if self.tenant_field == "pk":
            return obj.pk
        *path, last = self.tenant_field.split("__")
        for name in path:
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return getattr(obj, f"{last}_id", None)


class ApiViewSet(
    ThrottleBeforeRefusingMixin, JsonErrorsMixin, TenantScopedMixin, viewsets.GenericViewSet
):
    """Read-only by default: list and retrieve come from ReadMixins."""

    policy = Policy()
    permission_classes = [RolePermission]
    lookup_value_regex = "[^/]+"  # any id reaches the view, which answers 404 in JSON
    filter_backends = [NoNullCharacters, RoleFilterBackend, StrictOrderingFilter]
    ordering_fields: list[str] = ["id"]
    extra_errors: dict[str, tuple[int, ...]] = {}

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        if serializer.instance is not None and "data" in kwargs:
            refuse_read_only_writes(serializer)  # an update: 400 rather than ignored
        return serializer

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request is not None and not getattr(self, "swagger_fake_view", False):
            # StaffOnlyFieldsMixin: platform roles see the operators' fields.
            context["sees_all_tenants"] = self.access.sees_all_tenants
        return context

    def acting_user(self):
        """The Django user to record as `created_by` (None for tenant keys)."""
        return self.access.user


class ServiceWritesMixin:
    """Create, update and delete through the app's service functions (full_clean inside).

    Set `create_service`, `update_service`, `delete_service` with staticmethod(...).
    """

    create_service = None
    update_service = None
    delete_service = None

    def perform_create(self, serializer):
        serializer.instance = self.create_service(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = self.update_service(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        self.delete_service(instance)


class ReadMixins(mixins.ListModelMixin, mixins.RetrieveModelMixin):
    pass


class CreateReadUpdateMixins(
    ServiceWritesMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
):
    pass


class CrudMixins(CreateReadUpdateMixins, mixins.DestroyModelMixin):
    pass


def accepted(data: dict) -> Response:
    return Response(data, status=status.HTTP_202_ACCEPTED)
