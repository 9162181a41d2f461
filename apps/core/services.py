"""Small write helpers the apps' services share: validate fully, then save."""

from django.db import models, transaction

from apps.core.errors import Refused


def instance_create(model: type[models.Model], **fields) -> models.Model:
    """Build `model(**fields)`, run `full_clean()` and save it."""
    instance = model(**fields)
    instance.full_clean()
    instance.save()
    return instance


@transaction.atomic
def instance_update(instance: models.Model, **fields) -> models.Model:
    """Set `fields` on `instance`, run `full_clean()` and save those fields only (with the
    model's `derived_fields`, which its save() computes), so a copy read earlier never writes
    back columns another process (a worker's state change) wrote since."""
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.full_clean()
    if fields:
        derived = getattr(instance, "derived_fields", ())
        instance.save(update_fields=sorted({*fields, *derived}))
    return instance


@transaction.atomic
def instance_delete(instance: models.Model) -> None:
    """Delete `instance`; raises ProtectedError while other rows still need it."""
    instance.delete()


class InvalidTransition(Refused):
    """A state change that the model's transition table (`TRANSITIONS`) does not allow."""

    code, field = "invalid_transition", "state"


@transaction.atomic
def instance_set_state(
    instance: models.Model, state: str, *, if_allowed: bool = False, **fields
) -> str | None:
    """Move `instance` to `state` if its model's `TRANSITIONS` allow it from the state
    stored now (read under the row's lock; staying put is allowed). The row is saved, not
    update()d, so the change log sees the change; `fields` are saved with it (also when
    the state stays put).

    Returns the state it left (the stored one, not the caller's copy), or None when
    `if_allowed` and the table forbids the change: the row is left as it is (another job
    moved it on), and `instance.state` says what it is.

    Raises:
        InvalidTransition: the table forbids the change (and not `if_allowed`).
    """
    model = type(instance)
    stored = model.objects.select_for_update().values_list("state", flat=True).get(pk=instance.pk)
    if stored != state and state not in model.TRANSITIONS[stored]:
        instance.state = stored
        if if_allowed:
            return None
        raise InvalidTransition(
            f"{model._meta.verbose_name.capitalize()} {instance} cannot go from {stored} to "
            f"{state}."
        )
    instance.state = state
    for name, value in fields.items():
        setattr(instance, name, value)
    if stored != state or fields:
        instance.save(update_fields=["state", *fields])
    return stored
