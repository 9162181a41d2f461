"""Plan and VM validation, and the errors of the `vm_order` service.

Bad input gives a ValidationError naming the field, with a helpful message, and nothing
is saved; the database constraints refuse what skips `full_clean()`.
"""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.compute.models import Plan, VirtualMachine
from apps.compute.services import ClusterNotReady, InvalidTransition, vm_order, vm_set_state
from apps.fabric.models import Cluster
from tests.factories import (
    build_plan,
    build_vm,
    make_cluster,
    make_network,
    make_node,
    make_plan,
    make_pool,
    make_ready_cluster,
    make_tenant,
    make_vm,
)
from tests.validation import (
    BAD_DESCRIPTIONS,
    BAD_NAMES,
    DESCRIPTION_HINT,
    GOOD_DESCRIPTIONS,
    GOOD_NAMES,
    NAME_HINT,
    assert_rejected,
    assert_valid,
    bad_names,
)

pytestmark = pytest.mark.django_db


# --- names and descriptions ----------------------------------------------------------------


def _plan_name(value):
    return build_plan(name=value)


def _vm_name(value):
    return build_vm(name=value)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_plan_name_that_would_break_a_config_is_rejected(name):
    assert_rejected(build_plan(name=name), "name", NAME_HINT)


@pytest.mark.parametrize("name", bad_names())
def test_vm_name_that_would_break_a_config_is_rejected(name):
    assert_rejected(build_vm(name=name), "name", NAME_HINT)


@pytest.mark.parametrize("name", GOOD_NAMES)
@pytest.mark.parametrize("build", [_plan_name, _vm_name])
def test_good_name_is_accepted(build, name):
    assert_valid(build(name))


def _plan_description(value):
    return build_plan(description=value)


def _vm_description(value):
    return build_vm(description=value)


DESCRIPTION_FIELDS = [
    pytest.param(_plan_description, id="Plan.description"),
    pytest.param(_vm_description, id="VirtualMachine.description"),
]


@pytest.mark.parametrize("description", BAD_DESCRIPTIONS)
@pytest.mark.parametrize("build", DESCRIPTION_FIELDS)
def test_description_that_would_break_a_config_is_rejected(build, description):
    hint = "at most 200" if len(description) > 200 else DESCRIPTION_HINT
    assert_rejected(build(description), "description", hint)


@pytest.mark.parametrize("description", GOOD_DESCRIPTIONS)
@pytest.mark.parametrize("build", DESCRIPTION_FIELDS)
def test_good_description_is_accepted(build, description):
    assert_valid(build(description))


def test_duplicate_plan_name_is_rejected():
    make_plan(name="small")
    assert_rejected(build_plan(name="small"), "name", "already exists")


@pytest.mark.parametrize(
    ("field", "value"), [("vcpus", 0), ("memory_mb", 63), ("disk_gb", 0), ("vcpus", -1)]
)
def test_plan_size_below_the_minimum_is_rejected(field, value):
    assert_rejected(build_plan(**{field: value}), field, "greater than or equal to")


# --- virtual machines ----------------------------------------------------------------------


def test_duplicate_vm_name_for_a_tenant_is_rejected():
    tenant = make_tenant()
    make_vm(tenant=tenant, name="web1")
    assert_rejected(build_vm(tenant=tenant, name="web1"), "name", "web1")


@pytest.mark.parametrize(
    "state", [s for s in VirtualMachine.State.values if s not in VirtualMachine.NAMELESS_STATES]
)
def test_vm_name_of_any_live_vm_is_taken(state):
    tenant = make_tenant()
    first = make_vm(tenant=tenant, name="web1")
    node = make_node(cluster=first.cluster)
    VirtualMachine.objects.filter(pk=first.pk).update(state=state, node=node)
    assert_rejected(build_vm(tenant=tenant, name="web1"), "name", "web1")


def test_vm_name_of_a_deleted_vm_can_be_reused():
    tenant = make_tenant()
    first = make_vm(tenant=tenant, name="web1")
    VirtualMachine.objects.filter(pk=first.pk).update(state=VirtualMachine.State.DELETED)
    assert_valid(build_vm(tenant=tenant, name="web1"))


def test_same_vm_name_for_another_tenant_is_accepted():
    make_vm(tenant=make_tenant(), name="web1")
    assert_valid(build_vm(tenant=make_tenant(), name="web1"))


def test_saved_vm_does_not_clash_with_itself():
    vm = make_vm(name="web1")
    vm.description = "frontend"
    assert_valid(vm)


def test_container_plan_on_a_kvm_cluster_is_rejected():
    cluster = make_cluster(name="kvm-1", virtualization=Cluster.Virtualization.KVM)
    vm = build_vm(cluster=cluster, plan=make_plan(kind=Plan.Kind.CONTAINER))
    assert_rejected(vm, "plan", "kvm-1", "VM plan")


@pytest.mark.parametrize(
    ("virtualization", "kind"),
    [
        (Cluster.Virtualization.LXD, Plan.Kind.CONTAINER),
        (Cluster.Virtualization.KVM, Plan.Kind.VM),
    ],
)
def test_plan_matching_the_cluster_is_accepted(virtualization, kind):
    vm = build_vm(cluster=make_cluster(virtualization=virtualization), plan=make_plan(kind=kind))
    assert_valid(vm)


# --- vm_order ------------------------------------------------------------------------------


def _order_fails(*, field: str, fragments: tuple[str, ...] = (), **order) -> None:
    """`vm_order(**order)` raises a ValidationError on `field` and saves no VM."""
    fields = {"name": "web-new"}
    fields.update(order)
    before = VirtualMachine.objects.count()
    with pytest.raises(ValidationError) as exc:
        vm_order(**fields)
    errors = exc.value.message_dict
    assert field in errors, errors
    text = " ".join(errors[field])
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert VirtualMachine.objects.count() == before


@pytest.fixture
def order():
    """Valid arguments for vm_order, to be changed one at a time."""
    cluster = make_ready_cluster()
    make_pool(network=make_network(cluster=cluster))
    return {"tenant": make_tenant(), "plan": make_plan(), "cluster": cluster}


def test_vm_order_records_a_valid_order(order):
    vm = vm_order(name="web1", **order)
    assert vm.pk
    assert vm.state == VirtualMachine.State.ORDERED
    assert VirtualMachine.objects.count() == 1


@pytest.mark.parametrize("max_vms", [0, 1, 3])
def test_vm_order_over_quota_is_rejected(order, max_vms):
    tenant = make_tenant(max_vms=max_vms)
    for _ in range(max_vms):
        make_vm(tenant=tenant)
    order["tenant"] = tenant
    _order_fails(field="tenant", fragments=("Quota reached", f"{max_vms} VMs"), **order)


def test_vm_order_quota_does_not_count_deleted_vms(order):
    tenant = make_tenant(max_vms=1)
    old = make_vm(tenant=tenant)
    VirtualMachine.objects.filter(pk=old.pk).update(state=VirtualMachine.State.DELETED)
    order["tenant"] = tenant
    assert vm_order(name="web1", **order).pk


def test_vm_order_with_inactive_plan_is_rejected(order):
    order["plan"] = make_plan(name="legacy", is_active=False)
    _order_fails(field="plan", fragments=("legacy", "no longer offered"), **order)


def test_vm_order_reports_both_inactive_plan_and_quota(order):
    order["plan"] = make_plan(name="legacy", is_active=False)
    order["tenant"] = make_tenant(max_vms=0)
    _order_fails(field="plan", fragments=("no longer offered",), **order)
    _order_fails(field="tenant", fragments=("Quota reached",), **order)


def test_vm_order_for_suspended_tenant_is_rejected(order):
    order["tenant"] = make_tenant(is_active=False)
    _order_fails(field="tenant", fragments=("suspended",), **order)


@pytest.mark.parametrize("state", [Cluster.State.NEW, Cluster.State.FAILED])
def test_vm_order_on_a_cluster_that_is_not_ready_is_refused(order, state):
    order["cluster"] = make_cluster(name="broken", state=state)
    with pytest.raises(ClusterNotReady, match=f"broken is {state}"):
        vm_order(name="web-new", **order)
    assert not VirtualMachine.objects.exists()


def test_vm_order_reads_the_clusters_state_as_stored_now(order):
    cluster = order["cluster"]
    Cluster.objects.filter(pk=cluster.pk).update(state=Cluster.State.NEW)
    with pytest.raises(ClusterNotReady):  # the caller's copy still says ready
        vm_order(name="web-new", **order)
    cluster.state = Cluster.State.NEW  # a copy from before its provisioning finished
    Cluster.objects.filter(pk=cluster.pk).update(state=Cluster.State.READY)
    assert vm_order(name="web-new", **order).cluster_id == cluster.pk


def test_vm_order_on_a_cluster_without_a_ready_node_is_refused(order):
    order["cluster"].nodes.update(state="draining")
    with pytest.raises(ClusterNotReady, match="no ready node"):
        vm_order(name="web-new", **order)
    assert not VirtualMachine.objects.exists()


def test_vm_order_with_taken_name_is_rejected(order):
    make_vm(tenant=order["tenant"], name="web1")
    _order_fails(field="name", fragments=("web1",), name="web1", **order)


@pytest.mark.parametrize(
    "name",
    [
        'web"1',
        "web;1",
        "web\n1",
        "-web1",
        "w" * 64,
        pytest.param("web\x001", id="nul"),
    ],
)
def test_vm_order_with_bad_name_is_rejected(order, name):
    _order_fails(field="name", fragments=(NAME_HINT,), name=name, **order)


def test_vm_order_container_on_kvm_is_rejected(order):
    order["plan"] = make_plan(kind=Plan.Kind.CONTAINER)
    _order_fails(field="plan", fragments=("choose a VM plan",), **order)


# --- database constraints: the last line of defence ----------------------------------------


def test_duplicate_live_vm_name_is_refused_by_the_database():
    first = make_vm(name="web1")
    duplicate = build_vm(tenant=first.tenant, plan=first.plan, cluster=first.cluster, name="web1")
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert VirtualMachine.objects.filter(name="web1").count() == 1


@pytest.mark.parametrize("state", [VirtualMachine.State.FAILED, VirtualMachine.State.DELETED])
def test_a_failed_or_deleted_vm_frees_its_name(state):
    gone = make_vm(name="web1")
    VirtualMachine.objects.filter(pk=gone.pk).update(state=state)
    again = build_vm(tenant=gone.tenant, plan=gone.plan, cluster=gone.cluster, name="web1")
    again.full_clean()
    again.save()  # the database agrees
    assert VirtualMachine.objects.filter(name="web1").count() == 2


def test_a_failed_vm_whose_name_was_taken_since_cannot_be_rebuilt():
    failed = make_vm(name="web1")
    VirtualMachine.objects.filter(pk=failed.pk).update(state=VirtualMachine.State.FAILED)
    make_vm(tenant=failed.tenant, name="web1")
    failed.refresh_from_db()
    with pytest.raises(InvalidTransition, match="web1"):
        vm_set_state(failed, VirtualMachine.State.PROVISIONING)
    failed.refresh_from_db()
    assert failed.state == VirtualMachine.State.FAILED


def test_running_vm_without_node_is_refused_by_the_database():
    vm = build_vm(state=VirtualMachine.State.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        vm.save()
    assert VirtualMachine.objects.count() == 0
