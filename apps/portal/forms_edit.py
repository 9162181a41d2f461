"""Edit forms for a cluster and its devices after creation.

Each is the create form (same model validation, same bounds, AS numbers plain or asdot)
without the fields the API makes create-only, and without the management access fields
(the API's `admin_only_fields`) for anyone but an administrator. A secret left empty keeps
the stored one. A create-only field sent anyway with a new value is refused, naming it,
as the API does.
"""

from django import forms

from apps.api.serializers import CREATE_ONLY
from apps.fabric.api.serializers import (
    BorderGatewaySerializer,
    ClusterSerializer,
    NodeSerializer,
    RouteReflectorSerializer,
)
from apps.portal.forms import (
    SECRET_FIELDS,
    BorderGatewayForm,
    ClusterForm,
    NodeForm,
    RouteReflectorForm,
)

MANAGEMENT_ACCESS = "Only an administrator can change management access."


class BlankTextarea(forms.Textarea):
    """A textarea that never renders a value: for a private key."""

    def format_value(self, value):
        return None


def blank_widget(widget: forms.Widget) -> forms.Widget:
    """`widget`, made unable to render the secret back (a password input already is)."""
    if isinstance(widget, forms.Textarea):
        return BlankTextarea(attrs=widget.attrs)
    return widget


def editable_fields(form_class: type[forms.ModelForm], serializer_class) -> list[str]:
    """The create form's fields but the API's create-only ones."""
    create_only = getattr(serializer_class.Meta, "create_only_fields", ())
    return [name for name in form_class._meta.fields if name not in create_only]


class EditFormMixin:
    """See the module docstring. `admin`: the user may change management access."""

    serializer_class = ClusterSerializer

    def __init__(self, *args, admin: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.admin = admin
        if not admin:
            for name in self.admin_only_fields():
                self.fields.pop(name, None)
        for name in SECRET_FIELDS:
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = "Empty: keep the stored one."
                self.fields[name].widget = blank_widget(self.fields[name].widget)

    @classmethod
    def admin_only_fields(cls) -> tuple[str, ...]:
        return tuple(getattr(cls.serializer_class.Meta, "admin_only_fields", ()))

    @classmethod
    def create_only_fields(cls) -> tuple[str, ...]:
        return tuple(getattr(cls.serializer_class.Meta, "create_only_fields", ()))

    def fixed_fields(self) -> list[tuple[str, object]]:
        """(label, value) of the create-only fields, shown beside the form."""
        opts = self.instance._meta
        return [
            (opts.get_field(name).verbose_name, getattr(self.instance, name))
            for name in self.create_only_fields()
        ]

    def clean(self):
        data = super().clean()
        for name in SECRET_FIELDS:
            if name in self.fields and not data.get(name):
                data[name] = getattr(self.instance, name)
        for name in self.create_only_fields():
            field = self.instance._meta.get_field(name)
            given = self.data.get(name)
            current = getattr(self.instance, field.attname)
            if given is not None and str(given) != str(current):
                self.add_error(None, f"{field.verbose_name}: {CREATE_ONLY}")
        for name in () if self.admin else self.admin_only_fields():
            given = self.data.get(name)
            if given not in (None, "") and str(given) != str(getattr(self.instance, name)):
                label = self.instance._meta.get_field(name).verbose_name
                self.add_error(None, f"{label}: {MANAGEMENT_ACCESS}")
        return data

    def values(self) -> dict:
        """The record's fields as the form set them (normalised by the model's `clean`)."""
        return {name: getattr(self.instance, name) for name in self.fields}


class ClusterEditForm(EditFormMixin, ClusterForm):
    serializer_class = ClusterSerializer

    class Meta(ClusterForm.Meta):
        fields = editable_fields(ClusterForm, ClusterSerializer)


class RouteReflectorEditForm(EditFormMixin, RouteReflectorForm):
    serializer_class = RouteReflectorSerializer

    class Meta(RouteReflectorForm.Meta):
        fields = editable_fields(RouteReflectorForm, RouteReflectorSerializer)


class NodeEditForm(EditFormMixin, NodeForm):
    serializer_class = NodeSerializer

    class Meta(NodeForm.Meta):
        fields = editable_fields(NodeForm, NodeSerializer)


class BorderGatewayEditForm(EditFormMixin, BorderGatewayForm):
    """Peer AS left empty: the cluster's AS (iBGP), as when it was created."""

    serializer_class = BorderGatewaySerializer

    class Meta(BorderGatewayForm.Meta):
        fields = editable_fields(BorderGatewayForm, BorderGatewaySerializer)
