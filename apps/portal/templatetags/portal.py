"""Small presentation helpers for the portal templates: state badges and usage bars."""

from django import template
from django.utils.html import format_html, format_html_join

from apps.portal.permissions import portal_roles

register = template.Library()

GOOD = {"ready", "running", "succeeded", "in_sync", "established", "allocated"}
BUSY = {"provisioning", "queued", "syncing", "ordered", "deleting", "draining", "removing",
        "stopping", "starting"}  # fmt: skip
BAD = {"failed", "down"}
# A job or step that is running is in progress, not "good" as a running VM is.
BUSY_KINDS = {"job": {"running"}}


def _tone(value: str, kind: str = "") -> str:
    if value in BUSY_KINDS.get(kind, set()) or value in BUSY:
        return "busy"
    if value in GOOD:
        return "good"
    if value in BAD:
        return "bad"
    return "idle"


@register.filter
def badge(value, kind: str = "") -> str:
    """`{{ vm.state|badge }}`: a coloured state label (`|badge:"job"` for job states)."""
    value = str(value or "")
    return format_html(
        '<span class="badge badge-{}" data-state="{}">{}</span>',
        _tone(value, kind),
        value,
        value.replace("_", " "),
    )


@register.filter
def diff(text: str) -> str:
    """A `show | compare` output with added and removed lines marked for colour."""
    rows = []
    for line in str(text or "").splitlines():
        tone = "add" if line.startswith("+") else "del" if line.startswith("-") else ""
        rows.append((tone, line))
    return format_html_join("\n", '<span class="{}">{}</span>', rows)


ROLE_LABELS = {"tenant_user": "tenant user", "read_only": "read-only"}


@register.filter
def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


@register.simple_tag
def usage_bar(used: int, total: int, label: str = "") -> str:
    """A bar of `used` out of `total`, with the numbers beside it."""
    percent = min(100, round(100 * used / total)) if total else 100
    tone = "bad" if percent >= 90 else "warn" if percent >= 75 else "good"
    free = max(total - used, 0)
    return format_html(
        '<div class="usage" title="{} used, {} free of {}">'
        '<div class="usage-bar"><div class="usage-fill usage-{}" style="width: {}%"></div></div>'
        '<span class="usage-text">{} used · {} free</span></div>',
        used,
        free,
        total,
        tone,
        percent,
        used,
        free,
    )


@register.simple_tag
def share_bar(count: int, total: int, state: str = "") -> str:
    """A bar of `count` as a share of `total`, coloured like the state's badge."""
    percent = round(100 * count / total) if total else 0
    return format_html(
        '<div class="usage"><div class="usage-bar"><div class="usage-fill share-{}" '
        'style="width: {}%"></div></div><span class="usage-text">{}%</span></div>',
        _tone(state),
        percent,
        percent,
    )


@register.simple_tag(takes_context=True)
def portal_nav(context):
    """The roles of the page's user, for the header (also on error pages)."""
    request = context.get("request")
    return portal_roles(request) if request is not None else None
