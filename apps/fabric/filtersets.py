"""Filters of the fabric lists (API and portal)."""

from django_filters import rest_framework as filters

from apps.core.filtersets import IdFilter, SearchFilterSet
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector


class ClusterFilterSet(SearchFilterSet):
    name = filters.CharFilter(lookup_expr="iexact")
    search_fields = ("name__icontains", "description__icontains")

    class Meta:
        model = Cluster
        fields = ["name", "state", "virtualization", "bgp_asn"]


class DeviceFilterSet(SearchFilterSet):
    cluster = IdFilter(field_name="cluster_id")
    name = filters.CharFilter(lookup_expr="iexact")


class NodeFilterSet(DeviceFilterSet):
    search_fields = ("name__icontains", "description__icontains", "underlay_ip__icontains")

    class Meta:
        model = Node
        fields = ["cluster", "name", "state", "hypervisor"]


class RouteReflectorFilterSet(DeviceFilterSet):
    search_fields = ("name__icontains", "description__icontains", "peering_ip__icontains")

    class Meta:
        model = RouteReflector
        fields = ["cluster", "name", "state"]


class BorderGatewayFilterSet(SearchFilterSet):
    cluster = IdFilter(field_name="cluster_id")
    search_fields = ("name__icontains", "mgmt_host__icontains", "peering_ip__icontains")

    class Meta:
        model = BorderGateway
        fields = ["cluster", "state", "platform"]
