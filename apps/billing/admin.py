from django.contrib import admin

from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint
from apps.core.admin import WriteOnlySecretsForm


class WebhookEndpointForm(WriteOnlySecretsForm):
    secret_fields = ("secret",)


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    """The ledger is append-only: read here, never changed."""

    list_display = ["at", "tenant_id", "vm_id", "plan_name", "event_type", "state", "address"]
    list_filter = ["event_type", "kind"]
    search_fields = ["plan_name", "address"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """The secret is write-only: never shown back, blank keeps it."""

    form = WebhookEndpointForm
    list_display = ["name", "url", "tenant", "is_active", "created"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_type", "endpoint", "state", "attempts", "last_status", "created"]
    list_filter = ["state"]
    raw_id_fields = ["event"]
