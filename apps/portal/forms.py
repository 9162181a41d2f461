"""Portal forms. Model forms validate with the model's `full_clean()`, so the errors the
portal shows next to a field are the ones the services would raise."""

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.compute.models import Plan
from apps.core.validators import parse_asn
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.ipam.models import IPPool, Network
from apps.tenancy.models import Tenant

SECRET_FIELDS = ("password", "ssh_password", "ssh_private_key")
DEVICE_FIELDS = [
    "ssh_host",
    "ssh_port",
    "ssh_username",
    "ssh_password",
    "ssh_private_key",
    "ssh_host_key",
    "bird_config_path",
    "bird_socket_path",
]


def add_errors(form: forms.Form, exc: ValidationError, *, field_map: dict | None = None) -> None:
    """Show a service's ValidationError on the form: next to its field, or at the top."""
    field_map = field_map or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, messages in exc.message_dict.items():
        target = field_map.get(field, field)
        form.add_error(target if target in form.fields else None, messages)


def formfield_with_bounds(model_field: models.Field, **kwargs) -> forms.Field | None:
    """The model field's form field; a number gets the tightest min and max of the model's
    validators, so the input's min/max attributes and its one message say what the model
    accepts (not 0 for a PositiveIntegerField that must be at least 1)."""
    if isinstance(model_field, models.IntegerField) and not model_field.choices:
        lows = [v.limit_value for v in model_field.validators if type(v) is MinValueValidator]
        highs = [v.limit_value for v in model_field.validators if type(v) is MaxValueValidator]
        if lows:
            kwargs.setdefault("min_value", max(lows))
        if highs:
            kwargs.setdefault("max_value", min(highs))
    return model_field.formfield(**kwargs)


class AsnFormField(forms.Field):
    """An AS number typed plain (64512) or asdot (1.10); one message when it is not one."""

    widget = forms.TextInput

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Plain (e.g. 64512) or asdot (e.g. 1.10).")
        super().__init__(**kwargs)

    def to_python(self, value):
        value = str(value).strip() if value is not None else ""
        return parse_asn(value) if value else None


class SecretsMixin:
    """Secret inputs are never rendered back into the page (password widgets, empty)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            if name in self.fields:
                field = self.fields[name]
                field.strip = False  # a key's final newline, a password's spaces
                if name.endswith("private_key"):
                    field.widget = forms.Textarea(
                        attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}
                    )
                else:
                    field.widget = forms.PasswordInput(attrs={"autocomplete": "new-password"})


# --- cluster wizard ------------------------------------------------------------------------------


class ClusterForm(forms.ModelForm):
    bgp_asn = AsnFormField(label="BGP AS number")

    class Meta:
        formfield_callback = formfield_with_bounds
        model = Cluster
        fields = [
            "name",
            "description",
            "virtualization",
            "bgp_asn",
            "bgp_community",
            "gateway_ipv4",
            "gateway_ipv6",
            "gateway_mac",
            "commit_confirm_minutes",
        ]


class BorderGatewayForm(SecretsMixin, forms.ModelForm):
    """The cluster's Juniper. The peer AS defaults to the cluster's (iBGP, as the article)."""

    peer_asn = AsnFormField(label="peer AS", required=False)

    class Meta:
        formfield_callback = formfield_with_bounds
        model = BorderGateway
        fields = [
            "name",
            "peering_ip",
            "peer_asn",
            "bgp_group",
            "policy_name",
            "mgmt_host",
            "mgmt_port",
            "username",
            "password",
            "ssh_private_key",
            "ssh_host_key",
        ]

    def __init__(self, *args, default_asn: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_asn = default_asn
        self.fields["peer_asn"].help_text = "Empty: the cluster's AS (iBGP). Plain or asdot."

    def clean_peer_asn(self):
        value = self.cleaned_data.get("peer_asn")
        return value if value is not None else self.default_asn


class RouteReflectorForm(SecretsMixin, forms.ModelForm):
    class Meta:
        formfield_callback = formfield_with_bounds
        model = RouteReflector
        fields = ["name", "peering_ip", "description", *DEVICE_FIELDS]


class NetworksForm(forms.Form):
    """The cluster's public networks and the pools VM addresses come from."""

    ipv4_prefix = forms.CharField(label="IPv4 network", help_text="e.g. 203.0.113.0/24")
    ipv4_pool_name = forms.CharField(label="IPv4 pool name", initial="v4")
    ipv4_first = forms.GenericIPAddressField(label="first address", protocol="IPv4")
    ipv4_last = forms.GenericIPAddressField(label="last address", protocol="IPv4")
    ipv4_excluded = forms.CharField(
        label="excluded", required=False, help_text="Addresses or ranges a-b, comma-separated."
    )
    ipv6_prefix = forms.CharField(
        label="IPv6 network", required=False, help_text="Optional, e.g. 2001:db8:100::/48"
    )
    ipv6_pool_name = forms.CharField(label="IPv6 pool name", initial="v6", required=False)
    ipv6_first = forms.GenericIPAddressField(label="first address", protocol="IPv6", required=False)
    ipv6_last = forms.GenericIPAddressField(label="last address", protocol="IPv6", required=False)

    def clean(self):
        data = super().clean()
        if data.get("ipv6_prefix"):
            for field in ("ipv6_pool_name", "ipv6_first", "ipv6_last"):
                if not data.get(field) and field not in self.errors:
                    self.add_error(field, "Needed with an IPv6 network.")
        return data

    def families(self) -> list[str]:
        return ["ipv4", "ipv6"] if self.cleaned_data.get("ipv6_prefix") else ["ipv4"]

    def records(self, cluster: Cluster) -> list[tuple[str, Network, IPPool]]:
        """(family key, unsaved network, unsaved pool) for each family given."""
        data, records = self.cleaned_data, []
        for family in self.families():
            network = Network(cluster=cluster, prefix=data[f"{family}_prefix"].strip())
            pool = IPPool(
                network=network,
                name=data[f"{family}_pool_name"],
                first_address=data[f"{family}_first"],
                last_address=data[f"{family}_last"],
                excluded=data.get(f"{family}_excluded", "") or "",
            )
            records.append((family, network, pool))
        return records

    def prefixes(self) -> list[str]:
        return [self.cleaned_data[f"{family}_prefix"].strip() for family in self.families()]


# --- devices of an existing cluster ---------------------------------------------------------------


class NodeForm(SecretsMixin, forms.ModelForm):
    class Meta:
        formfield_callback = formfield_with_bounds
        model = Node
        fields = [
            "name",
            "underlay_ip",
            "hypervisor",
            "hypervisor_options",
            "persist_host_config",
            "vcpus",
            "memory_mb",
            "disk_gb",
            "description",
            *DEVICE_FIELDS,
        ]

    def clean_hypervisor_options(self):
        return self.cleaned_data.get("hypervisor_options") or {}  # left empty: no options


class ConfirmForm(forms.Form):
    """A confirmation that must repeat the object's name."""

    confirm = forms.CharField(label="Type the name to confirm")

    def __init__(self, *args, expected: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value != self.expected:
            raise ValidationError(f'Type "{self.expected}" exactly to confirm.')
        return value


# --- tenant self-service ------------------------------------------------------------------------


class VmOrderForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none(), empty_label=None)
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), empty_label="Choose a plan")
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.none(), empty_label="Choose a location", label="Location"
    )
    name = forms.CharField(max_length=63, help_text="Letters, digits, dots, dashes, underscores.")
    description = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, tenants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = tenants
        self.only_tenant = tenants[0] if len(tenants) == 1 else None
        if self.only_tenant is not None:
            self.fields["tenant"].initial = self.only_tenant
            self.fields["tenant"].required = False
            self.fields["tenant"].widget = forms.HiddenInput()
        self.fields["plan"].queryset = Plan.objects.filter(is_active=True)
        self.fields["cluster"].queryset = Cluster.objects.filter(state=Cluster.State.READY)
        self.fields["plan"].label_from_instance = plan_label

    @property
    def single_tenant(self) -> bool:
        return self.only_tenant is not None

    def clean_tenant(self):
        return self.cleaned_data.get("tenant") or self.only_tenant


def plan_label(plan: Plan) -> str:
    return (
        f"{plan.name} — {plan.get_kind_display()}: {plan.vcpus} vCPU, "
        f"{plan.memory_mb} MiB RAM, {plan.disk_gb} GiB disk"
    )


class OneOfChoices(forms.Select):
    """A drop-down for a filter that takes several values (`?state=a&state=b` in the API):
    the page picks one, and "any" (the empty choice) is none."""

    def value_from_datadict(self, data, files, name):
        return [value for value in data.getlist(name) if value]


def list_filters(form: forms.Form, labels: dict[str, str], choices: dict) -> list:
    """The drop-downs of a list page: the fields of a filterset's `form` named in `labels`
    (name -> what the page calls it, "any location"), with the field's own choices or, for a
    filter that takes an id, `choices[name]`. Call before the form is validated."""
    shown = []
    for name, label in labels.items():
        field = form.fields[name]
        options = choices.get(name) or [c for c in getattr(field, "choices", []) if c[0] != ""]
        widget = OneOfChoices if isinstance(field, forms.MultipleChoiceField) else forms.Select
        field.widget = widget(choices=[("", f"any {label}"), *options], attrs={"aria-label": label})
        shown.append(form[name])
    return shown
