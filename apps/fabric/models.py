"""The fabric: clusters and the devices that route them (border gateway, RRs, nodes)."""

import netaddr
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.core.fields import EncryptedTextField
from apps.core.validators import (
    is_config_name,
    normalize_mac,
    parse_community,
    parse_ip,
    validate_absolute_path,
    validate_asn,
    validate_bird_path,
    validate_community,
    validate_config_description,
    validate_config_name,
    validate_device_address,
    validate_host,
    validate_mac_unicast,
    validate_name_prefix,
    validate_ssh_host_key,
    validate_username,
)
from apps.ipam.models import IPPool, Network
from workers.fabric_rules import MAX_ASN

DEFAULT_GATEWAY_IPV4 = "10.0.0.1"
DEFAULT_GATEWAY_IPV6 = "fe80::1"
DEFAULT_GATEWAY_MAC = "02:00:0a:00:00:01"

# Sane maxima of a node's capacity (typos, not hardware, go past them).
MAX_NODE_VCPUS = 4096
MAX_NODE_MEMORY_MB = 64 * 1024 * 1024  # 64 TiB
MAX_NODE_DISK_GB = 1024 * 1024  # 1 PiB


class Cluster(models.Model):
    """A group of nodes sharing one IP fabric: one AS, one gateway IP/MAC, one set of RRs."""

    class NetworkType(models.TextChoices):
        IP_FABRIC = "ip_fabric", "IP fabric (BGP)"

    class Virtualization(models.TextChoices):
        KVM = "kvm", "KVM (libvirt)"
        LXD = "lxd", "LXD containers"

    class State(models.TextChoices):
        NEW = "new", "New"
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    # Where each state may go (cluster_set_state); provisioning again is always possible.
    TRANSITIONS: dict[str, frozenset[str]] = {
        State.NEW: frozenset({State.PROVISIONING}),
        State.PROVISIONING: frozenset({State.READY, State.FAILED}),
        State.READY: frozenset({State.PROVISIONING}),
        State.FAILED: frozenset({State.PROVISIONING}),
    }

    name = models.CharField(max_length=63, unique=True, validators=[validate_config_name])
    description = models.CharField(
        max_length=200, blank=True, validators=[validate_config_description]
    )
    network_type = models.CharField(
        max_length=16, choices=NetworkType.choices, default=NetworkType.IP_FABRIC
    )
    virtualization = models.CharField(
        max_length=8, choices=Virtualization.choices, default=Virtualization.KVM
    )
    bgp_asn = models.PositiveBigIntegerField(
        "BGP AS number",
        validators=[validate_asn],
        help_text="The iBGP AS shared by nodes, route reflectors and the border gateway.",
    )
    bgp_community = models.CharField(
        "BGP community",
        max_length=32,
        validators=[validate_community],
        help_text='Tag the RRs add to VM routes: "ASN:VALUE" or large "ASN:DATA1:DATA2".',
    )
    gateway_ipv4 = models.GenericIPAddressField(
        "gateway IPv4",
        protocol="IPv4",
        default=DEFAULT_GATEWAY_IPV4,
        help_text="Address of every vnet on every node: the VMs' default gateway.",
    )
    gateway_ipv6 = models.GenericIPAddressField(
        "gateway IPv6", protocol="IPv6", default=DEFAULT_GATEWAY_IPV6, blank=True, null=True
    )
    gateway_mac = models.CharField(
        "gateway MAC",
        max_length=17,
        default=DEFAULT_GATEWAY_MAC,
        validators=[validate_mac_unicast],
        help_text="MAC of every vnet of the cluster.",
    )
    commit_confirm_minutes = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="Border gateway rolls back unless confirmed within this many minutes.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(bgp_asn__gte=1, bgp_asn__lte=MAX_ASN), name="cluster_asn_range"
            ),
            models.CheckConstraint(
                condition=Q(commit_confirm_minutes__gte=1, commit_confirm_minutes__lte=60),
                name="cluster_commit_confirm_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        try:
            self.bgp_community = ":".join(str(p) for p in parse_community(self.bgp_community))
        except ValidationError:
            pass  # the field validator reports it
        if self.gateway_mac:
            try:
                validate_mac_unicast(self.gateway_mac)
                self.gateway_mac = normalize_mac(self.gateway_mac)
            except ValidationError:
                pass  # the field validator reports it
        gateway = parse_ip(self.gateway_ipv4)
        if gateway is not None:
            if gateway.is_multicast() or gateway.is_loopback() or int(gateway) in (0, 2**32 - 1):
                errors["gateway_ipv4"] = "The gateway must be a unicast address."
            elif self.pk:
                pool = self.pools_containing(gateway)
                if pool:
                    errors["gateway_ipv4"] = (
                        f"{gateway} lies in IP pool {pool}; VMs would be given the gateway."
                    )
        gateway6 = parse_ip(self.gateway_ipv6) if self.gateway_ipv6 else None
        if gateway6 is not None:
            if gateway6.is_multicast() or gateway6.is_loopback() or int(gateway6) == 0:
                errors["gateway_ipv6"] = "The gateway must be a unicast address."
            elif self.pk and self.pools_containing(gateway6):
                errors["gateway_ipv6"] = f"{gateway6} lies in an IP pool of this cluster."
        if errors:
            raise ValidationError(errors)

    def pools_containing(self, address: netaddr.IPAddress):
        for pool in IPPool.objects.filter(network__cluster=self):
            if pool.contains(address):
                return pool
        return None


class BirdHost(models.Model):
    """A Linux host running BIRD that the workers reach over SSH (an RR or a node)."""

    name = models.CharField(max_length=63, validators=[validate_config_name])
    description = models.CharField(
        max_length=200, blank=True, validators=[validate_config_description]
    )
    ssh_host = models.CharField(
        "SSH host",
        max_length=253,
        blank=True,
        validators=[validate_host],
        help_text="Management address; empty means the underlay IP.",
    )
    ssh_port = models.PositiveIntegerField(
        "SSH port", default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    ssh_username = models.CharField(
        "SSH user", max_length=32, default="root", validators=[validate_username]
    )
    ssh_password = EncryptedTextField("SSH password", blank=True)
    ssh_private_key = EncryptedTextField("SSH private key", blank=True)
    ssh_host_key = models.TextField(
        "SSH host key",
        blank=True,
        validators=[validate_ssh_host_key],
        help_text="Pinned host key (OpenSSH public key line). Empty: refused under the strict "
        "policy (the default); stored at first contact under tofu.",
    )
    bird_config_path = models.CharField(
        max_length=255, default="/etc/bird/bird.conf", validators=[validate_absolute_path]
    )
    bird_socket_path = models.CharField(
        max_length=255, default="/run/bird/bird.ctl", validators=[validate_absolute_path]
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @property
    def underlay_address(self) -> str:
        raise NotImplementedError

    @property
    def ssh_address(self) -> str:
        return self.ssh_host or self.underlay_address

    def clean_unique_name(self, errors: dict) -> None:
        if is_config_name(self.name) and self.cluster_id:
            same = type(self).objects.filter(cluster_id=self.cluster_id, name=self.name)
            if same.exclude(pk=self.pk).exists():
                kind = self._meta.verbose_name
                errors["name"] = f"This cluster already has a {kind} named {self.name}."

    def clean_bird_paths(self, errors: dict) -> None:
        prefixes = settings.FABRIC_BIRD_PATH_PREFIXES
        for field in ("bird_config_path", "bird_socket_path"):
            value = getattr(self, field)
            try:
                validate_absolute_path(value)
            except ValidationError:
                continue  # the field validator reports it
            try:
                validate_bird_path(value, prefixes)
            except ValidationError as exc:
                errors[field] = exc.messages[0]

    def clean_credentials(self, errors: dict) -> None:
        if not self.ssh_password and not self.ssh_private_key:
            errors["ssh_private_key"] = "Give an SSH private key or a password."

    def clean_underlay_address(self, address: str, field: str, errors: dict) -> None:
        """The underlay address must be unique among the cluster's BIRD hosts and peers."""
        if parse_ip(address) is None or not self.cluster_id:
            return
        cluster = self.cluster
        if address == cluster.gateway_ipv4:
            errors[field] = f"{address} is the cluster's VM gateway address."
            return
        if reason := public_network_clash(cluster, address):
            errors[field] = reason
            return
        clashes = [
            *RouteReflector.objects.filter(cluster=cluster, peering_ip=address),
            *Node.objects.filter(cluster=cluster, underlay_ip=address),
        ]
        clashes = [
            host for host in clashes if not (type(host) is type(self) and host.pk == self.pk)
        ]
        if clashes:
            errors[field] = f"{address} is already used by {clashes[0]} in this cluster."
            return
        bgw = BorderGateway.objects.filter(cluster=cluster, peering_ip=address).first()
        if bgw:
            errors[field] = f"{address} is the border gateway's peering address."


def public_network_clash(cluster: Cluster, address: str) -> str:
    """Why `address` can't be on the underlay of `cluster` (it lies in one of its public
    networks), or ""."""
    for network in Network.objects.filter(cluster=cluster):
        if netaddr.IPAddress(address) in network.ip_network:
            return (
                f"{address} lies in the public network {network.prefix}; the underlay "
                "must be separate."
            )
    return ""


class RouteReflector(BirdHost):
    """A Linux server running BIRD that reflects node routes to the border gateway."""

    class State(models.TextChoices):
        NEW = "new", "New"
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        REMOVING = "removing", "Removing"

    # route_reflector_set_state; a removal is never taken back (the row is then deleted).
    TRANSITIONS: dict[str, frozenset[str]] = {
        State.NEW: frozenset({State.PROVISIONING, State.REMOVING}),
        State.PROVISIONING: frozenset({State.READY, State.FAILED, State.REMOVING}),
        State.READY: frozenset({State.PROVISIONING, State.REMOVING}),
        State.FAILED: frozenset({State.PROVISIONING, State.REMOVING}),
        State.REMOVING: frozenset(),
    }

    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="route_reflectors")
    peering_ip = models.GenericIPAddressField(
        "peering IP",
        protocol="IPv4",
        validators=[validate_device_address],
        help_text="Underlay address for iBGP; also the router id and RR cluster id.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)

    class Meta:
        ordering = ["cluster__name", "name"]
        verbose_name = "route reflector"
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="rr_unique_name"),
            models.UniqueConstraint(fields=["cluster", "peering_ip"], name="rr_unique_ip"),
            models.CheckConstraint(
                condition=~Q(ssh_password="") | ~Q(ssh_private_key=""),
                name="rr_has_credentials",
            ),
        ]

    @property
    def underlay_address(self) -> str:
        return self.peering_ip

    def clean(self) -> None:
        errors: dict = {}
        self.clean_unique_name(errors)
        self.clean_bird_paths(errors)
        self.clean_credentials(errors)
        self.clean_underlay_address(self.peering_ip, "peering_ip", errors)
        if errors:
            raise ValidationError(errors)


class Node(BirdHost):
    """A hypervisor: runs VMs, routes each VM's /32 to its vnet, announces it over iBGP."""

    class Hypervisor(models.TextChoices):
        LIBVIRT = "libvirt", "libvirt / KVM"
        LXD = "lxd", "LXD"
        NETNS = "netns", "Network namespace (lab)"

    class State(models.TextChoices):
        NEW = "new", "New"
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DRAINING = "draining", "Draining"
        REMOVING = "removing", "Removing"

    # node_set_state; only a node in service drains, a removal is never taken back.
    TRANSITIONS: dict[str, frozenset[str]] = {
        State.NEW: frozenset({State.PROVISIONING, State.REMOVING}),
        State.PROVISIONING: frozenset({State.READY, State.FAILED, State.REMOVING}),
        State.READY: frozenset({State.DRAINING, State.REMOVING}),
        State.DRAINING: frozenset({State.READY, State.REMOVING}),
        State.FAILED: frozenset({State.PROVISIONING, State.REMOVING}),
        State.REMOVING: frozenset(),
    }

    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="nodes")
    underlay_ip = models.GenericIPAddressField(
        "underlay IP",
        protocol="IPv4",
        validators=[validate_device_address],
        help_text="Address on the underlay LAN; the router id.",
    )
    hypervisor = models.CharField(
        max_length=16, choices=Hypervisor.choices, default=Hypervisor.LIBVIRT
    )
    vcpus = models.PositiveIntegerField(
        "vCPUs",
        validators=[
            MinValueValidator(1),
            MaxValueValidator(MAX_NODE_VCPUS, f"At most {MAX_NODE_VCPUS} vCPUs."),
        ],
    )
    memory_mb = models.PositiveIntegerField(
        "RAM (MiB)",
        validators=[
            MinValueValidator(64),
            MaxValueValidator(MAX_NODE_MEMORY_MB, f"At most {MAX_NODE_MEMORY_MB} MiB (64 TiB)."),
        ],
    )
    disk_gb = models.PositiveIntegerField(
        "disk (GiB)",
        validators=[
            MinValueValidator(1),
            MaxValueValidator(MAX_NODE_DISK_GB, f"At most {MAX_NODE_DISK_GB} GiB (1 PiB)."),
        ],
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    facts = models.JSONField(
        default=dict, blank=True, help_text="What node preparation found: OS, BIRD version..."
    )
    hypervisor_options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Driver options, e.g. {"state_dir": "/srv/fabric/hv"}: run private libvirt or '
        "LXD daemons with their state there (hosts sharing one filesystem, as lab nodes do); "
        '{"namespace_prefix": "lab1-vm-"}: name netns "VMs" <prefix><VM id> (default fabvm-).',
    )

    persist_host_config = models.BooleanField(
        "persist host config",
        default=True,
        help_text="Write the routing sysctls to the node's /etc/sysctl.d too, so that they "
        "survive a reboot. Off for hosts that share another machine's /etc, as the lab's "
        "nodes do: theirs are set, not persisted (reconcile sets them again).",
    )

    HYPERVISOR_OPTIONS = {
        "state_dir": validate_absolute_path,
        "namespace_prefix": validate_name_prefix,
    }
    OPTION_HYPERVISORS = {"state_dir": ("libvirt", "lxd"), "namespace_prefix": ("netns",)}

    class Meta:
        ordering = ["cluster__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="node_unique_name"),
            models.UniqueConstraint(fields=["cluster", "underlay_ip"], name="node_unique_ip"),
            models.CheckConstraint(
                condition=Q(vcpus__gte=1, memory_mb__gte=64, disk_gb__gte=1),
                name="node_capacity_positive",
            ),
            models.CheckConstraint(
                condition=~Q(ssh_password="") | ~Q(ssh_private_key=""),
                name="node_has_credentials",
            ),
        ]

    @property
    def underlay_address(self) -> str:
        return self.underlay_ip

    def clean(self) -> None:
        errors: dict = {}
        self.clean_unique_name(errors)
        self.clean_bird_paths(errors)
        self.clean_credentials(errors)
        self.clean_underlay_address(self.underlay_ip, "underlay_ip", errors)
        self.clean_hypervisor_options(errors)
        if errors:
            raise ValidationError(errors)

    def clean_hypervisor_options(self, errors: dict) -> None:
        options = self.hypervisor_options
        if not isinstance(options, dict):
            errors["hypervisor_options"] = "Give a JSON object."
            return
        for key, value in options.items():
            if key not in self.HYPERVISOR_OPTIONS:
                known = ", ".join(self.HYPERVISOR_OPTIONS)
                errors["hypervisor_options"] = f"Unknown option {key!r}; known: {known}."
                return
            if self.hypervisor not in self.OPTION_HYPERVISORS[key]:
                errors["hypervisor_options"] = f"{key} is not for {self.hypervisor} nodes."
                return
            try:
                self.HYPERVISOR_OPTIONS[key](value if isinstance(value, str) else "")
            except ValidationError as exc:
                errors["hypervisor_options"] = f"{key}: {exc.messages[0]}"
                return
        if self.pk and self._options_changed() and self._has_vms():
            errors["hypervisor_options"] = (
                "The driver options can't change while it has VMs: they name its guests "
                "and daemons. Delete or move its VMs first."
            )

    def _options_changed(self) -> bool:
        before = Node.objects.filter(pk=self.pk).values_list("hypervisor_options", flat=True)
        return before.first() not in (None, self.hypervisor_options)

    def _has_vms(self) -> bool:
        return self.virtual_machines.exclude(state="deleted").exists()


class BorderGateway(models.Model):
    """The cluster's Juniper MX: peers with the RRs, configured once per cluster."""

    class Platform(models.TextChoices):
        JUNOS = "junos", "Juniper Junos"

    class State(models.TextChoices):
        NEW = "new", "New"
        SYNCING = "syncing", "Syncing"
        IN_SYNC = "in_sync", "In sync"
        FAILED = "failed", "Failed"

    # border_gateway_set_state; a sync may start from any state but a running one.
    TRANSITIONS: dict[str, frozenset[str]] = {
        State.NEW: frozenset({State.SYNCING}),
        State.SYNCING: frozenset({State.IN_SYNC, State.FAILED}),
        State.IN_SYNC: frozenset({State.SYNCING}),
        State.FAILED: frozenset({State.SYNCING}),
    }

    cluster = models.OneToOneField(Cluster, on_delete=models.PROTECT, related_name="border_gateway")
    name = models.CharField(max_length=63, validators=[validate_config_name])
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.JUNOS)
    mgmt_host = models.CharField("management host", max_length=253, validators=[validate_host])
    mgmt_port = models.PositiveIntegerField(
        "management SSH port",
        default=22,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
    )
    username = models.CharField(max_length=32, validators=[validate_username])
    password = EncryptedTextField(blank=True)
    ssh_private_key = EncryptedTextField("SSH private key", blank=True)
    ssh_host_key = models.TextField(
        "SSH host key",
        blank=True,
        validators=[validate_ssh_host_key],
        help_text="Pinned host key of the management SSH (OpenSSH public key line). Empty: "
        "refused under the strict policy (the default); stored at first contact under tofu.",
    )
    peering_ip = models.GenericIPAddressField(
        "peering IP",
        protocol="IPv4",
        validators=[validate_device_address],
        help_text="The router's address in the RR sessions.",
    )
    peer_asn = models.PositiveBigIntegerField(
        "peer AS",
        validators=[validate_asn],
        help_text="The router's AS; the article peers iBGP, i.e. the cluster's AS.",
    )
    bgp_group = models.CharField(
        "BGP group",
        max_length=63,
        blank=True,
        validators=[validate_config_name],
        help_text="Empty: FABRIC-<cluster>. The only group a sync of this cluster replaces.",
    )
    policy_name = models.CharField(
        "import policy",
        max_length=63,
        blank=True,
        validators=[validate_config_name],
        help_text="Empty: FABRIC-<cluster>; the group's export policy is <this>-REJECT.",
    )
    router_objects_claimed = models.BooleanField(
        default=False,
        editable=False,
        help_text="Set once a sync found the group and policies absent on the router and "
        "created them: from then on a sync may replace them. Until then a sync refuses to "
        "touch a group or policy of that name it did not create.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cluster__name"]
        verbose_name = "border gateway"
        constraints = [
            models.CheckConstraint(
                condition=Q(peer_asn__gte=1, peer_asn__lte=MAX_ASN), name="bgw_asn_range"
            ),
            models.CheckConstraint(
                condition=~Q(password="") | ~Q(ssh_private_key=""), name="bgw_has_credentials"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    derived_fields = ("bgp_group", "policy_name")  # see instance_update

    def save(self, *args, **kwargs):
        self.fill_default_names()
        super().save(*args, **kwargs)

    @property
    def reject_policy_name(self) -> str:
        """The group's export policy (reject everything): this cluster's own."""
        return f"{self.policy_name}-REJECT"

    @property
    def router_object_names(self) -> set[str]:
        """Names this border gateway owns on the router (group and policies)."""
        return {self.bgp_group, self.policy_name, self.reject_policy_name}

    def fill_default_names(self) -> None:
        """Empty group or policy name: FABRIC-<cluster>."""
        if self.cluster_id and not (self.bgp_group and self.policy_name):
            derived = default_router_object_name(self.cluster.name)
            self.bgp_group = self.bgp_group or derived
            self.policy_name = self.policy_name or derived

    def clean(self) -> None:
        errors = {}
        self.fill_default_names()
        if not self.password and not self.ssh_private_key:
            errors["password"] = "Give a password or an SSH private key."
        self.clean_router_object_names(errors)
        if self.cluster_id and parse_ip(self.peering_ip) is not None:
            if RouteReflector.objects.filter(
                cluster_id=self.cluster_id, peering_ip=self.peering_ip
            ).exists():
                errors["peering_ip"] = f"{self.peering_ip} is a route reflector's address."
            elif Node.objects.filter(
                cluster_id=self.cluster_id, underlay_ip=self.peering_ip
            ).exists():
                errors["peering_ip"] = f"{self.peering_ip} is a node's underlay address."
            elif self.peering_ip == self.cluster.gateway_ipv4:
                errors["peering_ip"] = f"{self.peering_ip} is the cluster's VM gateway address."
            elif reason := public_network_clash(self.cluster, self.peering_ip):
                errors["peering_ip"] = reason
        if errors:
            raise ValidationError(errors)

    def clean_router_object_names(self, errors: dict) -> None:
        """Two clusters on one router never share a group or policy name: a sync of one
        would delete the other's."""
        if not (self.mgmt_host and self.bgp_group and self.policy_name):
            return
        others = BorderGateway.objects.filter(
            mgmt_host__iexact=self.mgmt_host, mgmt_port=self.mgmt_port
        ).exclude(pk=self.pk)
        wanted = {
            "bgp_group": {self.bgp_group},
            "policy_name": {self.policy_name, self.reject_policy_name},
        }
        for other in others.select_related("cluster"):
            taken = other.router_object_names
            for field, names in wanted.items():
                clash = sorted(names & taken)
                if clash and field not in errors:
                    errors[field] = (
                        f"{clash[0]} is used on {self.mgmt_host} by cluster {other.cluster}: "
                        "each cluster needs its own names on a shared router."
                    )


def default_router_object_name(cluster_name: str) -> str:
    """The border gateway's group and import policy name for a cluster: FABRIC-<cluster>."""
    return f"FABRIC-{cluster_name}"[:63]


class BgpSessionState(models.Model):
    """One BGP session as the periodic collection last saw it on one of its ends (a route
    reflector or a node): BIRD's state and the routes on it. When the device stops
    answering, its rows stay with their time and are marked `stale`."""

    route_reflector = models.ForeignKey(
        RouteReflector, on_delete=models.CASCADE, null=True, blank=True,
        related_name="bgp_sessions",
    )  # fmt: skip
    node = models.ForeignKey(
        Node, on_delete=models.CASCADE, null=True, blank=True, related_name="bgp_sessions"
    )
    protocol = models.CharField(max_length=64, help_text="The BIRD protocol, e.g. rr_3.")
    peer_address = models.GenericIPAddressField(null=True, blank=True)
    state = models.CharField(max_length=32, help_text="BIRD's BGP state, e.g. Established.")
    info = models.CharField(max_length=200, blank=True)
    routes_imported = models.PositiveIntegerField(default=0)
    routes_exported = models.PositiveIntegerField(default=0)
    seen_at = models.DateTimeField(help_text="When the device last answered with this state.")
    stale = models.BooleanField(
        default=False, help_text="The device did not answer since `seen_at`."
    )
    stale_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["route_reflector", "node", "protocol"]
        constraints = [
            models.CheckConstraint(
                condition=Q(route_reflector__isnull=True, node__isnull=False)
                | Q(route_reflector__isnull=False, node__isnull=True),
                name="bgpsession_one_device",
            ),
            models.UniqueConstraint(
                fields=["route_reflector", "protocol"],
                condition=Q(route_reflector__isnull=False),
                name="bgpsession_unique_rr_protocol",
            ),
            models.UniqueConstraint(
                fields=["node", "protocol"],
                condition=Q(node__isnull=False),
                name="bgpsession_unique_node_protocol",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.route_reflector or self.node} {self.protocol}: {self.state}"

    @property
    def established(self) -> bool:
        return self.state == "Established"
