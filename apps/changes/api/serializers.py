from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.api.serializers import StaffOnlyFieldsMixin
from apps.changes import selectors
from apps.changes.models import ObjectChange

ACTIONS = {0: "create", 1: "update", 2: "delete", 3: "access"}


class ChangeUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class ChangeApiKeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()


class ObjectChangeSerializer(StaffOnlyFieldsMixin, serializers.ModelSerializer):
    """One write: who (user, API key, or "system" for the workers), when, which object, and
    the changed fields as {field: [old, new]} (secrets masked)."""

    time = serializers.DateTimeField(source="timestamp")
    action = serializers.SerializerMethodField()
    object_type = serializers.SerializerMethodField()
    user = serializers.SerializerMethodField()
    api_key = serializers.SerializerMethodField()
    who = serializers.CharField(read_only=True)
    changes = serializers.SerializerMethodField()

    class Meta:
        model = ObjectChange
        fields = [
            "id", "time", "action", "object_type", "object_id", "object_repr", "who", "user",
            "api_key", "changes", "remote_addr", "tenant",
        ]  # fmt: skip
        read_only_fields = fields
        staff_only_fields = ["remote_addr"]

    @extend_schema_field(serializers.ChoiceField(choices=["create", "update", "delete"]))
    def get_action(self, change: ObjectChange) -> str:
        return ACTIONS.get(change.action, str(change.action))

    @extend_schema_field(serializers.CharField(help_text='e.g. "compute.virtualmachine"'))
    def get_object_type(self, change: ObjectChange) -> str:
        return f"{change.content_type.app_label}.{change.content_type.model}"

    @extend_schema_field(ChangeUserSerializer(allow_null=True))
    def get_user(self, change: ObjectChange):
        if not change.actor_id:
            return None
        return {"id": change.actor_id, "username": change.actor.get_username()}

    @extend_schema_field(ChangeApiKeySerializer(allow_null=True))
    def get_api_key(self, change: ObjectChange):
        key = change.api_key
        return None if key is None else {"id": key.pk, "name": key.name, "prefix": key.prefix}

    @extend_schema_field(
        serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    )
    def get_changes(self, change: ObjectChange) -> dict:
        return selectors.changed_fields(change, self.context["access"])
