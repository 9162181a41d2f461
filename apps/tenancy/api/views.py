from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.response import Response

from apps.api.access import ADMIN, ALL_ROLES, TENANT_USER
from apps.api.permissions import Policy
from apps.api.views import ApiViewSet, CrudMixins
from apps.tenancy import services
from apps.tenancy.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeySerializer,
    MembershipSerializer,
    TenantSerializer,
)
from apps.tenancy.filtersets import ApiKeyFilterSet, MembershipFilterSet, TenantFilterSet
from apps.tenancy.models import ApiKey, Membership, Tenant

ADMIN_ONLY = frozenset({ADMIN})


class TenantViewSet(CrudMixins, ApiViewSet):
    """Customers. Everyone sees the tenants they act for; only administrators write."""

    queryset = Tenant.objects.all()
    serializer_class = TenantSerializer
    policy = Policy(read=ALL_ROLES, write=ADMIN_ONLY)
    tenant_field = "pk"
    filterset_class = TenantFilterSet
    ordering_fields = ["id", "name", "created", "max_vms"]
    create_service = staticmethod(services.tenant_create)
    update_service = staticmethod(services.tenant_update)
    delete_service = staticmethod(services.tenant_delete)


class MembershipViewSet(CrudMixins, ApiViewSet):
    """Who may act for which tenant, with which role. Only administrators write."""

    queryset = Membership.objects.select_related("user")
    serializer_class = MembershipSerializer
    policy = Policy(read=ALL_ROLES, write=ADMIN_ONLY)
    tenant_field = "tenant"
    filterset_class = MembershipFilterSet
    ordering_fields = ["id", "created", "role"]
    create_service = staticmethod(services.membership_create)
    update_service = staticmethod(services.membership_update)
    delete_service = staticmethod(services.membership_delete)


class ApiKeyViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    ApiViewSet,
):
    """API keys. The secret is shown once, in the answer to the create. DELETE revokes.

    Administrators manage every key; tenant users create and revoke their tenant's keys.
    Keys cannot manage keys of their own accord when they are tenant keys.
    """

    queryset = ApiKey.objects.select_related("user")
    serializer_class = ApiKeySerializer
    policy = Policy(read=ALL_ROLES, write=frozenset({ADMIN, TENANT_USER}))
    tenant_field = "tenant"
    filterset_class = ApiKeyFilterSet
    ordering_fields = ["id", "created", "last_used", "name"]

    def scope(self, queryset):
        if getattr(self, "swagger_fake_view", False) or self.access.sees_all_tenants:
            return queryset
        mine = Q(user_id=self.access.user.pk) if self.access.user is not None else Q(pk__in=[])
        return queryset.filter(Q(tenant_id__in=self.access.tenant_ids()) | mine)

    def refuse_tenant_keys(self) -> None:
        key = self.access.api_key
        if key is not None and key.tenant_id:
            raise exceptions.PermissionDenied("Tenant API keys cannot manage API keys.")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request is not None and not self.access.may(ADMIN_ONLY):
            context["writable_tenants"] = Tenant.objects.filter(
                pk__in=self.access.tenant_ids(frozenset({TENANT_USER}))
            )
        return context

    @extend_schema(responses={201: ApiKeyCreatedSerializer})
    def create(self, request, *args, **kwargs):
        self.refuse_tenant_keys()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("user") is not None and not self.access.may(ADMIN_ONLY):
            raise exceptions.ValidationError({"user": ["Only administrators create user keys."]})
        if data.get("tenant") is None and not self.access.may(ADMIN_ONLY):
            raise exceptions.ValidationError({"tenant": ["Give the tenant of the key."]})
        key, secret = services.api_key_create(
            name=data["name"],
            user=data.get("user"),
            tenant=data.get("tenant"),
            role=data.get("role") or "",
            created_by=self.acting_user(),
        )
        body = ApiKeyCreatedSerializer(key, context=self.get_serializer_context()).data
        body["key"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(description="Revoke the key: it is refused from now on. The record stays.")
    def destroy(self, request, *args, **kwargs):
        api_key = self.get_object()
        self.refuse_tenant_keys()
        services.api_key_revoke(api_key=api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)
