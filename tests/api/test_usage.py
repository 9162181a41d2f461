"""Usage for billing: figures checked against periods computed by hand, CSV, scoping, ledger."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.billing.models import AppendOnlyError, UsageEvent
from apps.compute.models import VirtualMachine
from apps.compute.services import vm_order, vm_set_state
from apps.ipam.services import ip_release
from tests.api.conftest import assert_error
from tests.factories import make_node

USAGE = "/api/v1/usage/"


class Clock:
    def __init__(self, monkeypatch):
        self.now = datetime(2025, 1, 1, tzinfo=UTC)
        monkeypatch.setattr("django.utils.timezone.now", lambda: self.now)

    def at(self, text: str) -> None:
        self.now = datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def history(world, clock):
    """VM web of tenant A, across the January/February boundary; VM db of tenant B."""
    node = make_node(cluster=world.cluster)

    def run(vm, when: str, state: str):
        clock.at(when)
        if state == "running" and not vm.node_id:
            VirtualMachine.objects.filter(pk=vm.pk).update(node=node)
            vm.node = node
        vm_set_state(vm, state)

    clock.at("2025-01-31T20:00:00")
    web = vm_order(tenant=world.tenant_a, plan=world.plan, cluster=world.cluster, name="web")
    run(web, "2025-01-31T20:05:00", "provisioning")
    run(web, "2025-01-31T20:10:00", "running")
    run(web, "2025-02-01T02:10:00", "stopped")
    run(web, "2025-02-01T04:10:00", "running")
    run(web, "2025-02-02T00:00:00", "deleting")
    clock.at("2025-02-02T00:30:00")
    ip_release(vm=web)
    run(web, "2025-02-02T00:30:00", "deleted")

    clock.at("2025-01-15T00:00:00")
    db = vm_order(tenant=world.tenant_b, plan=world.plan, cluster=world.cluster, name="db")
    run(db, "2025-01-15T00:00:00", "provisioning")
    run(db, "2025-01-15T01:00:00", "running")
    clock.at("2025-03-10T00:00:00")  # "now"
    return web, db


def usage(world, who="admin", **params):
    response = world.client(who).get(USAGE, params)
    assert response.status_code == 200, response.content[:500]
    return {(line["tenant"], line["plan"]): line for line in response.json()["results"]}


def line_a(world, **params):
    return usage(world, tenant=world.tenant_a.pk, **params)[(world.tenant_a.pk, world.plan.pk)]


def test_usage_of_periods_computed_by_hand(world, history):
    january = line_a(world, **{"from": "2025-01-01", "to": "2025-02-01"})
    assert january["vm_hours"] == "3.833333"  # running 20:10-24:00
    assert january["running_hours"] == "3.833333" and january["stopped_hours"] == "0.000000"
    assert january["public_ip_hours"] == january["public_ipv4_hours"] == "4.000000"  # 20:00-24:00
    assert january["container_hours"] == "0.000000" and january["vms"] == 1

    february = line_a(world, **{"from": "2025-02-01", "to": "2025-03-01"})
    # running 00:00-02:10, stopped 02:10-04:10, running 04:10-24:00; then deleting
    assert february["vm_hours"] == "24.000000"
    assert (february["running_hours"], february["stopped_hours"]) == ("22.000000", "2.000000")
    assert february["public_ip_hours"] == "24.500000"  # until released at 00:30 on the 2nd

    both = line_a(world, **{"from": "2025-01-01", "to": "2025-03-01"})
    assert both["vm_hours"] == "27.833333" and both["public_ip_hours"] == "28.500000"
    for name in ("vm_seconds", "public_ip_seconds"):  # exact: adjacent periods add up
        assert Decimal(january[name]) + Decimal(february[name]) == Decimal(both[name])
    assert Decimal(both["vm_seconds"]) == 27 * 3600 + 50 * 60

    inside = line_a(world, **{"from": "2025-02-01T03:00:00Z", "to": "2025-02-01T05:00:00Z"})
    assert (inside["stopped_hours"], inside["running_hours"]) == ("1.166667", "0.833333")
    assert inside["vm_hours"] == "2.000000"


def test_open_intervals_count_until_now_and_deleted_vms_drop_out(world, history):
    lines = usage(world, **{"from": "2025-03-01", "to": "2025-04-01"})  # to is after "now"
    assert list(lines) == [(world.tenant_b.pk, world.plan.pk)]  # web was deleted in February
    db = lines[(world.tenant_b.pk, world.plan.pk)]
    assert db["vm_hours"] == "216.000000" and db["public_ip_hours"] == "216.000000"  # 9 days


def test_tenants_see_only_their_usage(world, history):
    period = {"from": "2025-01-01", "to": "2025-03-01"}
    assert set(usage(world, who="alice", **period)) == {(world.tenant_a.pk, world.plan.pk)}
    assert set(usage(world, who="b_key", **period)) == {(world.tenant_b.pk, world.plan.pk)}
    assert len(usage(world, who="auditor", **period)) == 2
    other = world.client("alice").get(USAGE, {"tenant": world.tenant_b.pk, **period})
    assert_error(other, 404, "not_found")
    assert_error(world.client("anonymous").get(USAGE), 401)


def test_usage_as_csv(world, history):
    period = {"from": "2025-01-01", "to": "2025-02-01"}
    for response in (
        world.client("admin").get(USAGE, {**period, "format": "csv"}),
        world.client("admin").get(USAGE, period, HTTP_ACCEPT="text/csv"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        web = next(row for row in rows if row["tenant"] == str(world.tenant_a.pk))
        assert (web["plan_name"], web["vm_hours"], web["public_ip_hours"]) == (
            "small", "3.833333", "4.000000",
        )  # fmt: skip
        assert web["from"].startswith("2025-01-01T00:00:00")
    bad = world.client("admin").get(USAGE, {"format": "csv", "from": "yesterday"})
    assert_error(bad, 400, "validation_error", "from")  # errors stay JSON


def test_bad_periods_name_the_field(world):
    client = world.client("admin")
    assert_error(client.get(USAGE, {"from": "2025-02-01", "to": "2025-01-01"}), 400, field="to")
    assert_error(client.get(USAGE, {"to": "not a date"}), 400, field="to")
    assert_error(client.get(USAGE, {"tenant": "x"}), 400, field="tenant")
    assert client.get(USAGE).status_code == 200  # this month so far


def test_the_ledger_is_append_only(world, history):
    web, _ = history
    events = UsageEvent.objects.filter(vm=web)
    assert [e.state for e in events if e.event_type == "state"] == [
        "ordered", "provisioning", "running", "stopped", "running", "deleting", "deleted",
    ]  # fmt: skip
    assert [e.event_type for e in events if e.event_type != "state"] == [
        "ip_assigned", "ip_released",
    ]  # fmt: skip
    event = events.first()
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        events.update(state="running")
    with pytest.raises(AppendOnlyError):
        events.delete()
    response = world.client("admin").get("/api/v1/usage-events/", {"vm": web.pk})
    assert response.json()["count"] == 9
    assert world.client("admin").delete(f"/api/v1/usage-events/{event.pk}/").status_code == 405
