from django.contrib import admin

from apps.compute.models import GuestImage, IdempotencyKey, Plan, VirtualMachine


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "vcpus", "memory_mb", "disk_gb", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]


@admin.register(GuestImage)
class GuestImageAdmin(admin.ModelAdmin):
    list_display = ["name", "hypervisor", "kind", "boot_timeout_seconds", "is_active"]
    list_filter = ["hypervisor", "is_active"]
    search_fields = ["name", "description", "lxd_alias"]
    fieldsets = [
        (None, {"fields": ["name", "description", "hypervisor", "is_active"]}),
        ("libvirt", {"fields": ["kernel", "initrd", "disk"]}),
        ("LXD", {"fields": ["lxd_alias", "lxd_metadata", "lxd_rootfs"]}),
        ("Boot", {"fields": ["ready_marker", "boot_timeout_seconds"]}),
    ]


@admin.register(VirtualMachine)
class VirtualMachineAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "cluster", "node", "plan", "image", "state", "created"]
    list_filter = ["state", "cluster"]
    list_select_related = ["tenant", "cluster", "node", "plan", "image"]
    search_fields = ["name", "tenant__name", "ip_addresses__address"]
    raw_id_fields = ["node"]
    readonly_fields = ["state_changed", "created"]

    def has_add_permission(self, request) -> bool:
        # only an order (portal, API) allocates the addresses and queues vm_create
        return False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["principal", "key", "vm", "response_status", "created"]
    search_fields = ["principal", "key"]
    raw_id_fields = ["vm"]
    readonly_fields = ["request_hash", "response_body", "created"]
