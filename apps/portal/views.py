"""Portal pages. Thin: read through selectors, write through the services (the same calls the
API makes), permissions from `apps.portal.permissions`. htmx requests for a live page get
only the part that changes (`request.htmx`)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.generic import DetailView, ListView, TemplateView, View

from apps.changes.selectors import history_of
from apps.compute.filtersets import VirtualMachineFilterSet
from apps.compute.models import VirtualMachine
from apps.compute.selectors import vm_list
from apps.compute.services import ClusterNotReady, vm_delete_start, vm_order, vm_power_start
from apps.core.errors import Refused
from apps.core.filtersets import BaseFilterSet
from apps.fabric.filtersets import ClusterFilterSet, NodeFilterSet
from apps.fabric.models import BorderGateway, Cluster, Node, RouteReflector
from apps.fabric.selectors import (
    desired_border_gateway_junos,
    desired_node_bird,
    desired_route_reflector_bird,
    ready_route_reflectors,
    serving_nodes,
)
from apps.fabric.services import (
    border_gateway_preview_start,
    border_gateway_sync_start,
    cluster_provision_start,
    node_create,
    node_drain,
    node_remove_start,
    node_undrain,
    route_reflector_create,
    route_reflector_remove_start,
)
from apps.ipam.services import PoolExhausted
from apps.jobs.filtersets import JobFilterSet
from apps.jobs.models import Job, JobStep
from apps.jobs.selectors import (
    job_list,
    jobs_for,
    last_job_for,
    likely_cause,
    newer_job,
    retry_refusal,
    steps_in_order,
)
from apps.jobs.services import job_acknowledge, job_retry
from apps.portal import selectors, wizard
from apps.portal.first_run import first_run_steps, setup_pending
from apps.portal.forms import (
    ConfirmForm,
    NodeForm,
    RouteReflectorForm,
    VmOrderForm,
    add_errors,
    list_filters,
)
from apps.portal.permissions import OperatorPageMixin, PortalMixin, portal_roles
from apps.portal.topology import cluster_topology
from apps.tenancy.models import Tenant

PAGE_SIZE = 50
NON_FIELD = "__all__"
LIVE_VM_STATES = (
    VirtualMachine.State.ORDERED,
    VirtualMachine.State.PROVISIONING,
    VirtualMachine.State.STOPPING,
    VirtualMachine.State.STARTING,
    VirtualMachine.State.DELETING,
)
TARGET_URLS = {
    Cluster: "portal:cluster",
    Node: "portal:node",
    RouteReflector: "portal:rr",
    BorderGateway: "portal:bgw",
    VirtualMachine: "portal:vm",
}


@login_required
def home(request):
    """Staff land on the dashboard, tenant users on their VMs."""
    roles = portal_roles(request)
    if roles.is_platform:
        return redirect("portal:dashboard")
    if roles.has_any_role:
        return redirect("portal:vms")
    raise PermissionDenied("Your account has no role in the portal yet.")


def target_url(job: Job, roles) -> str | None:
    """Where a job's target is shown to this user (tenants only see their VMs)."""
    if not job.target_type_id:
        return None
    model = ContentType.objects.get_for_id(job.target_type_id).model_class()
    if model not in TARGET_URLS or (model is not VirtualMachine and not roles.is_platform):
        return None
    return reverse(TARGET_URLS[model], args=[job.target_id])


def with_target_urls(jobs, roles) -> list[Job]:
    jobs = list(jobs)
    for job in jobs:
        job.target_url = target_url(job, roles)
    return jobs


class LivePartMixin:
    """A page whose live part htmx polls at the same URL: answers vary on `HX-Request`."""

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        patch_vary_headers(response, ["HX-Request"])
        return response


class FilteredListView(PortalMixin, ListView):
    """A paginated list filtered by its model's filterset (the API's, `filterset_class`) on
    the GET parameters. The page shows the search box (`q`) and a drop-down for each of
    `filter_labels` (filter name -> what it is called on the page)."""

    paginate_by = PAGE_SIZE
    filterset_class: type[BaseFilterSet]
    filter_labels = {"state": "state"}

    def filter_choices(self) -> dict[str, list[tuple[str, str]]]:
        """The choices of the shown filters that take an id (cluster, tenant)."""
        return {}

    def filtered(self, queryset):
        filterset = self.filterset_class(
            self.request.GET,
            queryset=queryset,
            request=self.request,
            sees_all_tenants=self.roles.is_platform,
        )
        self.filter_form = filterset.form
        self.filter_fields = list_filters(filterset.form, self.filter_labels, self.filter_choices())
        return filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(filter_form=self.filter_form, filter_fields=self.filter_fields)
        return context


def cluster_choices() -> list[tuple[str, str]]:
    return [(str(pk), name) for pk, name in Cluster.objects.values_list("pk", "name")]


# --- operator: dashboard and clusters ------------------------------------------------------------


class DashboardView(LivePartMixin, OperatorPageMixin, TemplateView):
    """The fabric at a glance; htmx polls its live part (every 2 s while jobs run)."""

    def get_template_names(self):
        return ["portal/_dashboard_live.html" if self.request.htmx else "portal/dashboard.html"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        counts = selectors.vm_state_counts(VirtualMachine.objects.all())
        total = sum(n for state, _, n in counts if state != VirtualMachine.State.DELETED)
        context.update(
            clusters=selectors.clusters_overview(),
            devices=selectors.devices_needing_attention(),
            pools=selectors.pool_usage(),
            vm_counts=counts,
            vm_total=total,
            failed_jobs=with_target_urls(selectors.failed_jobs_needing_attention(), self.roles),
            running_jobs=selectors.active_job_count(),
        )
        if self.roles.can_administer:
            steps = first_run_steps()
            context["setup_steps"] = steps if setup_pending(steps) else None
        context["live"] = context["running_jobs"] > 0
        return context


class ClusterListView(OperatorPageMixin, FilteredListView):
    template_name = "portal/cluster_list.html"
    filterset_class = ClusterFilterSet

    def get_queryset(self):
        return self.filtered(selectors.clusters_overview())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object_list"] = selectors.with_node_hypervisors(context["object_list"])
        return context


class ChangesMixin:
    """An object page shows the object's change log (templates/portal/_changes.html)."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if not getattr(self.request, "htmx", False):  # not in the polled live parts
            context["changes"] = history_of(self.object, self.roles.access)
        return context


class ClusterDetailView(ChangesMixin, OperatorPageMixin, DetailView):
    template_name = "portal/cluster_detail.html"
    model = Cluster
    context_object_name = "cluster"

    def get_queryset(self):
        return Cluster.objects.select_related("border_gateway")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        cluster = self.object
        selectors.with_node_hypervisors([cluster])
        nodes = selectors.node_list(cluster.nodes.all()).order_by("name")
        context.update(
            route_reflectors=cluster.route_reflectors.order_by("name"),
            nodes=nodes[:PAGE_SIZE],
            node_count=cluster.nodes.count(),
            pools=selectors.pool_usage(cluster),
            border_gateway=BorderGateway.objects.filter(cluster=cluster).first(),
            vm_counts=selectors.vm_state_counts(cluster.virtual_machines.all()),
            jobs=with_target_urls(jobs_for(cluster)[:10], self.roles),
            topology=cluster_topology(cluster),
            refresh_seconds=settings.FABRIC_TOPOLOGY_REFRESH_SECONDS,
        )
        return context


class ClusterTopologyView(OperatorPageMixin, DetailView):
    """The cluster's topology picture alone: what its page polls while open."""

    template_name = "portal/_topology.html"
    model = Cluster
    context_object_name = "cluster"

    def get_queryset(self):
        return Cluster.objects.select_related("border_gateway")

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            topology=cluster_topology(self.object),
            refresh_seconds=settings.FABRIC_TOPOLOGY_REFRESH_SECONDS,
            **kwargs,
        )


class ClusterProvisionView(OperatorPageMixin, View):
    """Queue provisioning again (every RR, then the border gateway)."""

    def post(self, request, pk):
        cluster = get_object_or_404(Cluster, pk=pk)
        try:
            job = cluster_provision_start(cluster=cluster, created_by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("portal:cluster", cluster.pk)
        return redirect("portal:job", job.pk)


class ClusterWizardView(OperatorPageMixin, TemplateView):
    """/clusters/new/<step>/: one step of the wizard; the review creates the cluster."""

    write_requires_admin = True

    form_page = True

    def get_template_names(self):
        step = self.kwargs["step"]
        return ["portal/wizard_review.html" if step == "review" else "portal/wizard_step.html"]

    def dispatch(self, request, *args, **kwargs):
        if kwargs.get("step") not in wizard.STEP_NAMES:
            raise Http404("No such step.")
        return super().dispatch(request, *args, **kwargs)

    def step_context(self, step: str, bound: wizard.Bound, store, **extra):
        index = wizard.STEP_NAMES.index(step)
        return {
            "step": step,
            "step_index": index + 1,
            "steps": [
                {"name": name, "label": label, "number": i + 1, "done": name in store.submitted()}
                for i, (name, label) in enumerate(wizard.STEPS)
            ],
            "step_label": wizard.STEPS[index][1],
            "previous_step": wizard.STEP_NAMES[index - 1] if index else None,
            "forms": bound.step_forms(step) if step != "review" else {},
            "kept_secrets": bool(store.data(step)) if step != "review" else False,
            **extra,
        }

    def get(self, request, step):
        store = wizard.WizardStore(request.session)
        if step == "review":
            return self.review(request, store)
        index = wizard.FORM_STEPS.index(step)
        for earlier in wizard.FORM_STEPS[:index]:
            if store.data(earlier) is None:
                return redirect("portal:cluster_wizard", earlier)
        bound = wizard.Bound()
        for earlier in wizard.FORM_STEPS[:index]:
            wizard.bind_step(earlier, store.data(earlier), bound)
        data = store.data(step)
        wizard.bind_step(step, data, bound)
        if data is not None:
            wizard.validate(bound, upto=step)
        return self.render_to_response(
            self.get_context_data(**self.step_context(step, bound, store))
        )

    def post(self, request, step):
        store = wizard.WizardStore(request.session)
        if step == "review":
            return self.create(request, store)
        data = wizard.submitted_data(step, request.POST, store)
        store.save(step, data)
        bound = wizard.Bound()
        index = wizard.FORM_STEPS.index(step)
        for earlier in wizard.FORM_STEPS[:index]:
            wizard.bind_step(earlier, store.data(earlier) or {}, bound)
        wizard.bind_step(step, data, bound)
        if wizard.validate(bound, upto=step):
            return redirect("portal:cluster_wizard", wizard.STEP_NAMES[index + 1])
        context = self.step_context(
            step, bound, store, invalid_earlier=self.invalid_earlier(bound, step)
        )
        return self.render_to_response(self.get_context_data(**context), status=400)

    @staticmethod
    def invalid_earlier(bound: wizard.Bound, step: str) -> str | None:
        first = bound.first_invalid_step()
        return first if first and first != step else None

    def review(self, request, store, *, status: int = 200):
        bound, missing = wizard.bind_all(store)
        if missing:
            return redirect("portal:cluster_wizard", missing)
        if not wizard.validate(bound, upto=wizard.FORM_STEPS[-1]):
            return redirect("portal:cluster_wizard", bound.first_invalid_step())
        context = self.step_context(
            "review", bound, store, data=wizard.cleaned(bound), previews=wizard.previews(bound)
        )
        return self.render_to_response(self.get_context_data(**context), status=status)

    def create(self, request, store):
        bound, missing = wizard.bind_all(store)
        if missing or not wizard.validate(bound, upto=wizard.FORM_STEPS[-1]):
            return redirect("portal:cluster_wizard", missing or bound.first_invalid_step())
        try:
            cluster, job = wizard.create_cluster(bound, created_by=request.user)
        except ValidationError:
            return redirect("portal:cluster_wizard", bound.first_invalid_step() or "bgp")
        store.clear()
        return redirect("portal:job", job.pk)


class WizardCancelView(OperatorPageMixin, View):
    def post(self, request):
        wizard.WizardStore(request.session).clear()
        return redirect("portal:clusters")


# --- operator: nodes and route reflectors --------------------------------------------------------


class NodeListView(OperatorPageMixin, FilteredListView):
    template_name = "portal/node_list.html"
    filterset_class = NodeFilterSet
    filter_labels = {"state": "state", "cluster": "cluster"}

    def filter_choices(self):
        return {"cluster": cluster_choices()}

    def get_queryset(self):
        nodes = self.filtered(selectors.node_list(Node.objects.all()))
        return nodes.order_by("cluster__name", "name")


class NodeDetailView(ChangesMixin, OperatorPageMixin, DetailView):
    template_name = "portal/node_detail.html"
    model = Node
    context_object_name = "node"

    def get_queryset(self):
        return Node.objects.select_related("cluster")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        node = self.object
        vms = vm_list(node.virtual_machines.exclude(state=VirtualMachine.State.DELETED))
        vms = vms.order_by("name")
        sessions, sessions_step = selectors.node_sessions(node)
        context.update(
            vms=vms[:200],
            vm_count=vms.count(),
            sessions=sessions,
            sessions_step=sessions_step,
            desired_bird=desired_node_bird(node),
            apply_step=selectors.last_node_apply_step(node),
            jobs=with_target_urls(jobs_for(node)[:10], self.roles),
        )
        return context


class NodeDrainView(OperatorPageMixin, View):
    """Drain a ready node (no new VMs) or put a draining one back into service."""

    drain = True

    def post(self, request, pk):
        node = get_object_or_404(Node, pk=pk)
        try:
            (node_drain if self.drain else node_undrain)(node)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, (
                f"Node {node.name} is draining: new VMs go to other nodes, its VMs keep running."
                if self.drain else f"Node {node.name} is back in service."
            ))  # fmt: skip
        return redirect("portal:node", node.pk)


class ClusterChildFormView(OperatorPageMixin, TemplateView):
    """A form that adds a device to a cluster."""

    form_page = True
    form_class = None

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.cluster = None

    def get_cluster(self):
        if self.cluster is None:
            self.cluster = get_object_or_404(Cluster, pk=self.kwargs["pk"])
        return self.cluster

    def get_form(self):
        instance = self.form_class._meta.model(cluster=self.get_cluster())
        data = self.request.POST if self.request.method == "POST" else None
        return self.form_class(data, instance=instance)

    def get(self, request, pk):
        return self.render_to_response(
            self.get_context_data(form=self.get_form(), cluster=self.get_cluster())
        )

    def post(self, request, pk):
        form = self.get_form()
        if form.is_valid():
            try:
                job = self.save(form)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                return redirect("portal:job", job.pk)
        context = self.get_context_data(form=form, cluster=self.get_cluster())
        return self.render_to_response(context, status=400)


class NodeCreateView(ClusterChildFormView):
    """Add a node: queues `node_add`, whose `rr_apply_config` steps regenerate every RR."""

    write_requires_admin = True

    template_name = "portal/node_form.html"
    form_class = NodeForm

    def save(self, form) -> Job:
        node = node_create(created_by=self.request.user, cluster=self.cluster, **form.cleaned_data)
        return last_job_for(node)


class RouteReflectorCreateView(ClusterChildFormView):
    write_requires_admin = True
    """Add an RR and queue the cluster's provisioning, which configures it and adds it to
    the border gateway's neighbors."""

    template_name = "portal/rr_form.html"
    form_class = RouteReflectorForm

    @transaction.atomic
    def save(self, form) -> Job:
        route_reflector_create(
            created_by=self.request.user, cluster=self.cluster, **form.cleaned_data
        )
        return cluster_provision_start(cluster=self.cluster, created_by=self.request.user)


class DeviceRemoveView(OperatorPageMixin, TemplateView):
    """Confirm by typing the device's name, then queue its removal workflow (the service
    refuses what may not be removed: the page shows why, nothing is queued)."""

    form_page = True
    model: type = Node

    def start_removal(self, device, user) -> Job:
        raise NotImplementedError

    def facts(self, device) -> dict:
        """What the page tells about the consequences."""
        return {}

    def context(self, device, form, error=None):
        return self.get_context_data(device=device, form=form, error=error, **self.facts(device))

    def get_device(self, pk):
        return get_object_or_404(self.model.objects.select_related("cluster"), pk=pk)

    def get(self, request, pk):
        device = self.get_device(pk)
        return self.render_to_response(self.context(device, ConfirmForm(expected=device.name)))

    def post(self, request, pk):
        device = self.get_device(pk)
        form = ConfirmForm(request.POST, expected=device.name)
        if form.is_valid():
            try:
                job = self.start_removal(device, request.user)
            except ValidationError as exc:
                return self.render_to_response(
                    self.context(device, form, error=" ".join(exc.messages)), status=400
                )
            return redirect("portal:job", job.pk)
        return self.render_to_response(self.context(device, form), status=400)


class NodeRemoveView(DeviceRemoveView):
    template_name = "portal/node_remove.html"
    model = Node

    def start_removal(self, device, user) -> Job:
        return node_remove_start(node=device, created_by=user)

    def facts(self, device) -> dict:
        vm_count = device.virtual_machines.exclude(state=VirtualMachine.State.DELETED).count()
        return {"vm_count": vm_count}


class RouteReflectorRemoveView(DeviceRemoveView):
    template_name = "portal/rr_remove.html"
    model = RouteReflector

    def start_removal(self, device, user) -> Job:
        return route_reflector_remove_start(rr=device, created_by=user)

    def facts(self, device) -> dict:
        cluster = device.cluster
        others = ready_route_reflectors(cluster).exclude(pk=device.pk)
        return {
            "other_rrs": list(others.values_list("name", flat=True)),
            "serving_nodes": serving_nodes(cluster).count(),
            "border_gateway": BorderGateway.objects.filter(cluster=cluster).first(),
        }


class RouteReflectorDetailView(ChangesMixin, OperatorPageMixin, DetailView):
    template_name = "portal/rr_detail.html"
    model = RouteReflector
    context_object_name = "rr"

    def get_queryset(self):
        return RouteReflector.objects.select_related("cluster")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rr = self.object
        context.update(
            desired_bird=desired_route_reflector_bird(rr),
            apply_steps=selectors.route_reflector_applies(rr),
            sessions=selectors.route_reflector_sessions(rr),
        )
        return context


# --- operator: border gateway --------------------------------------------------------------------


def bgw_preview_context(bgw: BorderGateway, job: Job | None, roles) -> dict:
    desired = desired_border_gateway_junos(bgw)
    compare = selectors.step_output(job, "bgw_compare") if job else None
    return {
        "roles": roles,
        "bgw": bgw,
        "preview_job": job,
        "compare": compare,
        "desired": "\n".join(desired),
        "nothing_to_apply": selectors.dry_run_found_no_difference(job, compare, desired),
    }


class BorderGatewayDetailView(ChangesMixin, OperatorPageMixin, DetailView):
    template_name = "portal/bgw_detail.html"
    model = BorderGateway
    context_object_name = "bgw"

    def get_queryset(self):
        return BorderGateway.objects.select_related("cluster")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        bgw = self.object
        preview = jobs_for(bgw).filter(kind="border_gateway_preview").first()
        context.update(
            history=selectors.border_gateway_history(bgw),
            **bgw_preview_context(bgw, preview, self.roles),
        )
        return context


class BorderGatewayDryRunView(OperatorPageMixin, View):
    """POST queues a dry run (`show | compare`, then discard); GET shows one (htmx polls)."""

    def post(self, request, pk):
        bgw = get_object_or_404(BorderGateway.objects.select_related("cluster"), pk=pk)
        job = border_gateway_preview_start(border_gateway=bgw, created_by=request.user)
        if request.htmx:
            return render(
                request, "portal/_bgw_preview.html", bgw_preview_context(bgw, job, self.roles)
            )
        return redirect("portal:bgw", bgw.pk)

    def get(self, request, pk, job_pk=None):
        if job_pk is None:
            return redirect("portal:bgw", pk)
        bgw = get_object_or_404(BorderGateway.objects.select_related("cluster"), pk=pk)
        job = get_object_or_404(jobs_for(bgw).filter(kind="border_gateway_preview"), pk=job_pk)
        return render(
            request, "portal/_bgw_preview.html", bgw_preview_context(bgw, job, self.roles)
        )


class BorderGatewayApplyView(OperatorPageMixin, TemplateView):
    """Confirm, then queue `border_gateway_sync` (commit check, commit confirmed, verify)."""

    template_name = "portal/bgw_apply.html"
    form_page = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        bgw = get_object_or_404(
            BorderGateway.objects.select_related("cluster"), pk=self.kwargs["pk"]
        )
        preview = jobs_for(bgw).filter(kind="border_gateway_preview").first()
        context.update(bgw_preview_context(bgw, preview, self.roles))
        return context

    def post(self, request, pk):
        bgw = get_object_or_404(BorderGateway, pk=pk)
        job = border_gateway_sync_start(border_gateway=bgw, created_by=request.user)
        return redirect("portal:job", job.pk)


# --- jobs (both audiences) -----------------------------------------------------------------------


class JobListView(LivePartMixin, FilteredListView):
    """Every job the user sees; htmx polls the table (every 2 s while one on it runs)."""

    filterset_class = JobFilterSet
    filter_labels = {"state": "state", "kind": "kind"}

    def get_template_names(self):
        return ["portal/_job_list_live.html" if self.request.htmx else "portal/job_list.html"]

    def get_queryset(self):
        jobs = self.filtered(self.roles.scope(job_list()))
        return jobs.order_by("-created", "-id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object_list"] = with_target_urls(context["object_list"], self.roles)
        context["live"] = any(not job.is_done for job in context["object_list"])
        return context


class JobDetailView(LivePartMixin, PortalMixin, DetailView):
    """A job's steps as they happen; htmx polls the progress part every second until done."""

    model = Job
    context_object_name = "job"

    def get_queryset(self):
        return self.roles.scope(job_list())

    def get_template_names(self):
        return ["portal/_job_progress.html" if self.request.htmx else "portal/job_detail.html"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = self.object
        job.target_url = target_url(job, self.roles)
        steps = list(steps_in_order().filter(job=job))
        context.update(
            steps=steps,
            attempts=sorted({s.attempt for s in steps}),
            failed_step=next((s for s in steps if s.state == JobStep.State.FAILED), None),
            show_output=self.roles.is_platform,
        )
        if job.state == Job.State.FAILED:
            context.update(failure_context(job, self.roles))
        return context


# Kinds whose retry takes something away (a VM, a device, a running guest): Retry asks first.
CONFIRM_RETRY_KINDS = frozenset({"vm_delete", "vm_stop", "node_remove", "route_reflector_remove"})


def failure_context(job: Job, roles) -> dict:
    """What a failed job's page says and offers: the likely cause (platform roles, like the
    error), why it cannot be retried or the Retry button, and Acknowledge (staff)."""
    may_act = roles.can_act_for(job.tenant_id)  # staff: any job; tenant users: their VMs'
    refusal = retry_refusal(job)
    return {
        "cause": likely_cause(job) if roles.is_platform else None,
        "may_act": may_act,
        "newer_job": newer_job(job) if refusal else None,
        "retry_refusal": refusal,
        "can_retry": may_act and not refusal,
        "confirm_retry": job.kind in CONFIRM_RETRY_KINDS,
        "order_again": job.kind == "vm_create" and roles.can_order,
        "can_acknowledge": roles.can_operate and job.acknowledged is None,
    }


class JobActionView(PortalMixin, View):
    """A POST on a job the user sees (others' jobs answer 404); htmx follows HX-Redirect."""

    def get_job(self, pk) -> Job:
        return get_object_or_404(self.roles.scope(Job.objects.all()), pk=pk)

    def go_to(self, request, job: Job):
        url = reverse("portal:job", args=[job.pk])
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


class JobRetryView(JobActionView):
    """A new job of the same kind on the same target, through the kind's start service."""

    def post(self, request, pk):
        job = self.get_job(pk)
        if not self.roles.can_act_for(job.tenant_id):
            raise PermissionDenied("Your role may look at this job but not start it again.")
        try:
            new = job_retry(job=job, created_by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return self.go_to(request, job)
        except Refused as exc:
            messages.error(request, str(exc))
            return self.go_to(request, job)
        return self.go_to(request, new)


class JobAcknowledgeView(JobActionView):
    """Take note of a failure nobody will retry (staff): off the dashboard's list."""

    write_requires_operator = True

    def post(self, request, pk):
        job = self.get_job(pk)
        try:
            job_acknowledge(job=job, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return self.go_to(request, job)


class JobsIndicatorView(OperatorPageMixin, TemplateView):
    """The header's "jobs running" count for staff, polled by htmx (every 3 s while some
    run, every 30 s otherwise)."""

    template_name = "portal/_jobs_indicator.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["jobs_running"] = selectors.active_job_count()
        return context


# --- VMs (tenant self-service; staff see every tenant's) -----------------------------------------


class VmListView(LivePartMixin, FilteredListView):
    """VMs not deleted, unless the state filter asks for deleted ones; htmx polls the table
    (every 2 s while one on it is changing)."""

    filterset_class = VirtualMachineFilterSet

    def get_template_names(self):
        return ["portal/_vm_list_live.html" if self.request.htmx else "portal/vm_list.html"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["live"] = any(vm.state in LIVE_VM_STATES for vm in context["object_list"])
        return context

    @property
    def filter_labels(self):
        labels = {"state": "state", "cluster": "location"}
        return {**labels, "tenant": "tenant"} if self.roles.is_platform else labels

    def filter_choices(self):
        choices = {"cluster": cluster_choices()}
        if self.roles.is_platform:
            tenants = Tenant.objects.values_list("pk", "name")
            choices["tenant"] = [(str(pk), name) for pk, name in tenants]
        return choices

    def get_queryset(self):
        vms = self.filtered(vm_list(self.roles.scope(VirtualMachine.objects.all())))
        if VirtualMachine.State.DELETED not in self.filter_form.cleaned_data.get("state", []):
            vms = vms.exclude(state=VirtualMachine.State.DELETED)
        return vms.order_by("-created", "-id")


def vm_context(vm: VirtualMachine, roles) -> dict:
    """What the VM page and its live part show."""
    addresses = list(vm.ip_addresses.order_by("family"))
    ipv4 = next((ip.address for ip in addresses if ip.family == 4), None)
    ipv6 = next((ip.address for ip in addresses if ip.family == 6), None)
    job = jobs_for(vm).first()
    steps = list(steps_in_order().filter(job=job)) if job else []
    live = vm.state in LIVE_VM_STATES or bool(job and not job.is_done)
    return {
        "vm": vm,
        "ipv4": ipv4,
        "ipv6": ipv6,
        "cluster": vm.cluster,
        "last_job": job,
        "last_steps": steps,
        "live": live,
        "can_act": roles.can_act_for(vm.tenant_id),
        "show_node": roles.is_platform,
        "jobs": jobs_for(vm)[:10],
    }


class VmDetailView(ChangesMixin, LivePartMixin, PortalMixin, DetailView):
    model = VirtualMachine
    context_object_name = "vm"

    def get_queryset(self):
        return self.roles.scope(
            VirtualMachine.objects.select_related("tenant", "cluster", "node", "plan")
        )

    def get_template_names(self):
        return ["portal/_vm_live.html" if self.request.htmx else "portal/vm_detail.html"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(vm_context(self.object, self.roles))
        return context


class VmActionMixin(PortalMixin):
    """Find the VM in the user's scope (404 outside it); acting needs a role that acts."""

    def get_vm(self, pk) -> VirtualMachine:
        vm = get_object_or_404(
            self.roles.scope(VirtualMachine.objects.select_related("tenant", "cluster")), pk=pk
        )
        if not self.roles.can_act_for(vm.tenant_id):
            raise PermissionDenied("Your role may look at this VM but not change it.")
        return vm


class VmPowerView(VmActionMixin, View):
    start = True

    def post(self, request, pk):
        vm = self.get_vm(pk)
        try:
            vm_power_start(vm=vm, start=self.start, created_by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except Refused as exc:
            messages.error(request, str(exc))
        return redirect("portal:vm", vm.pk)


class VmDeleteView(VmActionMixin, TemplateView):
    template_name = "portal/vm_delete.html"

    def get(self, request, pk):
        vm = self.get_vm(pk)
        form = ConfirmForm(expected=vm.name)
        return self.render_to_response(self.get_context_data(vm=vm, form=form))

    def post(self, request, pk):
        vm = self.get_vm(pk)
        form = ConfirmForm(request.POST, expected=vm.name)
        if form.is_valid():
            try:
                vm_delete_start(vm=vm, created_by=request.user)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            except Refused as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("portal:vm", vm.pk)
        return self.render_to_response(self.get_context_data(vm=vm, form=form), status=400)


class VmOrderView(PortalMixin, TemplateView):
    """Order a VM or container: nothing is created unless the whole order is valid."""

    template_name = "portal/vm_order.html"
    form_page = True

    def tenants(self):
        if not self.roles.can_order:
            raise PermissionDenied("Your role may not order VMs.")
        if self.roles.can_operate:
            return Tenant.objects.filter(is_active=True)
        return Tenant.objects.filter(pk__in=self.roles.order_tenant_ids)

    def get(self, request):
        form = VmOrderForm(tenants=self.tenants())
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request):
        form = VmOrderForm(request.POST, tenants=self.tenants())
        if form.is_valid():
            data = form.cleaned_data
            try:
                vm = vm_order(
                    tenant=data["tenant"],
                    plan=data["plan"],
                    cluster=data["cluster"],
                    name=data["name"],
                    description=data["description"],
                    created_by=request.user,
                )
            except ValidationError as exc:
                add_errors(form, exc, field_map={"tenant": NON_FIELD})
            except PoolExhausted as exc:
                form.add_error("cluster", f"No free address at this location: {exc}")
            except ClusterNotReady as exc:
                form.add_error("cluster", str(exc))
            else:
                return redirect("portal:vm", vm.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)
