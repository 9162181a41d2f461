import csv
import io
from datetime import datetime

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, renderers, status
from rest_framework.response import Response

from apps.api.access import STAFF_AND_AUDITORS
from apps.api.permissions import Policy, RolePermission
from apps.api.throttling import ThrottleBeforeRefusingMixin
from apps.api.views import ApiViewSet, CrudMixins, JsonErrorsMixin, ReadMixins, TenantScopedMixin
from apps.billing import services
from apps.billing.api.serializers import (
    UsageEventSerializer,
    UsageQuerySerializer,
    UsageSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from apps.billing.filtersets import (
    UsageEventFilterSet,
    WebhookDeliveryFilterSet,
    WebhookEndpointFilterSet,
)
from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint
from apps.billing.selectors import usage_summary

STAFF_READ = Policy(read=STAFF_AND_AUDITORS)
CSV_COLUMNS = [
    "from", "to", "tenant", "tenant_name", "plan", "plan_name", "kind", "vms", "vm_hours",
    "container_hours", "running_hours", "stopped_hours", "public_ip_hours",
    "public_ipv4_hours", "public_ipv6_hours", "vm_seconds", "container_seconds",
    "public_ip_seconds",
]  # fmt: skip


class UsageCSVRenderer(renderers.BaseRenderer):
    """The usage lines as CSV, one per tenant and plan, with the period on each line."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for line in data.get("results", []):
            writer.writerow({"from": data["from"], "to": data["to"], **line})
        return out.getvalue().encode()


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class UsageView(
    ThrottleBeforeRefusingMixin, JsonErrorsMixin, TenantScopedMixin, generics.GenericAPIView
):
    """Usage per tenant and per plan over a period, for billing (JSON or CSV)."""

    policy = Policy()
    permission_classes = [RolePermission]
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, UsageCSVRenderer]
    serializer_class = UsageSerializer
    pagination_class = None
    filter_backends = []
    extra_errors = {"*": (400, 404)}

    @extend_schema(
        operation_id="usage_retrieve",
        parameters=[
            UsageQuerySerializer,
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "csv"],
                description="`csv` for CSV (or send `Accept: text/csv`).",
            ),
        ],
        responses={
            (200, "application/json"): UsageSerializer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The same lines as CSV, with a header line."
            ),
        },
        description=(
            "VM-hours and container-hours (time running or stopped), public-IP-hours (time "
            "an address was assigned), per tenant and plan, over [from, to). Intervals are "
            "clipped to the period exactly: adjacent periods add up. A period ending in the "
            "future counts up to now."
        ),
    )
    def get(self, request, *args, **kwargs):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        start = query.validated_data.get("from") or month_start(now)
        end = query.validated_data.get("to") or now
        if end <= start:
            raise exceptions.ValidationError({"from": ["`from` must come before `to`."]})
        tenant_id = query.validated_data.get("tenant")
        if tenant_id is not None:
            if not self.access.sees_all_tenants and tenant_id not in self.access.tenant_ids():
                raise exceptions.NotFound("No such tenant.")
            tenant_ids = [tenant_id]
        else:
            tenant_ids = None if self.access.sees_all_tenants else self.access.tenant_ids()
        lines = usage_summary(start=start, end=end, tenant_ids=tenant_ids, now=now)
        body = {
            "from": start,
            "to": end,
            "generated": now,
            "results": [line.as_dict() for line in lines],
        }
        data = UsageSerializer(body).data
        response = Response(data, status=status.HTTP_200_OK)
        if (
            getattr(request, "accepted_renderer", None)
            and request.accepted_renderer.format == "csv"
        ):
            filename = f"usage-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}.csv"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class UsageEventViewSet(ReadMixins, ApiViewSet):
    """The usage ledger itself, append-only: VM state changes and address assignments."""

    queryset = UsageEvent.objects.all()
    serializer_class = UsageEventSerializer
    tenant_field = "tenant"
    filterset_class = UsageEventFilterSet
    ordering_fields = ["id", "at"]


class WebhookEndpointViewSet(CrudMixins, ApiViewSet):
    """Where VM state changes are pushed (`vm.state_changed`), signed with HMAC-SHA256:
    header `X-Fabric-Signature: v1=<hex of HMAC(secret, "<X-Fabric-Timestamp>.<body>")>`,
    `X-Fabric-Timestamp` being the Unix time of the attempt (refuse old ones: no replays).
    Failed deliveries are retried with exponential backoff. Operators manage endpoints."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    policy = STAFF_READ
    tenant_field = "tenant"
    filterset_class = WebhookEndpointFilterSet
    ordering_fields = ["id", "name", "created"]
    update_service = staticmethod(services.webhook_endpoint_update)
    delete_service = staticmethod(services.webhook_endpoint_delete)

    @extend_schema(responses={201: WebhookEndpointCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(**serializer.validated_data)
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )


class WebhookDeliveryViewSet(ReadMixins, ApiViewSet):
    """Webhook deliveries and how their attempts went."""

    queryset = WebhookDelivery.objects.all()
    serializer_class = WebhookDeliverySerializer
    policy = STAFF_READ
    tenant_field = "endpoint__tenant"
    filterset_class = WebhookDeliveryFilterSet
    ordering_fields = ["id", "created", "attempts"]
