from django.apps import AppConfig
from django.db.backends.signals import connection_created


class IpamConfig(AppConfig):
    name = "apps.ipam"
    label = "ipam"
    verbose_name = "IP address management"

    def ready(self) -> None:
        from apps.ipam.allocation_sql import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="ipam_sqlite_functions")
