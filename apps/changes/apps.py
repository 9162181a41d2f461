from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "apps.changes"
    label = "changes"
    verbose_name = "Change log"

    def ready(self) -> None:
        from apps.changes.registry import register_tracked_models

        register_tracked_models()
