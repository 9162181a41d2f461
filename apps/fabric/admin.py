from django.contrib import admin

from apps.core.admin import WriteOnlySecretsForm
from apps.fabric.models import BgpSessionState, BorderGateway, Cluster, Node, RouteReflector


class BirdHostForm(WriteOnlySecretsForm):
    secret_fields = ("ssh_password", "ssh_private_key")


class BorderGatewayForm(WriteOnlySecretsForm):
    secret_fields = ("password", "ssh_private_key")


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "virtualization", "bgp_asn", "bgp_community", "state", "created"]
    list_filter = ["virtualization", "state"]
    search_fields = ["name", "description"]

    def has_add_permission(self, request) -> bool:
        return False  # made by the portal's cluster wizard or the API


@admin.register(BorderGateway)
class BorderGatewayAdmin(admin.ModelAdmin):
    form = BorderGatewayForm
    list_display = ["name", "cluster", "mgmt_host", "peering_ip", "peer_asn", "state"]
    list_filter = ["state"]
    list_select_related = ["cluster"]
    search_fields = ["name", "mgmt_host", "peering_ip", "cluster__name"]


@admin.register(RouteReflector)
class RouteReflectorAdmin(admin.ModelAdmin):
    form = BirdHostForm
    list_display = ["name", "cluster", "peering_ip", "state", "created"]
    list_filter = ["state", "cluster"]
    list_select_related = ["cluster"]
    search_fields = ["name", "peering_ip", "cluster__name"]


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    form = BirdHostForm
    list_display = ["name", "cluster", "underlay_ip", "hypervisor", "vcpus", "memory_mb", "state"]
    list_filter = ["state", "hypervisor", "cluster"]
    list_select_related = ["cluster"]
    search_fields = ["name", "underlay_ip", "cluster__name"]

    def has_add_permission(self, request) -> bool:
        return False  # added by node_add (the portal's Add node, the API)


@admin.register(BgpSessionState)
class BgpSessionStateAdmin(admin.ModelAdmin):
    """Read-only: written by the periodic collection (apps/fabric/bgp_sessions.py)."""

    list_display = ["protocol", "route_reflector", "node", "peer_address", "state",
                    "routes_imported", "routes_exported", "seen_at", "stale"]  # fmt: skip
    list_filter = ["state", "stale"]
    list_select_related = ["route_reflector", "node"]
    search_fields = ["protocol", "peer_address", "route_reflector__name", "node__name"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
