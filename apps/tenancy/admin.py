from django.contrib import admin

from apps.tenancy.models import ApiKey, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "max_vms", "created"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "tenant", "created"]
    list_filter = ["role"]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__username", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created through the API (the secret is shown once); here they are read."""

    list_display = [
        "name",
        "prefix",
        "user",
        "tenant",
        "role",
        "created",
        "last_used",
        "revoked_at",
    ]
    list_filter = ["role"]
    list_select_related = ["user", "tenant"]
    search_fields = ["name", "prefix", "user__username", "tenant__name"]
    readonly_fields = ["prefix", "created", "last_used", "revoked_at"]
    exclude = ["hashed_key"]

    def has_add_permission(self, request) -> bool:
        return False
