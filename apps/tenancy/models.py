"""Tenants (customers) and who may act for them."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from apps.core.validators import validate_config_description, validate_config_name

MAX_VMS_PER_TENANT = 100_000


class Tenant(models.Model):
    """A customer of the hosting provider; owns VMs and is billed for them."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_config_name])
    description = models.CharField(
        max_length=200, blank=True, validators=[validate_config_description]
    )
    max_vms = models.PositiveIntegerField(
        default=100,
        validators=[MaxValueValidator(MAX_VMS_PER_TENANT, f"At most {MAX_VMS_PER_TENANT} VMs.")],
        help_text="Quota: VMs and containers the tenant may have at once.",
    )
    is_active = models.BooleanField(
        default=True,
        help_text="Off: the tenant is suspended. Its API keys are refused and its users "
        "see none of its objects and act on none (staff still do).",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    OPERATOR = "operator", "Operator"
    TENANT_USER = "tenant_user", "Tenant user"
    READ_ONLY = "read_only", "Read-only"


STAFF_ROLES = (Role.ADMIN, Role.OPERATOR)


class Membership(models.Model):
    """What a user may do, and for which tenant.

    Admins and operators act on the whole platform (no tenant). A tenant user acts for
    one tenant. A read-only user sees one tenant, or the whole platform when no tenant
    is given (an auditor).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username", "tenant__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tenant"], name="membership_unique_user_tenant"
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(tenant__isnull=True),
                name="membership_unique_platform_role_per_user",
            ),
            models.CheckConstraint(
                condition=(Q(role__in=["admin", "operator"]) & Q(tenant__isnull=True))
                | (Q(role="tenant_user") & Q(tenant__isnull=False))
                | Q(role="read_only"),
                name="membership_tenant_matches_role",
            ),
        ]

    def __str__(self) -> str:
        scope = self.tenant.name if self.tenant_id else "platform"
        return f"{self.user} — {self.get_role_display()} ({scope})"

    def clean(self) -> None:
        if self.role in STAFF_ROLES and self.tenant_id:
            raise ValidationError(
                {"tenant": "Administrators and operators act on the whole platform: leave empty."}
            )
        if self.role == Role.TENANT_USER and not self.tenant_id:
            raise ValidationError({"tenant": "A tenant user needs a tenant."})


class ApiKey(models.Model):
    """A secret for `Authorization: Bearer <key>`; only its SHA-256 hash is stored.

    A user key acts as its user (with that user's memberships). A tenant key acts for one
    tenant with the role it was given (tenant user or read-only). Revoked keys stay for
    the record and are refused.
    """

    TENANT_KEY_ROLES = (Role.TENANT_USER, Role.READ_ONLY)
    TENANT_KEY_ROLES_CHOICES = [(r.value, r.label) for r in TENANT_KEY_ROLES]
    API_ROLE_CHOICES = [("", "(user key)"), *TENANT_KEY_ROLES_CHOICES]

    name = models.CharField(max_length=63, validators=[validate_config_description])
    prefix = models.CharField(
        max_length=16,
        editable=False,
        help_text="The first characters of the key, to tell keys apart.",
    )
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
    )
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    role = models.CharField(
        max_length=16,
        choices=Role.choices,
        blank=True,
        help_text="For tenant keys: tenant user or read-only. User keys act as their user.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(tenant__isnull=True) & Q(role=""))
                | (
                    Q(user__isnull=True)
                    & Q(tenant__isnull=False)
                    & Q(role__in=["tenant_user", "read_only"])
                ),
                name="apikey_user_xor_tenant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def clean(self) -> None:
        if self.user_id and self.tenant_id:
            raise ValidationError({"tenant": "A key belongs to a user or to a tenant, not both."})
        if not self.user_id and not self.tenant_id:
            raise ValidationError({"tenant": "Give the tenant (or the user) the key acts for."})
        if self.tenant_id and self.role not in self.TENANT_KEY_ROLES:
            raise ValidationError({"role": "A tenant key is a tenant user or read-only key."})
        if self.user_id and self.role:
            raise ValidationError({"role": "A user key acts as its user: leave the role empty."})
