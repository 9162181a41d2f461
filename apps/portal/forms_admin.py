"""Forms of the administration pages: tenants, plans, memberships and API keys. Model forms
validate with the model's `full_clean()` (and the same bounds), so the portal's field errors
are those the services and the API give."""

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from apps.compute.models import Plan
from apps.portal.forms import formfield_with_bounds
from apps.tenancy.models import MAX_VMS_PER_TENANT, ApiKey, Role, Tenant


class TenantForm(forms.ModelForm):
    class Meta:
        formfield_callback = formfield_with_bounds
        model = Tenant
        fields = ["name", "description", "max_vms", "is_active"]
        labels = {"max_vms": "quota: VMs at once", "is_active": "active"}
        error_messages = {"max_vms": {"max_value": f"At most {MAX_VMS_PER_TENANT} VMs."}}


class PlanForm(forms.ModelForm):
    class Meta:
        formfield_callback = formfield_with_bounds
        model = Plan
        fields = ["name", "description", "kind", "vcpus", "memory_mb", "disk_gb", "is_active"]


class MemberForm(forms.Form):
    """A user (created when the name is new) and the role they get, for a tenant or the
    whole platform."""

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="An existing user, or a new one: their password is shown once.",
    )
    email = forms.EmailField(required=False, help_text="For a new user only.")
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.all(),
        required=False,
        empty_label="— none: the whole platform",
        help_text="Tenant users need one; administrators and operators have none; "
        "read-only without a tenant is an auditor.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.TENANT_USER)


class ApiKeyForm(forms.Form):
    """A tenant key (tenant user or read-only) or, for administrators, a user key."""

    name = forms.CharField(max_length=63, help_text="What uses it, e.g. billing.")
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none(), required=False)
    role = forms.ChoiceField(
        choices=ApiKey.TENANT_KEY_ROLES_CHOICES,
        initial=Role.TENANT_USER,
        help_text="What a tenant key may do: order and manage VMs, or only read.",
    )
    user = forms.CharField(
        max_length=150,
        required=False,
        label="or a user",
        help_text="A user key acts as this user, with their roles (leave the tenant empty).",
    )

    def __init__(self, *args, tenants, user_keys: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_keys = user_keys
        self.fields["tenant"].queryset = tenants
        if user_keys:
            self.fields["tenant"].empty_label = "— none: a user key"
        else:
            del self.fields["user"]
            self.fields["tenant"].required = True
            self.fields["tenant"].empty_label = None

    def clean(self):
        data = super().clean()
        if not self.user_keys or self.errors:
            return data
        if data.get("tenant") and data.get("user"):
            self.add_error("user", "A key is for a tenant or for a user, not both.")
        elif not data.get("tenant") and not data.get("user"):
            self.add_error("tenant", "Choose the tenant the key acts for (or give a user).")
        return data
