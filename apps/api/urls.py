"""/api/v1/: every resource of the REST API (see README "REST API")."""

from django.http import JsonResponse
from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from apps.billing.api.views import (
    UsageEventViewSet,
    UsageView,
    WebhookDeliveryViewSet,
    WebhookEndpointViewSet,
)
from apps.changes.api.views import ObjectChangeViewSet
from apps.compute.api.views import GuestImageViewSet, PlanViewSet, VirtualMachineViewSet
from apps.fabric.api.views import (
    BorderGatewayViewSet,
    ClusterViewSet,
    NodeViewSet,
    RouteReflectorViewSet,
)
from apps.ipam.api.views import IPAddressViewSet, IPPoolViewSet, NetworkViewSet
from apps.jobs.api.views import JobViewSet
from apps.tenancy.api.views import ApiKeyViewSet, MembershipViewSet, TenantViewSet

app_name = "api"


class Router(DefaultRouter):
    include_root_view = False
    include_format_suffixes = False  # `?format=` only: ids like "1.5" reach the view (404)


def not_found(request, *args, **kwargs):
    """Unknown /api/v1/ paths answer in the API's error format too."""
    body = {"error": {"status": 404, "code": "not_found", "message": "No such API path.",
                      "fields": {}}}  # fmt: skip
    return JsonResponse(body, status=404)


router = Router()
router.register("tenants", TenantViewSet, basename="tenant")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("plans", PlanViewSet, basename="plan")
router.register("images", GuestImageViewSet, basename="image")
router.register("clusters", ClusterViewSet, basename="cluster")
router.register("border-gateways", BorderGatewayViewSet, basename="border-gateway")
router.register("route-reflectors", RouteReflectorViewSet, basename="route-reflector")
router.register("nodes", NodeViewSet, basename="node")
router.register("networks", NetworkViewSet, basename="network")
router.register("pools", IPPoolViewSet, basename="pool")
router.register("ip-addresses", IPAddressViewSet, basename="ip-address")
router.register("vms", VirtualMachineViewSet, basename="vm")
router.register("jobs", JobViewSet, basename="job")
router.register("usage-events", UsageEventViewSet, basename="usage-event")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("changes", ObjectChangeViewSet, basename="change")

urlpatterns = [
    path("usage/", UsageView.as_view(), name="usage"),
    *router.urls,
    re_path(r"^.*$", not_found),
]
