"""What every portal page's header needs beyond the user's roles."""

from apps.portal import selectors


def header(request) -> dict:
    """`jobs_running`: the staff header's count of queued and running jobs. A callable, so
    it is counted only where the template shows it (never for tenants)."""
    return {"jobs_running": selectors.active_job_count}
