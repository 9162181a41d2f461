from rest_framework import serializers

from apps.api.serializers import CreateOnlyFieldsMixin
from apps.ipam.models import IPAddress, IPPool, Network


class NetworkSerializer(CreateOnlyFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Network
        fields = ["id", "cluster", "prefix", "family", "description", "created"]
        read_only_fields = ["family", "created"]
        create_only_fields = ["cluster"]
        validators = []


class IPPoolSerializer(CreateOnlyFieldsMixin, serializers.ModelSerializer):
    size = serializers.IntegerField(read_only=True, help_text="Addresses in the range.")
    used = serializers.IntegerField(read_only=True, help_text="Addresses not free.")

    class Meta:
        model = IPPool
        fields = [
            "id", "network", "name", "first_address", "last_address", "excluded", "size",
            "used", "created",
        ]  # fmt: skip
        read_only_fields = ["created"]
        create_only_fields = ["network"]
        validators = []

    def to_representation(self, pool):
        data = super().to_representation(pool)
        if getattr(pool, "used", None) is None:
            data["used"] = pool.addresses.count()
        return data


class IPAddressSerializer(CreateOnlyFieldsMixin, serializers.ModelSerializer):
    """An address that is not free. Operators reserve or quarantine addresses here;
    allocated ones come and go with their VMs."""

    status = serializers.ChoiceField(choices=IPAddress.Status.choices)

    class Meta:
        model = IPAddress
        fields = ["id", "pool", "address", "family", "status", "vm", "description", "created"]
        read_only_fields = ["family", "vm", "created"]
        create_only_fields = ["pool", "address"]
        validators = []
