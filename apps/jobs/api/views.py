from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.api.access import ADMIN, OPERATOR, STAFF, TENANT_USER
from apps.api.exceptions import conflict_on_invalid
from apps.api.permissions import Policy
from apps.api.views import ApiViewSet, ReadMixins, accepted
from apps.jobs.api.serializers import JobDetailSerializer, JobSerializer
from apps.jobs.filtersets import JobFilterSet
from apps.jobs.selectors import job_list, steps_in_order
from apps.jobs.services import job_acknowledge, job_retry

# Who starts a job again: staff any job, a tenant user their tenant's (VM) jobs; tenants
# do not see platform jobs at all (404).
RETRY = Policy(write=frozenset({ADMIN, OPERATOR, TENANT_USER}))
ACKNOWLEDGE = Policy(write=STAFF)


class JobViewSet(ReadMixins, ApiViewSet):
    """Every background run: kind, target, state, steps with their output, error.
    Tenants see their own tenant's jobs: step names, states and times, a plain error."""

    queryset = job_list()
    serializer_class = JobSerializer
    tenant_field = "tenant"
    filterset_class = JobFilterSet
    ordering_fields = ["id", "created", "started", "finished", "state", "kind"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(Prefetch("steps", queryset=steps_in_order()))
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
