from django.contrib.auth import views as auth_views
from django.urls import path

from apps.portal import views, views_admin, views_edit

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="portal/login.html",
            redirect_authenticated_user=True,
            next_page="portal:home",
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="portal:login"), name="logout"),
    # operators
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
    path("clusters/", views.ClusterListView.as_view(), name="clusters"),
    path("clusters/new/cancel/", views.WizardCancelView.as_view(), name="cluster_wizard_cancel"),
    path("clusters/new/<slug:step>/", views.ClusterWizardView.as_view(), name="cluster_wizard"),
    path("clusters/<int:pk>/", views.ClusterDetailView.as_view(), name="cluster"),
    path("clusters/<int:pk>/edit/", views_edit.ClusterEditView.as_view(), name="cluster_edit"),
    path(
        "clusters/<int:pk>/topology/", views.ClusterTopologyView.as_view(), name="cluster_topology"
    ),
    path(
        "clusters/<int:pk>/provision/",
        views.ClusterProvisionView.as_view(),
        name="cluster_provision",
    ),
    path("clusters/<int:pk>/nodes/new/", views.NodeCreateView.as_view(), name="node_create"),
    path(
        "clusters/<int:pk>/route-reflectors/new/",
        views.RouteReflectorCreateView.as_view(),
        name="rr_create",
    ),
    path("nodes/", views.NodeListView.as_view(), name="nodes"),
    path("nodes/<int:pk>/", views.NodeDetailView.as_view(), name="node"),
    path("nodes/<int:pk>/edit/", views_edit.NodeEditView.as_view(), name="node_edit"),
    path("nodes/<int:pk>/remove/", views.NodeRemoveView.as_view(), name="node_remove"),
    path("nodes/<int:pk>/drain/", views.NodeDrainView.as_view(drain=True), name="node_drain"),
    path("nodes/<int:pk>/undrain/", views.NodeDrainView.as_view(drain=False), name="node_undrain"),
    path("route-reflectors/<int:pk>/", views.RouteReflectorDetailView.as_view(), name="rr"),
    path(
        "route-reflectors/<int:pk>/edit/",
        views_edit.RouteReflectorEditView.as_view(),
        name="rr_edit",
    ),
    path(
        "route-reflectors/<int:pk>/remove/",
        views.RouteReflectorRemoveView.as_view(),
        name="rr_remove",
    ),
    path("border-gateways/<int:pk>/", views.BorderGatewayDetailView.as_view(), name="bgw"),
    path(
        "border-gateways/<int:pk>/edit/",
        views_edit.BorderGatewayEditView.as_view(),
        name="bgw_edit",
    ),
    path(
        "border-gateways/<int:pk>/dry-run/",
        views.BorderGatewayDryRunView.as_view(),
        name="bgw_dry_run",
    ),
    path(
        "border-gateways/<int:pk>/dry-run/<int:job_pk>/",
        views.BorderGatewayDryRunView.as_view(),
        name="bgw_dry_run_result",
    ),
    path(
        "border-gateways/<int:pk>/apply/", views.BorderGatewayApplyView.as_view(), name="bgw_apply"
    ),
    # administration: tenants, memberships, plans (views_admin)
    path("tenants/", views_admin.TenantListView.as_view(), name="tenants"),
    path("tenants/new/", views_admin.TenantFormView.as_view(), name="tenant_create"),
    path("tenants/<int:pk>/", views_admin.TenantDetailView.as_view(), name="tenant"),
    path("tenants/<int:pk>/edit/", views_admin.TenantFormView.as_view(), name="tenant_edit"),
    path("memberships/", views_admin.MembershipListView.as_view(), name="memberships"),
    path("memberships/new/", views_admin.MembershipCreateView.as_view(), name="membership_create"),
    path(
        "memberships/<int:pk>/remove/",
        views_admin.MembershipRemoveView.as_view(),
        name="membership_remove",
    ),
    path("plans/", views_admin.PlanListView.as_view(), name="plans"),
    path("plans/new/", views_admin.PlanFormView.as_view(), name="plan_create"),
    path("plans/<int:pk>/edit/", views_admin.PlanFormView.as_view(), name="plan_edit"),
    # both audiences
    path("api-keys/", views_admin.ApiKeyListView.as_view(), name="api_keys"),
    path("api-keys/new/", views_admin.ApiKeyCreateView.as_view(), name="api_key_create"),
    path(
        "api-keys/<int:pk>/revoke/", views_admin.ApiKeyRevokeView.as_view(), name="api_key_revoke"
    ),
    path("jobs/", views.JobListView.as_view(), name="jobs"),
    path("jobs/running/", views.JobsIndicatorView.as_view(), name="jobs_indicator"),
    path("jobs/<int:pk>/", views.JobDetailView.as_view(), name="job"),
    path("jobs/<int:pk>/retry/", views.JobRetryView.as_view(), name="job_retry"),
    path("jobs/<int:pk>/acknowledge/", views.JobAcknowledgeView.as_view(), name="job_acknowledge"),
    path("vms/", views.VmListView.as_view(), name="vms"),
    path("vms/new/", views.VmOrderView.as_view(), name="vm_order"),
    path("vms/<int:pk>/", views.VmDetailView.as_view(), name="vm"),
    path("vms/<int:pk>/start/", views.VmPowerView.as_view(start=True), name="vm_start"),
    path("vms/<int:pk>/stop/", views.VmPowerView.as_view(start=False), name="vm_stop"),
    path("vms/<int:pk>/delete/", views.VmDeleteView.as_view(), name="vm_delete"),
]
