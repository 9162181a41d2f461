from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.tenancy.models import ApiKey, Membership, Tenant


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "description", "max_vms", "is_active", "created"]
        read_only_fields = ["created"]
        validators = []  # services run full_clean: one place for every rule


class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.all(),
        help_text="The user's username.",
    )

    class Meta:
        model = Membership
        fields = ["id", "user", "tenant", "role", "created"]
        read_only_fields = ["created"]
        validators = []


class ApiKeySerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.all(),
        required=False,
        allow_null=True,
        help_text="For a user key: the user it acts as (username).",
    )
    tenant = serializers.PrimaryKeyRelatedField(
        queryset=Tenant.objects.all(),
        required=False,
        allow_null=True,
        help_text="For a tenant key: the tenant it acts for.",
    )
    role = serializers.ChoiceField(
        choices=ApiKey.API_ROLE_CHOICES,
        required=False,
        default="",
        help_text="For a tenant key: tenant_user or read_only. Empty for a user key.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id", "name", "prefix", "user", "tenant", "role", "created", "last_used", "revoked_at",
        ]  # fmt: skip
        read_only_fields = ["prefix", "created", "last_used", "revoked_at"]
        validators = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tenants = self.context.get("writable_tenants")
        if tenants is not None and "tenant" in self.fields:
            self.fields["tenant"].queryset = tenants


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The secret: shown this once only.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
