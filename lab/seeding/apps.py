from django.apps import AppConfig


class LabSeedingConfig(AppConfig):
    name = "lab.seeding"
    label = "lab_seeding"
    verbose_name = "Lab seeding"
