from django.contrib import admin

from apps.ipam.models import IPAddress, IPPool, Network


@admin.register(Network)
class NetworkAdmin(admin.ModelAdmin):
    list_display = ["prefix", "family", "cluster", "description"]
    list_filter = ["family", "cluster"]
    list_select_related = ["cluster"]
    search_fields = ["prefix", "description"]


@admin.register(IPPool)
class IPPoolAdmin(admin.ModelAdmin):
    list_display = ["name", "network", "first_address", "last_address"]
    list_select_related = ["network"]
    search_fields = ["name", "network__prefix"]


@admin.register(IPAddress)
class IPAddressAdmin(admin.ModelAdmin):
    list_display = ["address", "status", "vm", "pool", "created"]
    list_filter = ["status", "family"]
    list_select_related = ["vm", "pool"]
    search_fields = ["address", "vm__name"]
    raw_id_fields = ["vm"]
