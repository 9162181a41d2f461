"""usage_summary over hand-made ledgers: clipping, ordering and open intervals."""

from datetime import UTC, datetime, timedelta

from apps.billing.models import UsageEvent
from apps.billing.selectors import usage_summary
from tests.factories import make_cluster, make_plan, make_tenant, make_vm

T0 = datetime(2025, 5, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def record(vm, at, event_type="state", state="", address=None):
    return UsageEvent.objects.create(
        tenant_id=vm.tenant_id, vm_id=vm.pk, plan_id=vm.plan_id, plan_name=vm.plan.name,
        kind=vm.plan.kind, event_type=event_type, state=state, address=address,
        family=4 if address else None, at=at,
    )  # fmt: skip


def test_states_addresses_and_clipping(db):
    vm = make_vm(tenant=make_tenant(), plan=make_plan(kind="vm"))
    record(vm, h(0), state="ordered")
    record(vm, h(0), "ip_assigned", address="185.1.1.1")
    record(vm, h(1), state="running")
    record(vm, h(3), state="running")  # a repeated state changes nothing
    record(vm, h(5), state="failed")
    record(vm, h(6), "ip_released", address="185.1.1.1")
    record(vm, h(7), "ip_assigned", address="185.1.1.1")  # given back, then again
    (line,) = usage_summary(start=h(2), end=h(10), now=h(100))
    assert line.running == timedelta(hours=3)  # 2-5, clipped at the start
    assert line.ipv4 == timedelta(hours=4 + 3)  # 2-6, then 7-10 (still assigned)
    assert line.as_dict()["vm_hours"] == line.as_dict()["running_hours"]


def test_periods_before_the_first_or_after_the_last_event_are_empty(db):
    vm = make_vm()
    record(vm, h(1), state="running")
    record(vm, h(2), state="deleted")
    assert usage_summary(start=h(-5), end=h(1), now=h(100)) == []
    assert usage_summary(start=h(3), end=h(9), now=h(100)) == []
    assert usage_summary(start=h(5), end=h(9), now=h(1)) == []  # the period is in the future


def test_container_plans_count_as_container_hours(db):
    vm = make_vm(plan=make_plan(kind="container"), cluster=make_cluster(virtualization="lxd"))
    record(vm, h(0), state="stopped")
    (line,) = usage_summary(start=h(0), end=h(2), now=h(100))
    data = line.as_dict()
    assert (data["container_hours"], data["vm_hours"], data["stopped_hours"]) == (2, 0, 2)
