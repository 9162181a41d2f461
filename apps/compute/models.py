"""What tenants order: plans, and the VMs and containers built from them."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.core.validators import (
    is_config_name,
    validate_absolute_path,
    validate_config_description,
    validate_config_name,
)
from apps.fabric.models import Cluster


class Plan(models.Model):
    """A size of VM or container that tenants can order."""

    class Kind(models.TextChoices):
        VM = "vm", "Virtual machine"
        CONTAINER = "container", "Container"

    name = models.CharField(max_length=63, unique=True, validators=[validate_config_name])
    description = models.CharField(
        max_length=200, blank=True, validators=[validate_config_description]
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.VM)
    vcpus = models.PositiveIntegerField("vCPUs", validators=[MinValueValidator(1)])
    memory_mb = models.PositiveIntegerField("RAM (MiB)", validators=[MinValueValidator(64)])
    disk_gb = models.PositiveIntegerField("disk (GiB)", validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True, help_text="Offered for new orders.")

    class Meta:
        ordering = ["kind", "vcpus", "memory_mb", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vcpus__gte=1, memory_mb__gte=64, disk_gb__gte=1),
                name="plan_size_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class GuestImage(models.Model):
    """What a VM or container boots, as the operator catalogs it.

    libvirt images boot a kernel + initrd directly (the VM's addresses on the kernel command
    line) or a disk, or both: a kernel with a disk boots the kernel and gives the guest the
    disk. Each VM gets its own qcow2 overlay of the disk at its plan's size (the catalog's
    file is never written); LXD images are an alias in the node's LXD, imported from the given
    tarballs when a node lacks it. Paths are on the nodes. The guest counts as booted when
    its console shows `ready_marker` (as soon as it runs when blank) within the timeout.
    """

    class Hypervisor(models.TextChoices):
        LIBVIRT = "libvirt", "libvirt / KVM"
        LXD = "lxd", "LXD"

    name = models.CharField(max_length=63, unique=True, validators=[validate_config_name])
    description = models.CharField(
        max_length=200, blank=True, validators=[validate_config_description]
    )
    hypervisor = models.CharField(max_length=16, choices=Hypervisor.choices)
    kernel = models.CharField(
        max_length=255, blank=True, validators=[validate_absolute_path],
        help_text="libvirt direct boot: the kernel's path on the nodes.",
    )  # fmt: skip
    initrd = models.CharField(
        max_length=255, blank=True, validators=[validate_absolute_path],
        help_text="libvirt direct boot: the initrd's path on the nodes.",
    )  # fmt: skip
    disk = models.CharField(
        max_length=255, blank=True, validators=[validate_absolute_path],
        help_text="libvirt: a qcow2 or raw disk's path on the nodes, the guests' disk (booted "
        "when there is no kernel). Each VM gets its own overlay of it, of the plan's size.",
    )  # fmt: skip
    lxd_alias = models.CharField(
        "LXD image alias", max_length=63, blank=True, validators=[validate_config_name]
    )
    lxd_metadata = models.CharField(
        "LXD metadata tarball", max_length=255, blank=True, validators=[validate_absolute_path],
        help_text="Imported with the rootfs tarball when a node lacks the alias.",
    )  # fmt: skip
    lxd_rootfs = models.CharField(
        "LXD rootfs tarball", max_length=255, blank=True, validators=[validate_absolute_path]
    )
    ready_marker = models.CharField(
        max_length=100, blank=True, validators=[validate_config_description],
        help_text="Console text that means the guest has booted; blank: running is enough.",
    )  # fmt: skip
    boot_timeout_seconds = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(1), MaxValueValidator(3600)]
    )
    is_active = models.BooleanField(default=True, help_text="Offered for new orders.")

    class Meta:
        ordering = ["hypervisor", "name"]
        verbose_name = "guest image"
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(hypervisor="libvirt", lxd_alias="", lxd_metadata="", lxd_rootfs="")
                    & (~Q(kernel="") | ~Q(disk=""))
                )
                | Q(hypervisor="lxd", kernel="", initrd="", disk="") & ~Q(lxd_alias=""),
                name="guest_image_source_fits_hypervisor",
            ),
            models.CheckConstraint(
                condition=Q(boot_timeout_seconds__gte=1), name="guest_image_timeout_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.hypervisor == self.Hypervisor.LIBVIRT:
            if not self.kernel and not self.disk:
                errors["kernel"] = "Give a kernel (and initrd) or a disk."
            if self.initrd and not self.kernel:
                errors["initrd"] = "An initrd goes with a kernel."
            for field in ("lxd_alias", "lxd_metadata", "lxd_rootfs"):
                if getattr(self, field):
                    errors[field] = "Only for LXD images."
        elif self.hypervisor == self.Hypervisor.LXD:
            if not self.lxd_alias:
                errors["lxd_alias"] = "Give the image's LXD alias."
            if bool(self.lxd_metadata) != bool(self.lxd_rootfs):
                errors["lxd_rootfs"] = "Give both tarballs (metadata and rootfs) or neither."
            for field in ("kernel", "initrd", "disk"):
                if getattr(self, field):
                    errors[field] = "Only for libvirt images."
        if errors:
            raise ValidationError(errors)

    @property
    def kind(self) -> str:
        """`kernel`, `disk` or `lxd`: where the guest boots from."""
        if self.hypervisor == self.Hypervisor.LXD:
            return "lxd"
        return "kernel" if self.kernel else "disk"


IMAGE_HYPERVISOR_FOR_KIND = {
    Plan.Kind.VM: GuestImage.Hypervisor.LIBVIRT,
    Plan.Kind.CONTAINER: GuestImage.Hypervisor.LXD,
}


class VirtualMachine(models.Model):
    """A tenant's VM or container with its public /32 (and /128), routed to its vnet."""

    class State(models.TextChoices):
        ORDERED = "ordered", "Ordered"
        PROVISIONING = "provisioning", "Provisioning"
        RUNNING = "running", "Running"
        STOPPING = "stopping", "Stopping"
        STOPPED = "stopped", "Stopped"
        STARTING = "starting", "Starting"
        DELETING = "deleting", "Deleting"
        DELETED = "deleted", "Deleted"
        FAILED = "failed", "Failed"

    # A VM being deleted, deleted or failed keeps no name: a new order may take it (a
    # failed VM that would come back under a name taken since is refused, see vm_set_state;
    # a failed VM may always be deleted).
    NAMELESS_STATES = (State.DELETING, State.DELETED, State.FAILED)
    # On a node, with its guest: stopping and starting are on the way between the two.
    PLACED_STATES = (State.RUNNING, State.STOPPING, State.STOPPED, State.STARTING)

    TRANSITIONS: dict[str, frozenset[str]] = {
        State.ORDERED: frozenset({State.PROVISIONING, State.FAILED, State.DELETING}),
        State.PROVISIONING: frozenset({State.RUNNING, State.FAILED, State.DELETING}),
        State.RUNNING: frozenset({State.STOPPING, State.STOPPED, State.DELETING, State.FAILED}),
        # a stop or start that failed for good goes back where it came from
        State.STOPPING: frozenset({State.STOPPED, State.RUNNING, State.DELETING, State.FAILED}),
        State.STOPPED: frozenset({State.STARTING, State.RUNNING, State.DELETING, State.FAILED}),
        State.STARTING: frozenset({State.RUNNING, State.STOPPED, State.DELETING, State.FAILED}),
        State.DELETING: frozenset({State.DELETED, State.FAILED}),
        State.FAILED: frozenset({State.PROVISIONING, State.DELETING}),
        State.DELETED: frozenset(),
    }

    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, related_name="virtual_machines"
    )
    cluster = models.ForeignKey(
        "fabric.Cluster", on_delete=models.PROTECT, related_name="virtual_machines"
    )
    node = models.ForeignKey(
        "fabric.Node",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="virtual_machines",
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="virtual_machines")
    image = models.ForeignKey(
        GuestImage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="virtual_machines",
        help_text="What the guest boots (needed on libvirt and LXD nodes, not on lab ones).",
    )
    name = models.CharField(max_length=63, validators=[validate_config_name])
    description = models.CharField(
        max_length=200, blank=True, validators=[validate_config_description]
    )
    mac_address = models.CharField("guest MAC", max_length=17, blank=True)
    vnet_name = models.CharField(
        "vnet interface",
        max_length=15,
        blank=True,
        help_text="The node-side interface; the VM's gateway (Linux names hold 15 chars).",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.ORDERED)
    state_changed = models.DateTimeField(auto_now_add=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "virtual machine"
        indexes = [models.Index(fields=["tenant", "state"], name="vm_tenant_state")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=~Q(state__in=["deleting", "deleted", "failed"]),
                name="vm_unique_name_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["node", "vnet_name"],
                condition=~Q(state="deleted") & ~Q(vnet_name=""),
                name="vm_unique_vnet_per_node",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["running", "stopping", "stopped", "starting"])
                | Q(node__isnull=False),
                name="vm_placed_when_active",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if is_config_name(self.name) and self.tenant_id and self.name_taken(state=self.state):
            raise ValidationError({"name": f"You already have a VM named {self.name}."})
        if (
            self.plan_id
            and self.cluster_id
            and self.plan.kind == Plan.Kind.CONTAINER
            and self.cluster.virtualization != Cluster.Virtualization.LXD
        ):
            raise ValidationError(
                {"plan": f"Cluster {self.cluster} runs KVM VMs; choose a VM plan."}
            )
        if self.image_id and self.plan_id:
            wanted = IMAGE_HYPERVISOR_FOR_KIND[self.plan.kind]
            if self.image.hypervisor != wanted:
                raise ValidationError(
                    {"image": f"Image {self.image} is for {self.image.get_hypervisor_display()}; "
                     f"a {self.plan.get_kind_display().lower()} needs a {wanted} image."}
                )  # fmt: skip

    def name_taken(self, *, state: str) -> bool:
        """Whether this VM, in `state`, would clash with another VM of its tenant by name."""
        if state in self.NAMELESS_STATES:
            return False
        others = VirtualMachine.objects.filter(tenant_id=self.tenant_id, name=self.name)
        return others.exclude(state__in=self.NAMELESS_STATES).exclude(pk=self.pk).exists()

    def can_transition_to(self, state: str) -> bool:
        return state in self.TRANSITIONS[self.state]

    @property
    def kind(self) -> str:
        return self.plan.kind


class IdempotencyKey(models.Model):
    """An `Idempotency-Key` an API client sent with an order, and what it got back.

    Unique per principal (the user, or the tenant API key) and key: a retried order finds
    the row and gets the same VM and response instead of a second VM. Two concurrent
    requests with one key collide on the unique constraint, and the second waits for the
    first to commit.
    """

    principal = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    vm = models.ForeignKey(
        VirtualMachine,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="idempotency_keys",
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["principal", "key"], name="idempotency_unique_principal_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.principal}: {self.key}"
