"""Small write helpers the apps' services share: validate fully, then save."""

from django.db import models, transaction


def instance_create(model: type[models.Model], **fields) -> models.Model:
    """Build `model(**fields)`, run `full_clean()` and save it."""
    instance = model(**fields)
    instance.full_clean()
    instance.save()
    return instance


@transaction.atomic
def instance_update(instance: models.Model, **fields) -> models.Model:
    """Set `fields` on `instance`, run `full_clean()` and save the changed fields."""
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.full_clean()
    instance.save()
    return instance


@transaction.atomic
def instance_delete(instance: models.Model) -> None:
    """Delete `instance`; raises ProtectedError while other rows still need it."""
    instance.delete()
