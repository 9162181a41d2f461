from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.api.access import ADMIN, OPERATOR, STAFF, TENANT_USER
from apps.api.exceptions import conflict_on_invalid
from apps.api.filters import DateTimeFilter, IdFilter
from apps.api.permissions import Policy
from apps.api.views import ApiViewSet, ReadMixins, accepted
from apps.jobs import registry
from apps.jobs.api.serializers import JobDetailSerializer, JobSerializer
from apps.jobs.models import Job, JobStep
from apps.jobs.services import job_acknowledge, job_retry

# Who starts a job again: staff any job, a tenant user their tenant's (VM) jobs; tenants
# do not see platform jobs at all (404).
RETRY = Policy(write=frozenset({ADMIN, OPERATOR, TENANT_USER}))
ACKNOWLEDGE = Policy(write=STAFF)

TARGETS = {
    "vm": ("compute", "virtualmachine"),
    "node": ("fabric", "node"),
    "cluster": ("fabric", "cluster"),
    "border_gateway": ("fabric", "bordergateway"),
}


class JobFilter(filters.FilterSet):
    tenant = IdFilter(field_name="tenant_id")
    vm = IdFilter(method="filter_target", label="Jobs of this VM")
    node = IdFilter(method="filter_target", label="Jobs of this node")
    cluster = IdFilter(method="filter_target", label="Jobs of this cluster")
    border_gateway = IdFilter(method="filter_target", label="Jobs of this border gateway")
    state = filters.MultipleChoiceFilter(choices=Job.State.choices)
    kind = filters.MultipleChoiceFilter(choices=registry.choices)
    created_after = DateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = Job
        fields = ["tenant", "state", "kind"]

    def filter_target(self, queryset, name, value):
        app_label, model = TARGETS[name]
        target_type = ContentType.objects.get_by_natural_key(app_label, model)
        return queryset.filter(target_type=target_type, target_id=value)


class JobViewSet(ReadMixins, ApiViewSet):
    """Every background run: kind, target, state, steps with their output, error.
    Tenants see their own tenant's jobs: step names, states and times, a plain error."""

    queryset = Job.objects.select_related("target_type", "acknowledged_by")
    serializer_class = JobSerializer
    tenant_field = "tenant"
    filterset_class = JobFilter
    search_fields = ["target_repr"]
    staff_search_fields = ["error"]
    ordering_fields = ["id", "created", "started", "finished", "state", "kind"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            steps = JobStep.objects.order_by("attempt", "position")
            queryset = queryset.prefetch_related(Prefetch("steps", queryset=steps))
        return queryset

    @property
    def policy(self) -> Policy:
        return ACKNOWLEDGE if getattr(self, "action", None) == "acknowledge" else RETRY

    def get_serializer_class(self):
        return JobDetailSerializer if self.action == "retrieve" else JobSerializer

    @extend_schema(
        request=None,
        responses={202: JobSerializer},
        description="Start a failed job's kind again on the same target (a new job, through "
        "the kind's start service and its rules). 409 `invalid_state` names why when the job "
        "is not retryable: not failed, not the latest of its kind on the target, target gone, "
        "a kind that is not restarted (a failed VM is ordered again), or refused by the kind "
        "(e.g. another job acts on the VM).",
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = self.get_object()
        with conflict_on_invalid("invalid_state"):
            new = job_retry(job=job, created_by=self.acting_user())
        return accepted(JobSerializer(new, context=self.get_serializer_context()).data)

    @extend_schema(
        request=None,
        responses={200: JobSerializer},
        description="Take note of a failed job nobody will retry (admins and operators): it "
        "leaves the dashboard's failed jobs needing attention. Again: unchanged.",
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        job = self.get_object()
        with conflict_on_invalid("invalid_state"):
            job = job_acknowledge(job=job, by=self.acting_user())
        return Response(JobSerializer(job, context=self.get_serializer_context()).data)
