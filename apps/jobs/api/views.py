from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch
from django_filters import rest_framework as filters

from apps.api.filters import DateTimeFilter, IdFilter
from apps.api.views import ApiViewSet, ReadMixins
from apps.jobs import registry
from apps.jobs.api.serializers import JobDetailSerializer, JobSerializer
from apps.jobs.models import Job, JobStep

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

    queryset = Job.objects.select_related("target_type")
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

    def get_serializer_class(self):
        return JobDetailSerializer if self.action == "retrieve" else JobSerializer
