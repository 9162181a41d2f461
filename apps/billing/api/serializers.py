from rest_framework import serializers

from apps.api.serializers import UtcDateTimeField
from apps.billing.models import UsageEvent, WebhookDelivery, WebhookEndpoint

HOURS = {"max_digits": 20, "decimal_places": 6, "read_only": True}


class UsageQuerySerializer(serializers.Serializer):
    """`?tenant=&from=&to=`: the period is [from, to); dates mean midnight UTC."""

    tenant = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="One tenant (default: all you see).",
    )
    to = UtcDateTimeField(required=False, help_text="End of the period, excluded (default: now).")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = UtcDateTimeField(
            required=False, help_text="Start of the period, included (default: start of month)."
        )
        return fields

    def validate(self, attrs):
        start, end = attrs.get("from"), attrs.get("to")
        if start and end and end <= start:
            raise serializers.ValidationError({"to": ["`to` must come after `from`."]})
        return attrs


class UsageLineSerializer(serializers.Serializer):
    tenant = serializers.IntegerField()
    tenant_name = serializers.CharField()
    plan = serializers.IntegerField()
    plan_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=UsageEvent.Kind.choices)
    vms = serializers.IntegerField(help_text="VMs of this plan billed in the period.")
    vm_hours = serializers.DecimalField(
        **HOURS, help_text="Hours VMs (kind vm) were provisioned: running or stopped."
    )
    container_hours = serializers.DecimalField(
        **HOURS, help_text="Hours containers were provisioned: running or stopped."
    )
    running_hours = serializers.DecimalField(**HOURS)
    stopped_hours = serializers.DecimalField(**HOURS)
    public_ip_hours = serializers.DecimalField(**HOURS, help_text="IPv4 and IPv6 together.")
    public_ipv4_hours = serializers.DecimalField(**HOURS)
    public_ipv6_hours = serializers.DecimalField(**HOURS)
    vm_seconds = serializers.DecimalField(**HOURS, help_text="Exact, to the microsecond.")
    container_seconds = serializers.DecimalField(**HOURS)
    public_ip_seconds = serializers.DecimalField(**HOURS)


class UsageSerializer(serializers.Serializer):
    to = serializers.DateTimeField()
    generated = serializers.DateTimeField()
    results = UsageLineSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields = {"from": serializers.DateTimeField(), **fields}
        return fields


class UsageEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageEvent
        fields = [
            "id", "at", "tenant", "vm", "plan", "plan_name", "kind", "event_type", "state",
            "previous_state", "address", "family",
        ]  # fmt: skip


class WebhookEndpointSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        min_length=16,
        max_length=128,
        help_text="HMAC key (16+ characters); generated and shown once when not given.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "name", "url", "secret", "tenant", "is_active", "created"]
        read_only_fields = ["created"]
        validators = []


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    signing_secret = serializers.CharField(
        read_only=True, source="secret", help_text="The HMAC key: shown this once only."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "signing_secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "endpoint", "event", "event_type", "state", "attempts", "last_status",
            "last_error", "created", "delivered_at", "body",
        ]  # fmt: skip
