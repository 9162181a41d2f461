"""Reads for billing: usage per tenant and plan over a period, from the ledger.

Rules (see README "Usage and billing"):

- VM-hours / container-hours: time a VM was `running` or `stopped` (provisioned: it holds
  its node capacity, disk and address), `stopping` counted as running and `starting` as
  stopped. `ordered`, `provisioning`, `deleting`, `deleted` and `failed` are not billed.
  The split is given as running-hours and stopped-hours.
- Public-IP-hours: time an address was assigned to a VM (IPv4 and IPv6 counted apart).
- Every interval is clipped to the period [from, to) exactly, to the microsecond, so the
  usage of two adjacent periods adds up to the usage of both. A period ending in the
  future is counted up to now.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from apps.billing.models import UsageEvent
from apps.tenancy.models import Tenant

# A state billed, and as what: a VM stopping runs until it has stopped, one starting is
# stopped until it has started.
BILLED_AS = {"running": "running", "stopping": "running", "stopped": "stopped",
             "starting": "stopped"}  # fmt: skip
ZERO = timedelta(0)
HOUR_QUANTUM = Decimal("0.000001")


def seconds(value: timedelta) -> Decimal:
    """Exact seconds of a timedelta (microsecond resolution) as a Decimal."""
    micro = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    return Decimal(micro) / Decimal(1_000_000)


def hours(value: timedelta) -> Decimal:
    return (seconds(value) / Decimal(3600)).quantize(HOUR_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass
class UsageLine:
    """Usage of one tenant for one plan over the period."""

    tenant_id: int
    plan_id: int
    plan_name: str
    kind: str
    tenant_name: str = ""
    running: timedelta = ZERO
    stopped: timedelta = ZERO
    ipv4: timedelta = ZERO
    ipv6: timedelta = ZERO
    vms: set = field(default_factory=set)

    @property
    def provisioned(self) -> timedelta:
        return self.running + self.stopped

    def as_dict(self) -> dict:
        vm_time = self.provisioned if self.kind == UsageEvent.Kind.VM else ZERO
        container_time = self.provisioned if self.kind == UsageEvent.Kind.CONTAINER else ZERO
        return {
            "tenant": self.tenant_id,
            "tenant_name": self.tenant_name,
            "plan": self.plan_id,
            "plan_name": self.plan_name,
            "kind": self.kind,
            "vms": len(self.vms),
            "vm_hours": hours(vm_time),
            "container_hours": hours(container_time),
            "running_hours": hours(self.running),
            "stopped_hours": hours(self.stopped),
            "public_ip_hours": hours(self.ipv4 + self.ipv6),
            "public_ipv4_hours": hours(self.ipv4),
            "public_ipv6_hours": hours(self.ipv6),
            "vm_seconds": seconds(vm_time),
            "container_seconds": seconds(container_time),
            "public_ip_seconds": seconds(self.ipv4 + self.ipv6),
        }


def _overlap(begin: datetime, end: datetime, start: datetime, stop: datetime) -> timedelta:
    """Length of [begin, end) ∩ [start, stop)."""
    length = min(end, stop) - max(begin, start)
    return length if length > ZERO else ZERO


def usage_summary(
    *,
    start: datetime,
    end: datetime,
    tenant_ids: list[int] | None = None,
    now: datetime | None = None,
) -> list[UsageLine]:
    """Usage per (tenant, plan) over [start, end), ordered by tenant name and plan name."""
    now = now or timezone.now()
    end = min(end, now)
    if end <= start:
        return []
    gone_before = UsageEvent.objects.filter(
        event_type=UsageEvent.Type.STATE, state="deleted", at__lt=start
    ).values("vm_id")
    events = UsageEvent.objects.filter(at__lt=end).exclude(vm_id__in=gone_before)
    if tenant_ids is not None:
        events = events.filter(tenant_id__in=tenant_ids)
    rows = events.order_by("vm_id", "at", "id").values_list(
        "vm_id", "tenant_id", "plan_id", "plan_name", "kind", "event_type", "state",
        "address", "family", "at",
    )  # fmt: skip

    lines: dict[tuple[int, int], UsageLine] = {}

    def line_for(tenant_id, plan_id, plan_name, kind) -> UsageLine:
        key = (tenant_id, plan_id)
        if key not in lines:
            lines[key] = UsageLine(tenant_id, plan_id, plan_name, kind)
        lines[key].plan_name = plan_name
        return lines[key]

    current_vm = None
    state = state_since = state_line = None
    open_ips: dict[str, tuple[datetime, int, UsageLine]] = {}

    def close_state(at: datetime) -> None:
        if state in BILLED_AS and state_line is not None:
            length = _overlap(state_since, at, start, end)
            if length:
                billed = BILLED_AS[state]
                setattr(state_line, billed, getattr(state_line, billed) + length)
                state_line.vms.add(current_vm)

    def close_ip(address: str, at: datetime) -> None:
        since, family, line = open_ips.pop(address)
        length = _overlap(since, at, start, end)
        if length:
            attr = "ipv4" if family == 4 else "ipv6"
            setattr(line, attr, getattr(line, attr) + length)

    def close_vm() -> None:
        close_state(end)
        for address in list(open_ips):
            close_ip(address, end)

    for (
        vm_id,
        tenant_id,
        plan_id,
        plan_name,
        kind,
        event_type,
        new_state,
        address,
        family,
        at,
    ) in rows.iterator(chunk_size=5000):
        if vm_id != current_vm:
            if current_vm is not None:
                close_vm()
            current_vm, state, state_since, state_line = vm_id, None, None, None
        line = line_for(tenant_id, plan_id, plan_name, kind)
        if event_type == UsageEvent.Type.STATE:
            close_state(at)
            state, state_since, state_line = new_state, at, line
        elif event_type == UsageEvent.Type.IP_ASSIGNED:
            if address not in open_ips:
                open_ips[address] = (at, family, line)
        elif address in open_ips:
            close_ip(address, at)
    if current_vm is not None:
        close_vm()

    names = dict(Tenant.objects.filter(pk__in={t for t, _ in lines}).values_list("pk", "name"))
    result = []
    for line in lines.values():
        if not (line.provisioned or line.ipv4 or line.ipv6):
            continue
        line.tenant_name = names.get(line.tenant_id, "")
        result.append(line)
    result.sort(key=lambda line: (line.tenant_name, line.tenant_id, line.plan_name, line.plan_id))
    return result
