import hashlib
import json
import re

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.api.access import ADMIN, OPERATOR, TENANT_USER
from apps.api.exceptions import conflict_on_invalid
from apps.api.permissions import Policy
from apps.api.serializers import started
from apps.api.views import ApiViewSet, CrudMixins, ReadMixins, accepted
from apps.compute import selectors, services
from apps.compute.api.serializers import (
    GuestImageSerializer,
    PlanSerializer,
    VirtualMachineOrderSerializer,
    VirtualMachineSerializer,
    VirtualMachineStartedSerializer,
)
from apps.compute.filtersets import (
    GuestImageFilterSet,
    PlanFilterSet,
    VirtualMachineFilterSet,
)
from apps.compute.models import GuestImage, Plan, VirtualMachine
from apps.jobs.selectors import last_job_for
from apps.tenancy.models import Tenant

ORDERING_ROLES = frozenset({ADMIN, OPERATOR, TENANT_USER})
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,254}\Z")


class PlanViewSet(CrudMixins, ApiViewSet):
    """Sizes of VMs and containers. Everyone reads them; operators write."""

    queryset = Plan.objects.all()
    serializer_class = PlanSerializer
    filterset_class = PlanFilterSet
    ordering_fields = ["id", "name", "vcpus", "memory_mb", "disk_gb"]
    create_service = staticmethod(services.plan_create)
    update_service = staticmethod(services.plan_update)
    delete_service = staticmethod(services.plan_delete)


class GuestImageViewSet(ReadMixins, ApiViewSet):
    """The guest image catalog: what a VM or container boots. Operators edit it in the admin."""

    queryset = GuestImage.objects.all()
    serializer_class = GuestImageSerializer
    filterset_class = GuestImageFilterSet
    ordering_fields = ["id", "name"]


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (1-255 printable ASCII characters). Retrying the order with the "
        "same key and body returns the same VM and the first answer again (202, header "
        "`Idempotent-Replayed: true`), never a second VM. The same key with a different "
        "body answers 422. A failed order leaves the key unused."
    ),
    pattern=r"^[!-~][ -~]{0,254}$",
)


class VirtualMachineViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    ApiViewSet,
):
    """VMs and containers: order (202 + job), list, change the description, start, stop,
    delete (202 + job). Tenant users act on their own tenant's VMs."""

    queryset = VirtualMachine.objects.all()
    serializer_class = VirtualMachineSerializer
    policy = Policy(write=ORDERING_ROLES)
    tenant_field = "tenant"
    filterset_class = VirtualMachineFilterSet
    ordering_fields = ["id", "name", "created", "state", "state_changed"]
    extra_errors = {"create": (422,)}

    def get_queryset(self):
        return self.scope(selectors.vm_list())

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request is not None and not self.access.sees_all_tenants:
            context["orderable_tenants"] = Tenant.objects.filter(
                pk__in=self.access.tenant_ids(ORDERING_ROLES)
            ).order_by("pk")
        return context

    def started_body(self, vm: VirtualMachine, job) -> dict:
        vm = selectors.vm_list().get(pk=vm.pk)
        return started(
            VirtualMachineSerializer(vm, context=self.get_serializer_context()).data, job
        )

    def perform_update(self, serializer):
        serializer.instance = services.vm_update(
            serializer.instance, description=serializer.validated_data.get("description", "")
        )

    @extend_schema(
        request=VirtualMachineOrderSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={202: VirtualMachineStartedSerializer},
        description="Order a VM: its addresses are taken at once and `vm_create` is queued.",
    )
    def create(self, request, *args, **kwargs):
        serializer = VirtualMachineOrderSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        order = dict(serializer.validated_data, created_by=self.acting_user())
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            vm = services.vm_order_checked(**order)
            return accepted(self.started_body(vm, last_job_for(vm)))
        if not IDEMPOTENCY_KEY_RE.match(key):
            raise exceptions.ValidationError(
                {IDEMPOTENCY_HEADER: ["Use 1-255 printable ASCII characters."]}
            )
        with transaction.atomic():
            record, created = services.vm_order_idempotent(
                principal=self.access.principal,
                key=key,
                request_hash=self.request_hash(serializer.validated_data),
                **order,
            )
            if not created and record.response_status:
                return Response(
                    record.response_body,
                    status=record.response_status,
                    headers={"Idempotent-Replayed": "true"},
                )
            body = self.started_body(record.vm, last_job_for(record.vm))
            services.idempotency_remember(record=record, status=202, body=body)
        return accepted(body)

    @staticmethod
    def request_hash(data: dict) -> str:
        canonical = {name: getattr(value, "pk", value) for name, value in sorted(data.items())}
        encoded = json.dumps(["POST", "/api/v1/vms/", canonical], sort_keys=True, default=str)
        return hashlib.sha256(encoded.encode()).hexdigest()

    @extend_schema(
        request=None,
        responses={202: VirtualMachineStartedSerializer},
        description="Queue the VM's teardown: route withdrawn, guest deleted, addresses "
        "released, then state `deleted`.",
    )
    def destroy(self, request, *args, **kwargs):
        vm = self.get_object()
        with conflict_on_invalid("invalid_state"):
            job = services.vm_delete_start(vm=vm, created_by=self.acting_user())
        return accepted(self.started_body(vm, job))

    def _power(self, *, start: bool) -> Response:
        vm = self.get_object()
        with conflict_on_invalid("invalid_state"):
            job = services.vm_power_start(vm=vm, start=start, created_by=self.acting_user())
        return accepted(self.started_body(vm, job))

    @extend_schema(
        request=None,
        responses={202: VirtualMachineStartedSerializer},
        description="Queue a start of a stopped VM.",
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._power(start=True)

    @extend_schema(
        request=None,
        responses={202: VirtualMachineStartedSerializer},
        description="Queue a stop of a running VM.",
    )
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return self._power(start=False)
