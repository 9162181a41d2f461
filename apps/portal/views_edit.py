"""Edit pages for a cluster, a route reflector, a node and a border gateway.

A submitted change is validated by the edit form (the model's `full_clean()`, as the API's
update). One that changes a device config is shown first: the unified diff of every config
it touches (apps/fabric/edits.py renders them before and after the change, in a rolled
back transaction) and the jobs that will carry it; the confirmation saves it through the
update service and queues them, unless the configs changed in between (then the new diff
is shown). A change with no effect on any device is saved at once.

The form's values travel to the confirmation as hidden inputs; secrets sealed with the
field encryption key, never in clear in the page.
"""

from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView

from apps.core.fields import decrypt, encrypt
from apps.fabric import services
from apps.fabric.edits import (
    ConfigsChanged,
    changed_fields,
    cluster_of,
    config_edit_apply,
    config_edit_preview,
)
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.jobs import registry
from apps.portal.forms import SECRET_FIELDS, add_errors
from apps.portal.forms_edit import (
    BorderGatewayEditForm,
    ClusterEditForm,
    NodeEditForm,
    RouteReflectorEditForm,
)
from apps.portal.permissions import OperatorPageMixin, portal_roles

SEALED = "sealed-"
SYNC_STEPS = {
    "cluster_provision": "every route reflector's bird.conf (birdc configure: established "
    "sessions are kept), every serving node's bird.conf, then the border gateway (commit "
    "check, commit confirmed, verify, commit)",
    "border_gateway_sync": "load, commit check, commit confirmed, verify the sessions and "
    "prefixes, commit; a failed verification rolls back",
    "reconcile": "every node's packet filter and running VMs' networks compared with the "
    "database and repaired",
}
NO_CHANGE = "Nothing changed: every value is the one already saved."


def unsealed(post) -> dict:
    """The POSTed values; a secret left empty takes its sealed copy from the confirmation
    page (a copy that does not decrypt is dropped: the stored secret is kept)."""
    data = {key: post.get(key) for key in post if not key.startswith(SEALED)}
    for name in SECRET_FIELDS:
        sealed = post.get(SEALED + name)
        if sealed and not data.get(name):
            try:
                data[name] = decrypt(sealed)
            except ImproperlyConfigured:
                pass
    return data


def hidden_inputs(form) -> list[tuple[str, str]]:
    """The form's submitted values as (name, value) for hidden inputs; secrets sealed."""
    inputs = []
    for name in form.fields:
        value = form.data.get(name) or ""
        if name in SECRET_FIELDS:
            if value:
                inputs.append((SEALED + name, encrypt(value)))
        else:
            inputs.append((name, value))
    return inputs


def change_rows(instance, changes: dict) -> list[tuple[str, object, object]]:
    """(label, saved value, new value) per changed field; secrets not shown."""
    stored = type(instance).objects.get(pk=instance.pk)
    rows = []
    for name, value in changes.items():
        label = instance._meta.get_field(name).verbose_name
        if name in SECRET_FIELDS:
            rows.append((label, "(set)" if getattr(stored, name) else None, "(replaced)"))
        else:
            rows.append((label, getattr(stored, name), value))
    return rows


class EditView(OperatorPageMixin, TemplateView):
    """GET: the form. POST: validate; then save (no device effect) or show the diff; POST
    with `confirm`: save and queue the syncs. Admins and operators (operators without the
    management access fields); auditors 403; tenants 404: they see nothing of the fabric."""

    form_page = True
    template_name = "portal/edit_form.html"
    confirm_template_name = "portal/edit_confirm.html"
    model: type = Cluster
    form_class: type = ClusterEditForm
    noun = "cluster"
    detail_url = "portal:cluster"

    def update(self, instance, **changes):
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            roles = portal_roles(request)
            if roles.has_any_role and not roles.is_platform:
                raise Http404("No such page.")
        return super().dispatch(request, *args, **kwargs)

    def get_object(self):
        queryset = self.model.objects.all()
        if self.model is not Cluster:
            queryset = queryset.select_related("cluster")
        return get_object_or_404(queryset, pk=self.kwargs["pk"])

    def form_kwargs(self, instance) -> dict:
        return {}

    def get_form(self, data=None):
        instance = self.get_object()  # its own copy: the form changes it while validating
        return self.form_class(
            data, instance=instance, admin=self.roles.can_administer, **self.form_kwargs(instance)
        )

    def page(self, obj, form, *, status: int = 200, notice: str = "", keep_secrets=False):
        """The form; `keep_secrets`: secrets typed before travel on, sealed (back from the
        confirmation)."""
        sealed = [i for i in hidden_inputs(form) if i[0].startswith(SEALED)] if keep_secrets else []
        context = self.get_context_data(
            object=obj, form=form, noun=self.noun, detail_url=self.detail_url, notice=notice,
            fixed=form.fixed_fields(), sealed=sealed,
            management_hidden=bool(set(form.admin_only_fields()) - set(form.fields)),
        )  # fmt: skip
        return self.render_to_response(context, status=status)

    def confirm_page(self, obj, form, edit, *, status: int = 200, changed_since: bool = False):
        context = self.get_context_data(
            object=obj, form=form, noun=self.noun, detail_url=self.detail_url, edit=edit,
            changes=change_rows(obj, edit.changes), hidden=hidden_inputs(form),
            syncs=[(registry.get(kind).label, SYNC_STEPS[kind]) for kind in edit.syncs],
            changed_since=changed_since, cluster_id=cluster_of(obj).pk,
        )  # fmt: skip
        return self.response_class(
            request=self.request, template=[self.confirm_template_name], context=context,
            using=self.template_engine, status=status,
        )  # fmt: skip

    def get(self, request, pk):
        return self.page(self.get_object(), self.get_form())

    def post(self, request, pk):
        obj = self.get_object()
        form = self.get_form(unsealed(request.POST))
        if "back" in request.POST:
            return self.page(obj, form, keep_secrets=True)
        if not form.is_valid():
            return self.page(obj, form, status=400)
        changes = changed_fields(obj, form.values())
        if not changes:
            return self.page(obj, form, notice=NO_CHANGE)
        try:
            return self.submit(obj, form, changes)
        except ValidationError as exc:
            add_errors(form, exc)
            return self.page(obj, form, status=400)

    def submit(self, obj, form, changes: dict):
        """Confirmed: save and queue. Else: the diff, or a save at once when the change
        does nothing to any device."""
        if self.request.POST.get("confirm") == "yes":
            try:
                return self.saved(obj, self.apply(obj, changes, self.request.POST.get("digest")))
            except ConfigsChanged:
                edit = config_edit_preview(instance=obj, update=self.update, changes=changes)
                return self.confirm_page(obj, form, edit, status=409, changed_since=True)
        edit = config_edit_preview(instance=obj, update=self.update, changes=changes)
        if not edit.has_device_effect:
            return self.saved(obj, self.apply(obj, changes, None))
        return self.confirm_page(obj, form, edit)

    def apply(self, obj, changes: dict, digest: str | None):
        return config_edit_apply(instance=obj, update=self.update, changes=changes,
                                 digest=digest, created_by=self.request.user)  # fmt: skip

    def saved(self, obj, edit):
        what = f"{self.noun.capitalize()} {getattr(obj, 'name', obj)} saved"
        if edit.jobs:
            queued = ", ".join(f"{job.get_kind_display()} #{job.pk}" for job in edit.jobs)
            messages.success(self.request, f"{what}. Queued: {queued}.")
            return redirect("portal:job", edit.jobs[0].pk)
        if edit.diffs:
            messages.success(self.request, f"{what}; the devices get the new configuration at "
                             "the cluster's first provisioning.")  # fmt: skip
        else:
            messages.success(self.request, f"{what}: no device configuration changes.")
        return redirect(self.detail_url, obj.pk)


class ClusterEditView(EditView):
    model = Cluster
    form_class = ClusterEditForm
    noun = "cluster"
    detail_url = "portal:cluster"

    def update(self, instance, **changes):
        return services.cluster_update(instance, **changes)


class RouteReflectorEditView(EditView):
    model = RouteReflector
    form_class = RouteReflectorEditForm
    noun = "route reflector"
    detail_url = "portal:rr"

    def update(self, instance, **changes):
        return services.route_reflector_update(instance, **changes)


class NodeEditView(EditView):
    model = Node
    form_class = NodeEditForm
    noun = "node"
    detail_url = "portal:node"

    def update(self, instance, **changes):
        return services.node_update(instance, **changes)


class BorderGatewayEditView(EditView):
    model = BorderGateway
    form_class = BorderGatewayEditForm
    noun = "border gateway"
    detail_url = "portal:bgw"

    def form_kwargs(self, instance) -> dict:
        return {"default_asn": instance.cluster.bgp_asn}

    def update(self, instance, **changes):
        return services.border_gateway_update(instance, **changes)
