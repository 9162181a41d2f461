"""Reads of the change log, scoped to what the principal may see."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from apps.changes.models import ObjectChange
from apps.changes.registry import TENANT_VISIBLE


def change_list() -> QuerySet[ObjectChange]:
    return ObjectChange.objects.select_related("content_type", "actor", "api_key")


def tenant_visible_types() -> list[int]:
    pairs = [label.split(".") for label in TENANT_VISIBLE]
    return [ContentType.objects.get_by_natural_key(app, model).pk for app, model in pairs]


def changes_visible_to(changes: QuerySet[ObjectChange], access) -> QuerySet[ObjectChange]:
    """Platform roles read every change; a tenant the changes of its own objects, of the types
    in TENANT_VISIBLE only (never the infrastructure)."""
    if access.sees_all_tenants:
        return changes
    return changes.filter(
        tenant_id__in=access.tenant_ids(), content_type_id__in=tenant_visible_types()
    )


def changes_of(obj, access, *, limit: int = 20) -> list[ObjectChange]:
    """The latest changes of one object that `access` may see (an object page's history)."""
    content_type = ContentType.objects.get_for_model(obj)
    changes = change_list().filter(
        Q(content_type=content_type) & (Q(object_id=obj.pk) | Q(object_pk=str(obj.pk)))
    )
    return list(changes_visible_to(changes, access)[:limit])


def hidden_fields(change: ObjectChange, access) -> frozenset[str]:
    """The fields of `change` not shown to `access` (a tenant does not see a VM's node)."""
    if access.sees_all_tenants:
        return frozenset()
    label = f"{change.content_type.app_label}.{change.content_type.model}"
    return TENANT_VISIBLE.get(label, frozenset())


def changed_fields(change: ObjectChange, access) -> dict[str, list]:
    """{field: [old, new]} as `access` may see it (secrets were masked when recorded)."""
    hidden = hidden_fields(change, access)
    changes = change.changes if isinstance(change.changes, dict) else {}
    return {name: list(values) for name, values in changes.items() if name not in hidden}


def history_of(obj, access, *, limit: int = 20) -> list[dict]:
    """What an object page's "Changes" part shows: time, who, action, [(field, old, new)]."""
    return [
        {
            "time": change.timestamp,
            "who": change.who,
            "action": change.get_action_display(),
            "fields": [
                (name, old, new) for name, (old, new) in changed_fields(change, access).items()
            ],
        }
        for change in changes_of(obj, access, limit=limit)
    ]
