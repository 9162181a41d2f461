"""Filters of the IPAM lists (API and portal)."""

from django_filters import rest_framework as filters

from apps.core.filtersets import AddressFilter, IdFilter, SearchFilterSet
from apps.ipam.models import IPAddress, IPPool, Network


class NetworkFilterSet(SearchFilterSet):
    cluster = IdFilter(field_name="cluster_id")
    prefix = filters.CharFilter()
    search_fields = ("prefix__icontains", "description__icontains")

    class Meta:
        model = Network
        fields = ["cluster", "family", "prefix"]


class IPPoolFilterSet(SearchFilterSet):
    network = IdFilter(field_name="network_id")
    cluster = IdFilter(field_name="network__cluster_id")
    name = filters.CharFilter()
    search_fields = ("name__icontains",)

    class Meta:
        model = IPPool
        fields = ["network", "cluster", "name"]


class IPAddressFilterSet(SearchFilterSet):
    pool = IdFilter(field_name="pool_id")
    vm = IdFilter(field_name="vm_id")
    tenant = IdFilter(field_name="vm__tenant_id")
    cluster = IdFilter(field_name="pool__network__cluster_id")
    address = AddressFilter()
    search_fields = ("address__icontains", "description__icontains")

    class Meta:
        model = IPAddress
        fields = ["pool", "vm", "tenant", "cluster", "address", "family", "status"]
