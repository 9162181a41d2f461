"""Collect the BGP session states of every route reflector and node (Celery beat).

One `birdc show protocols all` per device over SSH, devices in parallel, each bounded by
the SSH connect timeout and FABRIC_SESSIONS_COMMAND_TIMEOUT. No job rows: a pass returns
a summary (and logs it); the states go to BgpSessionState with their time. A device that
does not answer keeps its last states, marked stale. Read-only on the devices, so it takes
no device lock and never waits for a running job.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from apps.fabric.connections import bird_paths, remember_first_host_key, ssh_target
from apps.fabric.models import Node, RouteReflector
from apps.fabric.services import bgp_sessions_mark_stale, bgp_sessions_record
from workers.bird_remote import BirdPaths, show_bgp_sessions
from workers.ssh import SSHSession, SSHTarget

logger = logging.getLogger(__name__)

# Devices whose BIRD runs a config of the product (not yet started, or being taken out: no).
SKIPPED_STATES = ("new", "removing")


@dataclass(frozen=True)
class Answer:
    """What one device said: its sessions (None: BIRD not running), or why it did not."""

    sessions: dict | None = None
    error: str = ""
    first_seen_host_key: str = ""


def read_sessions(target: SSHTarget, paths: BirdPaths, *, timeout: float) -> Answer:
    """One device's sessions over one SSH login (no Django: runs in a worker thread)."""
    try:
        with SSHSession(target) as session:
            sessions = show_bgp_sessions(session, paths, timeout=timeout)
            return Answer(sessions=sessions, first_seen_host_key=session.first_seen_host_key)
    except Exception as exc:  # one device (down, a bad key) must not stop the others
        return Answer(error=f"{type(exc).__name__}: {exc}")


def collected_devices() -> list[RouteReflector | Node]:
    rrs = RouteReflector.objects.exclude(state__in=SKIPPED_STATES).order_by("pk")
    nodes = Node.objects.exclude(state__in=SKIPPED_STATES).order_by("pk")
    return [*rrs, *nodes]


def collect_bgp_sessions() -> dict:
    """One pass over every RR and node; a summary of who answered."""
    devices = collected_devices()
    timeout = settings.FABRIC_SESSIONS_COMMAND_TIMEOUT
    with ThreadPoolExecutor(max_workers=max(1, settings.FABRIC_SESSIONS_PARALLEL)) as pool:
        answers = list(
            pool.map(
                lambda job: read_sessions(*job, timeout=timeout),
                [(ssh_target(d), bird_paths(d)) for d in devices],
            )
        )
    seen_at = timezone.now()
    stale = []
    for device, answer in zip(devices, answers, strict=True):
        try:
            if answer.first_seen_host_key and not device.ssh_host_key:
                remember_first_host_key(device, "ssh_host_key", answer.first_seen_host_key)
            if answer.sessions is not None:
                bgp_sessions_record(device=device, sessions=answer.sessions, seen_at=seen_at)
                continue
            reason = answer.error or "BIRD is not running (birdc did not answer)"
        except Exception as exc:  # e.g. removed meanwhile, a key pinned meanwhile
            logger.warning("BGP sessions of %s not recorded: %s", device, exc)
            reason = f"{type(exc).__name__}: {exc}"
        try:
            bgp_sessions_mark_stale(device=device, reason=reason)
        except Exception as exc:
            logger.warning("BGP sessions of %s not marked stale: %s", device, exc)
        stale.append(f"{device._meta.verbose_name} {device.name}: {reason}")
    summary = {"devices": len(devices), "answered": len(devices) - len(stale), "stale": stale}
    logger.info("BGP sessions collected: %s", summary)
    return summary
