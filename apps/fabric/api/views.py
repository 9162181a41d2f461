from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.api.access import STAFF_AND_AUDITORS
from apps.api.exceptions import conflict_on_invalid
from apps.api.permissions import Policy
from apps.api.serializers import started
from apps.api.views import ApiViewSet, CreateReadUpdateMixins, CrudMixins, accepted
from apps.fabric import services
from apps.fabric.api.serializers import (
    BorderGatewaySerializer,
    BorderGatewayStartedSerializer,
    ClusterSerializer,
    ClusterStartedSerializer,
    NodeSerializer,
    NodeStartedSerializer,
    RouteReflectorSerializer,
    RouteReflectorStartedSerializer,
)
from apps.fabric.filtersets import (
    BorderGatewayFilterSet,
    ClusterFilterSet,
    NodeFilterSet,
    RouteReflectorFilterSet,
)
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.jobs.selectors import last_job_for

# Devices are the operators' business: tenants see clusters (to order), not devices.
STAFF_READ = Policy(read=STAFF_AND_AUDITORS)


class ClusterViewSet(CrudMixins, ApiViewSet):
    """IP-fabric clusters. Everyone reads them (to order VMs); operators write.
    `provision` configures every route reflector, then the border gateway (202 + job)."""

    queryset = Cluster.objects.all()
    serializer_class = ClusterSerializer
    filterset_class = ClusterFilterSet
    ordering_fields = ["id", "name", "created", "state"]
    create_service = staticmethod(services.cluster_create)
    update_service = staticmethod(services.cluster_update)
    delete_service = staticmethod(services.cluster_delete)

    @extend_schema(request=None, responses={202: ClusterStartedSerializer})
    @action(detail=True, methods=["post"])
    def provision(self, request, pk=None):
        cluster = self.get_object()
        with conflict_on_invalid("not_ready"):
            job = services.cluster_provision_start(cluster=cluster, created_by=self.acting_user())
        cluster.refresh_from_db()
        return accepted(started(ClusterSerializer(cluster).data, job))


class NodeViewSet(CrudMixins, ApiViewSet):
    """Hypervisor nodes. Creating one queues `node_add`; deleting one queues
    `node_remove` (both 202 + job); `drain` / `undrain` stop / resume placing new VMs on
    it. Credentials are write-only."""

    queryset = Node.objects.all()
    serializer_class = NodeSerializer
    policy = STAFF_READ
    filterset_class = NodeFilterSet
    ordering_fields = ["id", "name", "created", "state", "underlay_ip"]
    update_service = staticmethod(services.node_update)

    @extend_schema(responses={202: NodeStartedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        node = services.node_create(created_by=self.acting_user(), **serializer.validated_data)
        job = last_job_for(node)
        return accepted(started(NodeSerializer(node).data, job))

    @extend_schema(request=None, responses={202: NodeStartedSerializer})
    def destroy(self, request, *args, **kwargs):
        node = self.get_object()
        with conflict_on_invalid("not_empty"):
            job = services.node_remove_start(node=node, created_by=self.acting_user())
        return accepted(started(NodeSerializer(node).data, job))

    @extend_schema(request=None, responses={200: NodeSerializer})
    @action(detail=True, methods=["post"])
    def drain(self, request, pk=None):
        """No new VMs on this ready node; its VMs keep running (maintenance, removal)."""
        return self._change_state(services.node_drain)

    @extend_schema(request=None, responses={200: NodeSerializer})
    @action(detail=True, methods=["post"])
    def undrain(self, request, pk=None):
        """Put a draining node back into service."""
        return self._change_state(services.node_undrain)

    def _change_state(self, service) -> Response:
        node = self.get_object()
        with conflict_on_invalid("invalid_state"):
            service(node)
        return Response(NodeSerializer(node).data)


class RouteReflectorViewSet(CrudMixins, ApiViewSet):
    """Route reflectors; their config is applied by the next cluster `provision`.
    Deleting one queues `route_reflector_remove` (202 + job): nodes and the border gateway
    drop it first; the cluster's last ready RR is refused (409 not_removable)."""

    queryset = RouteReflector.objects.all()
    serializer_class = RouteReflectorSerializer
    policy = STAFF_READ
    filterset_class = RouteReflectorFilterSet
    ordering_fields = ["id", "name", "created", "state", "peering_ip"]
    update_service = staticmethod(services.route_reflector_update)

    def perform_create(self, serializer):
        serializer.instance = services.route_reflector_create(
            created_by=self.acting_user(), **serializer.validated_data
        )

    @extend_schema(request=None, responses={202: RouteReflectorStartedSerializer})
    def destroy(self, request, *args, **kwargs):
        rr = self.get_object()
        with conflict_on_invalid("not_removable"):
            job = services.route_reflector_remove_start(rr=rr, created_by=self.acting_user())
        return accepted(started(RouteReflectorSerializer(rr).data, job))


class BorderGatewayViewSet(CreateReadUpdateMixins, ApiViewSet):
    """Border gateways (one per cluster). `sync` pushes the config (202 + job)."""

    queryset = BorderGateway.objects.all()
    serializer_class = BorderGatewaySerializer
    policy = STAFF_READ
    filterset_class = BorderGatewayFilterSet
    ordering_fields = ["id", "name", "created", "state"]
    create_service = staticmethod(services.border_gateway_create)
    update_service = staticmethod(services.border_gateway_update)

    @extend_schema(request=None, responses={202: BorderGatewayStartedSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        bgw = self.get_object()
        job = services.border_gateway_sync_start(border_gateway=bgw, created_by=self.acting_user())
        return accepted(started(BorderGatewaySerializer(bgw).data, job))
