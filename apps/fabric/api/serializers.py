from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from apps.api.access import ADMIN, get_access
from apps.api.serializers import AsnField, CreateOnlyFieldsMixin, with_job_link
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector

CREDENTIALS = {"write_only": True, "required": False, "style": {"input_type": "password"}}


class ClusterSerializer(serializers.ModelSerializer):
    bgp_asn = AsnField(
        label="BGP AS number",
        help_text="The iBGP AS shared by nodes, route reflectors and the border gateway: "
        "plain (64512) or asdot (1.10).",
    )

    class Meta:
        model = Cluster
        fields = [
            "id", "name", "description", "network_type", "virtualization", "bgp_asn",
            "bgp_community", "gateway_ipv4", "gateway_ipv6", "gateway_mac",
            "commit_confirm_minutes", "state", "created",
        ]  # fmt: skip
        read_only_fields = ["state", "created"]
        validators = []


ClusterStartedSerializer = with_job_link(ClusterSerializer)


# Where and how the workers log in, and where they write as root: admins only. Operators
# run the fabric (provision, sync, drain, remove, describe) but cannot redirect it.
BIRD_HOST_MANAGEMENT_FIELDS = [
    "ssh_host", "ssh_port", "ssh_username", "ssh_password", "ssh_private_key", "ssh_host_key",
    "bird_config_path", "bird_socket_path",
]  # fmt: skip
BORDER_GATEWAY_MANAGEMENT_FIELDS = [
    "mgmt_host", "mgmt_port", "username", "password", "ssh_private_key", "ssh_host_key",
]  # fmt: skip


class AdminOnlyManagementMixin:
    """Only an admin creates a device (its management access comes with it) or changes
    one of `Meta.admin_only_fields`: others get 403 on create, a field error on update."""

    def validate(self, attrs):
        request = self.context.get("request")
        if request is not None and get_access(request).platform_role != ADMIN:
            if self.instance is None:
                raise PermissionDenied(
                    "Only an administrator adds devices: they give its management access."
                )
            given = [name for name in self.Meta.admin_only_fields if name in self.initial_data]
            if given:
                raise serializers.ValidationError(
                    {name: "Only an administrator can change management access." for name in given}
                )
        return super().validate(attrs)


BIRD_HOST_FIELDS = [
    "id", "cluster", "name", "description", "ssh_host", "ssh_port", "ssh_username",
    "ssh_password", "ssh_private_key", "ssh_host_key", "bird_config_path", "bird_socket_path",
    "state", "created",
]  # fmt: skip


class NodeSerializer(AdminOnlyManagementMixin, CreateOnlyFieldsMixin, serializers.ModelSerializer):
    """A hypervisor node. SSH credentials are write-only: never shown back."""

    class Meta:
        model = Node
        fields = [
            *BIRD_HOST_FIELDS, "underlay_ip", "hypervisor", "hypervisor_options",
            "persist_host_config", "vcpus", "memory_mb", "disk_gb", "facts",
        ]  # fmt: skip
        read_only_fields = ["state", "created", "facts"]
        create_only_fields = ["cluster", "underlay_ip", "hypervisor"]
        admin_only_fields = BIRD_HOST_MANAGEMENT_FIELDS
        extra_kwargs = {"ssh_password": CREDENTIALS, "ssh_private_key": CREDENTIALS}
        validators = []


NodeStartedSerializer = with_job_link(NodeSerializer)


class RouteReflectorSerializer(
    AdminOnlyManagementMixin, CreateOnlyFieldsMixin, serializers.ModelSerializer
):
    """A route reflector. SSH credentials are write-only: never shown back."""

    class Meta:
        model = RouteReflector
        fields = [*BIRD_HOST_FIELDS, "peering_ip"]
        read_only_fields = ["state", "created"]
        create_only_fields = ["cluster", "peering_ip"]
        admin_only_fields = BIRD_HOST_MANAGEMENT_FIELDS
        extra_kwargs = {"ssh_password": CREDENTIALS, "ssh_private_key": CREDENTIALS}
        validators = []


RouteReflectorStartedSerializer = with_job_link(RouteReflectorSerializer)


class BorderGatewaySerializer(
    AdminOnlyManagementMixin, CreateOnlyFieldsMixin, serializers.ModelSerializer
):
    """The cluster's Juniper MX. Password and key are write-only: never shown back."""

    peer_asn = AsnField(
        label="peer AS",
        required=False,
        help_text="The router's AS, plain or asdot; absent: the cluster's AS (iBGP, as the "
        "article peers).",
    )

    class Meta:
        model = BorderGateway
        fields = [
            "id", "cluster", "name", "platform", "mgmt_host", "mgmt_port", "username",
            "password", "ssh_private_key", "ssh_host_key", "peering_ip", "peer_asn", "bgp_group",
            "policy_name", "state", "created",
        ]  # fmt: skip
        read_only_fields = ["state", "created"]
        create_only_fields = ["cluster"]
        admin_only_fields = BORDER_GATEWAY_MANAGEMENT_FIELDS
        extra_kwargs = {"password": CREDENTIALS, "ssh_private_key": CREDENTIALS}
        validators = []


BorderGatewayStartedSerializer = with_job_link(BorderGatewaySerializer)
