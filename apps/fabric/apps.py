from django.apps import AppConfig


class FabricConfig(AppConfig):
    name = "apps.fabric"
    label = "fabric"
    verbose_name = "Fabric"

    def ready(self) -> None:
        from apps.fabric import workflows  # noqa: F401 - registers the app's job kinds
