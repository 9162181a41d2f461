from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "apps.compute"
    label = "compute"
    verbose_name = "Compute"

    def ready(self) -> None:
        from apps.compute import reconcile, workflows  # noqa: F401 - registers the app's job kinds
