from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The browser portal: operator pages and tenant self-service (Django templates + htmx)."""

    name = "apps.portal"
    label = "portal"
    verbose_name = "Portal"
