"""How workflows reach devices: SSH targets and BIRD paths from the database."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from django.conf import settings
from django.db import transaction

from apps.fabric.models import BirdHost
from apps.jobs.locks import device_lock
from apps.jobs.runner import log_to_current_step
from workers.bird_remote import BirdPaths
from workers.ssh import SSHSession, SSHTarget, fingerprint, mismatch_error


def ssh_target(host: BirdHost) -> SSHTarget:
    return SSHTarget(
        host=host.ssh_address,
        port=host.ssh_port,
        username=host.ssh_username,
        password=host.ssh_password,
        private_key=host.ssh_private_key,
        known_host_key=host.ssh_host_key,
        host_key_policy=settings.FABRIC_SSH_HOST_KEY_POLICY,
        connect_timeout=settings.FABRIC_SSH_CONNECT_TIMEOUT,
        name=f"{host._meta.verbose_name} {host.name}",
    )


def bird_paths(host: BirdHost) -> BirdPaths:
    return BirdPaths(config=host.bird_config_path, socket=host.bird_socket_path)


def remember_first_host_key(device, field: str, key: str) -> str:
    """Under `tofu`: store the first key a device offered (a model save, so the change log
    records it as an event of the device) and say so in the running job step."""
    with transaction.atomic():
        # Only if still unpinned: a pass that read the device earlier (the session
        # collection) must not replace a key pinned since by an admin or another job.
        pinned = getattr(type(device).objects.select_for_update().get(pk=device.pk), field)
        if pinned and pinned != key:
            raise mismatch_error(f"{device._meta.verbose_name} {device}", pinned, key)
        setattr(device, field, key)
        device.save(update_fields=[field])
    note = (
        f"{device._meta.verbose_name} {device}: first contact, host key trusted on first use "
        f"and stored: {fingerprint(key)} (FABRIC_SSH_HOST_KEY_POLICY=tofu); later logins "
        "accept only this key"
    )
    log_to_current_step(note)
    return note


@contextmanager
def open_session(host: BirdHost) -> Iterator[SSHSession]:
    """An SSH session to `host`, checking its stored host key (see SSHSession); under
    `tofu` the first key seen is stored and reported."""
    with SSHSession(ssh_target(host)) as session:
        if not host.ssh_host_key and session.first_seen_host_key:
            remember_first_host_key(host, "ssh_host_key", session.first_seen_host_key)
        yield session


def connect(stack: ExitStack, host: BirdHost) -> SSHSession:
    """Take `host`'s device lock and open a session to it, both held until `stack` closes.

    Called inside a job step, so that a busy or unreachable device fails that step.
    """
    kind = "rr" if host._meta.model_name == "routereflector" else host._meta.model_name
    stack.enter_context(device_lock(kind, host.pk))
    return stack.enter_context(open_session(host))
