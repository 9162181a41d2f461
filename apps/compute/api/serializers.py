from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.api.serializers import CreateOnlyFieldsMixin, StaffOnlyFieldsMixin, with_job_link
from apps.compute.models import GuestImage, Plan, VirtualMachine
from apps.core.validators import validate_config_description, validate_config_name
from apps.fabric.models import Cluster
from apps.tenancy.models import Tenant


class PlanSerializer(CreateOnlyFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = ["id", "name", "description", "kind", "vcpus", "memory_mb", "disk_gb", "is_active"]
        create_only_fields = ["kind"]
        validators = []


class GuestImageSerializer(serializers.ModelSerializer):
    """A guest image of the catalog (operators manage it in the admin)."""

    class Meta:
        model = GuestImage
        fields = ["id", "name", "description", "hypervisor", "is_active"]
        read_only_fields = fields


class VirtualMachineSerializer(StaffOnlyFieldsMixin, serializers.ModelSerializer):
    """A VM or container; `node` and `vnet_name` are shown to platform roles only."""

    url = serializers.SerializerMethodField()
    kind = serializers.CharField(source="plan.kind", read_only=True)
    ipv4 = serializers.SerializerMethodField(help_text="The VM's public IPv4 address (a /32).")
    ipv6 = serializers.SerializerMethodField(help_text="The VM's public IPv6 address (a /128).")

    class Meta:
        model = VirtualMachine
        fields = [
            "id", "url", "name", "description", "tenant", "cluster", "plan", "image", "kind",
            "node", "state", "state_changed", "ipv4", "ipv6", "mac_address", "vnet_name", "created",
        ]  # fmt: skip
        read_only_fields = [f for f in fields if f != "description"]
        create_only_fields = ["name", "tenant", "cluster", "plan", "image"]
        staff_only_fields = ["node", "vnet_name"]
        validators = []

    @extend_schema_field(serializers.CharField())
    def get_url(self, vm: VirtualMachine) -> str:
        return reverse("api:vm-detail", args=[vm.pk])

    def _address(self, vm: VirtualMachine, family: int) -> str | None:
        return next((ip.address for ip in vm.ip_addresses.all() if ip.family == family), None)

    @extend_schema_field(serializers.IPAddressField(protocol="IPv4", allow_null=True))
    def get_ipv4(self, vm: VirtualMachine) -> str | None:
        return self._address(vm, 4)

    @extend_schema_field(serializers.IPAddressField(protocol="IPv6", allow_null=True))
    def get_ipv6(self, vm: VirtualMachine) -> str | None:
        return self._address(vm, 6)


VirtualMachineStartedSerializer = with_job_link(VirtualMachineSerializer)


class VirtualMachineOrderSerializer(serializers.Serializer):
    """An order: which plan, on which cluster, under which name."""

    tenant = serializers.PrimaryKeyRelatedField(
        queryset=Tenant.objects.all(),
        required=False,
        help_text="Required unless you act for exactly one tenant.",
    )
    plan = serializers.PrimaryKeyRelatedField(queryset=Plan.objects.all())
    cluster = serializers.PrimaryKeyRelatedField(queryset=Cluster.objects.all())
    image = serializers.PrimaryKeyRelatedField(
        queryset=GuestImage.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="The guest image (libvirt and LXD nodes); none for the lab's netns nodes.",
    )
    name = serializers.CharField(max_length=63, validators=[validate_config_name])
    description = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        validators=[validate_config_description],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tenants = self.context.get("orderable_tenants")
        if tenants is not None:
            self.fields["tenant"].queryset = tenants

    def validate(self, attrs):
        if "tenant" not in attrs:
            tenants = self.context.get("orderable_tenants")
            only = list(tenants[:2]) if tenants is not None else []
            if len(only) != 1:
                raise serializers.ValidationError({"tenant": ["Give the tenant that orders."]})
            attrs["tenant"] = only[0]
        return attrs
