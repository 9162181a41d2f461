"""Administration pages: tenants (with their quota), plans, memberships and API keys, so that a
fresh install is run from the portal without the Django admin.

Who: platform roles read tenants, memberships and plans; admins write tenants and
memberships, admins and operators write plans (the API's rules). API keys: everyone sees the
keys of their scope; admins make and revoke any key, tenant users their tenants' keys.
Another tenant's key answers 404. Writes go through the tenancy and compute services.
Secrets (a key, a new user's password) are in the answer to the POST only, never stored."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.text import capfirst
from django.views.generic import DetailView, TemplateView

from apps.api.access import TENANT_USER
from apps.compute.filtersets import PlanFilterSet
from apps.compute.models import Plan, VirtualMachine
from apps.compute.services import plan_create, plan_update
from apps.portal.forms import add_errors
from apps.portal.forms_admin import ApiKeyForm, MemberForm, PlanForm, TenantForm
from apps.portal.permissions import SAFE_METHODS, OperatorPageMixin, PortalMixin, portal_roles
from apps.portal.views import ChangesMixin, FilteredListView
from apps.tenancy.filtersets import ApiKeyFilterSet, MembershipFilterSet, TenantFilterSet
from apps.tenancy.models import ApiKey, Membership, Tenant
from apps.tenancy.services import (
    api_key_create,
    api_key_revoke,
    member_invite,
    membership_remove,
    tenant_create,
    tenant_update,
)

# Boolean filters shown as states: "true"/"false" are what the filterset's field reads.
ACTIVE_CHOICES = [("true", "active"), ("false", "suspended")]
KEY_STATES = [("false", "active"), ("true", "revoked")]


def vms_not_deleted(*, distinct: bool = False) -> Count:
    """The count of a tenant's or a plan's VMs that are not deleted (an annotation)."""
    return Count(
        "virtual_machines",
        filter=~Q(virtual_machines__state=VirtualMachine.State.DELETED),
        distinct=distinct,
    )


def tenant_choices(tenants) -> list[tuple[str, str]]:
    return [(str(pk), name) for pk, name in tenants.values_list("pk", "name")]


class AdminWritesMixin:
    """Put before a platform page mixin: acting (POST, or a form page) needs an admin."""

    admin_message = "Only an administrator manages tenants and memberships."

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            roles = portal_roles(request)
            acting = request.method not in SAFE_METHODS or getattr(self, "form_page", False)
            if acting and roles.is_platform and not roles.can_administer:
                raise PermissionDenied(self.admin_message)
        return super().dispatch(request, *args, **kwargs)


def secret_response(response):
    """An answer that shows a secret: never cached, never kept by the browser."""
    add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private
    return response


class ModelFormPage:
    """A create (`pk` absent) or edit page for one model form, saved through a service.
    (A mixin put before the permission mixins: its `form_page` must win.)"""

    form_page = True
    form_class = None
    model = None

    def get_object(self):
        pk = self.kwargs.get("pk")
        return get_object_or_404(self.model, pk=pk) if pk is not None else None

    def get(self, request, pk=None):
        form = self.form_class(instance=self.get_object())
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request, pk=None):
        instance = self.get_object()
        form = self.form_class(request.POST, instance=instance)
        if form.is_valid():
            try:
                saved = self.save(instance, form.cleaned_data)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                label = capfirst(self.model._meta.verbose_name)
                messages.success(request, f"{label} {saved} {'saved' if instance else 'created'}.")
                return redirect(self.success_url(saved, created=instance is None))
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # as stored: a refused edit has already changed the form's instance in memory
        context["object"] = self.get_object()
        return context


# --- tenants -------------------------------------------------------------------------------------


class TenantListView(AdminWritesMixin, OperatorPageMixin, FilteredListView):
    template_name = "portal/tenant_list.html"
    filterset_class = TenantFilterSet
    filter_labels = {"is_active": "state"}

    def filter_choices(self):
        return {"is_active": ACTIVE_CHOICES}

    def get_queryset(self):
        tenants = Tenant.objects.annotate(
            vm_count=vms_not_deleted(distinct=True),
            member_count=Count("memberships", distinct=True),
        )
        return self.filtered(tenants.order_by("name"))


class TenantFormView(ModelFormPage, AdminWritesMixin, OperatorPageMixin, TemplateView):
    template_name = "portal/tenant_form.html"
    form_class = TenantForm
    model = Tenant

    def save(self, instance, data):
        return tenant_update(instance, **data) if instance else tenant_create(**data)

    def success_url(self, tenant, *, created: bool) -> str:
        url = reverse("portal:tenant", args=[tenant.pk])
        return f"{url}?created=1" if created else url


class TenantDetailView(ChangesMixin, AdminWritesMixin, OperatorPageMixin, DetailView):
    template_name = "portal/tenant_detail.html"
    model = Tenant
    context_object_name = "tenant"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        tenant = self.object
        keys = list(tenant.api_keys.select_related("created_by").order_by("-created", "-id"))
        for key in keys:
            key.may_revoke = key.revoked_at is None and self.roles.can_administer
        context.update(
            vm_count=tenant.virtual_machines.exclude(state=VirtualMachine.State.DELETED).count(),
            memberships=tenant.memberships.select_related("user").order_by("user__username"),
            api_keys=keys,
            may_make_keys=self.roles.can_administer,
            just_created=self.request.GET.get("created") == "1",
        )
        return context


# --- memberships ---------------------------------------------------------------------------------


class MembershipListView(AdminWritesMixin, OperatorPageMixin, FilteredListView):
    template_name = "portal/membership_list.html"
    filterset_class = MembershipFilterSet
    filter_labels = {"role": "role", "tenant": "tenant"}

    def filter_choices(self):
        return {"tenant": tenant_choices(Tenant.objects.all())}

    def get_queryset(self):
        memberships = Membership.objects.select_related("user", "tenant")
        return self.filtered(memberships.order_by("user__username", "tenant__name"))


class MembershipCreateView(AdminWritesMixin, OperatorPageMixin, TemplateView):
    """Add a user to a tenant (or the platform) with a role; a new user's password is shown
    on the answer, once."""

    template_name = "portal/membership_form.html"
    form_page = True

    def get(self, request):
        tenant = request.GET.get("tenant", "")
        initial = {"tenant": tenant} if tenant.isdigit() else {}
        return self.render_to_response(self.get_context_data(form=MemberForm(initial=initial)))

    def post(self, request):
        form = MemberForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                membership, password = member_invite(
                    username=data["username"],
                    role=data["role"],
                    tenant=data["tenant"],
                    email=data["email"],
                )
            except ValidationError as exc:
                add_errors(form, exc, field_map={"user": "username"})
            else:
                context = self.get_context_data(membership=membership, password=password)
                response = self.response_class(
                    request, ["portal/membership_added.html"], context, using=self.template_engine
                )
                return secret_response(response)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class MembershipRemoveView(AdminWritesMixin, OperatorPageMixin, TemplateView):
    """Confirm, then remove a membership (the tenant keys the user made for it are revoked)."""

    template_name = "portal/membership_remove.html"
    form_page = True

    def get_membership(self, pk) -> Membership:
        return get_object_or_404(Membership.objects.select_related("user", "tenant"), pk=pk)

    def context(self, membership, error=""):
        user_id = membership.user_id
        last = not Membership.objects.filter(user_id=user_id).exclude(pk=membership.pk).exists()
        keys = ApiKey.objects.filter(revoked_at__isnull=True)
        if last and not membership.user.is_superuser:
            revoked = keys.filter(Q(user_id=user_id) | Q(created_by_id=user_id))
        elif membership.tenant_id:
            revoked = keys.filter(tenant_id=membership.tenant_id, created_by_id=user_id)
        else:
            revoked = keys.none()
        return self.get_context_data(
            membership=membership, last=last, keys_revoked=revoked.count(), error=error
        )

    def back(self, membership):
        if membership.tenant_id:
            return redirect("portal:tenant", membership.tenant_id)
        return redirect("portal:memberships")

    def get(self, request, pk):
        return self.render_to_response(self.context(self.get_membership(pk)))

    def post(self, request, pk):
        membership = self.get_membership(pk)
        try:
            membership_remove(membership=membership, by=request.user)
        except ValidationError as exc:
            return self.render_to_response(
                self.context(membership, " ".join(exc.messages)), status=400
            )
        messages.success(request, f"{membership.user} is no longer a member.")
        return self.back(membership)


# --- plans ---------------------------------------------------------------------------------------


class PlanListView(OperatorPageMixin, FilteredListView):
    template_name = "portal/plan_list.html"
    filterset_class = PlanFilterSet
    filter_labels = {"is_active": "state"}

    def filter_choices(self):
        return {"is_active": ACTIVE_CHOICES}

    def get_queryset(self):
        plans = Plan.objects.annotate(vm_count=vms_not_deleted())
        return self.filtered(plans.order_by("kind", "vcpus", "memory_mb", "name"))


class PlanFormView(ModelFormPage, OperatorPageMixin, TemplateView):
    template_name = "portal/plan_form.html"
    form_class = PlanForm
    model = Plan

    def save(self, instance, data):
        return plan_update(instance, **data) if instance else plan_create(**data)

    def success_url(self, plan, *, created: bool) -> str:
        return reverse("portal:plans")


# --- API keys ------------------------------------------------------------------------------------


class ApiKeyAccessMixin(PortalMixin):
    """The keys of the user's scope; making and revoking: admins, and tenant users for
    their tenants."""

    def key_tenant_ids(self) -> list[int]:
        return self.roles.access.tenant_ids(frozenset({TENANT_USER}))

    def may_make_keys(self) -> bool:
        return self.roles.can_administer or bool(self.key_tenant_ids())

    def may_manage(self, key: ApiKey) -> bool:
        return self.roles.can_administer or (
            key.tenant_id is not None and key.tenant_id in self.key_tenant_ids()
        )

    def visible_keys(self):
        keys = ApiKey.objects.select_related("tenant", "user", "created_by")
        if self.roles.is_platform:
            return keys
        return keys.filter(
            Q(tenant_id__in=self.roles.access.tenant_ids()) | Q(user=self.request.user)
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["may_make_keys"] = self.may_make_keys()
        return context


class ApiKeyListView(ApiKeyAccessMixin, FilteredListView):
    template_name = "portal/api_key_list.html"
    filterset_class = ApiKeyFilterSet
    filter_labels = {"revoked": "state", "tenant": "tenant"}

    def filter_choices(self):
        return {
            "revoked": KEY_STATES,
            "tenant": tenant_choices(self.roles.scope(Tenant.objects.all(), "pk")),
        }

    def get_queryset(self):
        return self.filtered(self.visible_keys().order_by("-created", "-id"))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for key in context["object_list"]:
            key.may_revoke = key.revoked_at is None and self.may_manage(key)
        return context


class ApiKeyCreateView(ApiKeyAccessMixin, TemplateView):
    """Make a key; the answer shows its secret, this once (only its hash is stored)."""

    template_name = "portal/api_key_form.html"
    form_page = True

    def get_form(self, data=None, initial=None) -> ApiKeyForm:
        if not self.may_make_keys():
            raise PermissionDenied("Your role may not make API keys.")
        if self.roles.can_administer:
            tenants = Tenant.objects.all()
        else:
            tenants = Tenant.objects.filter(pk__in=self.key_tenant_ids())
        return ApiKeyForm(
            data, initial=initial, tenants=tenants, user_keys=self.roles.can_administer
        )

    def get(self, request):
        tenant = request.GET.get("tenant", "")
        initial = {"tenant": tenant} if tenant.isdigit() else {}
        return self.render_to_response(self.get_context_data(form=self.get_form(initial=initial)))

    def post(self, request):
        form = self.get_form(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            user = None
            if username := data.get("user"):
                user = get_user_model().objects.filter(username=username).first()
                if user is None:
                    form.add_error("user", f"There is no user {username}.")
            if not form.errors:
                try:
                    key, secret = api_key_create(
                        name=data["name"],
                        user=user,
                        tenant=data["tenant"],
                        role="" if user else data["role"],
                        created_by=request.user,
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    context = self.get_context_data(api_key=key, secret=secret)
                    response = self.response_class(
                        request, ["portal/api_key_created.html"], context,
                        using=self.template_engine,
                    )  # fmt: skip
                    return secret_response(response)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ApiKeyRevokeView(ApiKeyAccessMixin, TemplateView):
    """Confirm, then revoke: the key is refused from then on; the record stays."""

    template_name = "portal/api_key_revoke.html"
    form_page = True

    def get_key(self, pk) -> ApiKey:
        key = get_object_or_404(self.visible_keys(), pk=pk)
        if not self.may_manage(key):
            raise PermissionDenied("Your role may not revoke this key.")
        return key

    def get(self, request, pk):
        return self.render_to_response(self.get_context_data(api_key=self.get_key(pk)))

    def post(self, request, pk):
        key = self.get_key(pk)
        api_key_revoke(api_key=key)
        messages.success(request, f"API key {key} revoked: it is refused from now on.")
        return redirect("portal:api_keys")
