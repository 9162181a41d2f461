from django.apps import AppConfig


class FabricConfig(AppConfig):
    name = "apps.fabric"
    label = "fabric"
    verbose_name = "Fabric"
