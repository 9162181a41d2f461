from apps.api.access import STAFF_AND_AUDITORS
from apps.api.permissions import Policy
from apps.api.views import ApiViewSet, CrudMixins
from apps.ipam import services
from apps.ipam.api.serializers import IPAddressSerializer, IPPoolSerializer, NetworkSerializer
from apps.ipam.filtersets import IPAddressFilterSet, IPPoolFilterSet, NetworkFilterSet
from apps.ipam.models import IPAddress, Network
from apps.ipam.selectors import pool_list

STAFF_READ = Policy(read=STAFF_AND_AUDITORS)


class NetworkViewSet(CrudMixins, ApiViewSet):
    """Public prefixes routed to a cluster."""

    queryset = Network.objects.all()
    serializer_class = NetworkSerializer
    policy = STAFF_READ
    filterset_class = NetworkFilterSet
    ordering_fields = ["id", "prefix", "family", "created"]
    create_service = staticmethod(services.network_create)
    update_service = staticmethod(services.network_update)
    delete_service = staticmethod(services.network_delete)


class IPPoolViewSet(CrudMixins, ApiViewSet):
    """Ranges of a network that VM addresses are taken from."""

    queryset = pool_list().order_by("network__prefix", "name")
    serializer_class = IPPoolSerializer
    policy = STAFF_READ
    filterset_class = IPPoolFilterSet
    ordering_fields = ["id", "name", "created", "used"]
    create_service = staticmethod(services.pool_create)
    update_service = staticmethod(services.pool_update)
    delete_service = staticmethod(services.pool_delete)


class IPAddressViewSet(CrudMixins, ApiViewSet):
    """Addresses in use. Tenants see their VMs' addresses; operators reserve and
    quarantine addresses (and give them back with DELETE)."""

    queryset = IPAddress.objects.all()
    serializer_class = IPAddressSerializer
    tenant_field = "vm__tenant"
    filterset_class = IPAddressFilterSet
    ordering_fields = ["id", "key", "family", "created", "status"]
    update_service = staticmethod(services.ip_update)
    delete_service = staticmethod(services.ip_unreserve)

    def perform_create(self, serializer):
        serializer.instance = services.ip_reserve(**serializer.validated_data)
