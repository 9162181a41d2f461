from django.db.models import Count
from django_filters import rest_framework as filters

from apps.api.access import STAFF_AND_AUDITORS
from apps.api.filters import AddressFilter, IdFilter
from apps.api.permissions import Policy
from apps.api.views import ApiViewSet, CrudMixins
from apps.ipam import services
from apps.ipam.api.serializers import IPAddressSerializer, IPPoolSerializer, NetworkSerializer
from apps.ipam.models import IPAddress, IPPool, Network

STAFF_READ = Policy(read=STAFF_AND_AUDITORS)


class NetworkFilter(filters.FilterSet):
    cluster = IdFilter(field_name="cluster_id")
    prefix = filters.CharFilter()

    class Meta:
        model = Network
        fields = ["cluster", "family", "prefix"]


class NetworkViewSet(CrudMixins, ApiViewSet):
    """Public prefixes routed to a cluster."""

    queryset = Network.objects.all()
    serializer_class = NetworkSerializer
    policy = STAFF_READ
    filterset_class = NetworkFilter
    search_fields = ["prefix", "description"]
    ordering_fields = ["id", "prefix", "family", "created"]
    create_service = staticmethod(services.network_create)
    update_service = staticmethod(services.network_update)
    delete_service = staticmethod(services.network_delete)


class IPPoolFilter(filters.FilterSet):
    network = IdFilter(field_name="network_id")
    cluster = IdFilter(field_name="network__cluster_id")
    name = filters.CharFilter()

    class Meta:
        model = IPPool
        fields = ["network", "cluster", "name"]


class IPPoolViewSet(CrudMixins, ApiViewSet):
    """Ranges of a network that VM addresses are taken from."""

    queryset = IPPool.objects.annotate(used=Count("addresses")).order_by("network__prefix", "name")
    serializer_class = IPPoolSerializer
    policy = STAFF_READ
    filterset_class = IPPoolFilter
    search_fields = ["name"]
    ordering_fields = ["id", "name", "created", "used"]
    create_service = staticmethod(services.pool_create)
    update_service = staticmethod(services.pool_update)
    delete_service = staticmethod(services.pool_delete)


class IPAddressFilter(filters.FilterSet):
    pool = IdFilter(field_name="pool_id")
    vm = IdFilter(field_name="vm_id")
    tenant = IdFilter(field_name="vm__tenant_id")
    cluster = IdFilter(field_name="pool__network__cluster_id")
    address = AddressFilter()

    class Meta:
        model = IPAddress
        fields = ["pool", "vm", "tenant", "cluster", "address", "family", "status"]


class IPAddressViewSet(CrudMixins, ApiViewSet):
    """Addresses in use. Tenants see their VMs' addresses; operators reserve and
    quarantine addresses (and give them back with DELETE)."""

    queryset = IPAddress.objects.all()
    serializer_class = IPAddressSerializer
    tenant_field = "vm__tenant"
    filterset_class = IPAddressFilter
    search_fields = ["address", "description"]
    ordering_fields = ["id", "key", "family", "created", "status"]
    update_service = staticmethod(services.ip_update)
    delete_service = staticmethod(services.ip_unreserve)

    def perform_create(self, serializer):
        serializer.instance = services.ip_reserve(**serializer.validated_data)
