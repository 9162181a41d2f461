"""How workflows reach devices: SSH targets and BIRD paths from the database."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from django.conf import settings

from apps.fabric.models import BirdHost
from workers.bird_remote import BirdPaths
from workers.ssh import SSHSession, SSHTarget


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
    )


def bird_paths(host: BirdHost) -> BirdPaths:
    return BirdPaths(config=host.bird_config_path, socket=host.bird_socket_path)


@contextmanager
def open_session(host: BirdHost) -> Iterator[SSHSession]:
    """An SSH session to `host`; on first contact its host key is remembered (TOFU)."""
    with SSHSession(ssh_target(host)) as session:
        if not host.ssh_host_key and session.observed_host_key:
            host.ssh_host_key = session.observed_host_key
            type(host).objects.filter(pk=host.pk).update(ssh_host_key=host.ssh_host_key)
        yield session


def connect(stack: ExitStack, host: BirdHost) -> SSHSession:
    """Take `host`'s device lock and open a session to it, both held until `stack` closes.

    Called inside a job step, so that a busy or unreachable device fails that step.
    """
    from apps.jobs.locks import device_lock

    kind = "rr" if host._meta.model_name == "routereflector" else host._meta.model_name
    stack.enter_context(device_lock(kind, host.pk))
    return stack.enter_context(open_session(host))
