"""Device credentials are encrypted in the database and readable only with the key."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from apps.fabric.models import Cluster, RouteReflector

pytestmark = pytest.mark.django_db

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-material\n-----END OPENSSH PRIVATE KEY-----"


def _raw(column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM fabric_routereflector WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def rr():
    cluster = Cluster.objects.create(name="c1", bgp_asn=65000, bgp_community="65000:100")
    return RouteReflector.objects.create(
        cluster=cluster, name="rr1", peering_ip="198.51.100.2", ssh_private_key=KEY,
        ssh_password="hunter2",
    )  # fmt: skip


def test_credentials_are_stored_encrypted_and_read_back_in_clear(rr):
    stored_key, stored_password = _raw("ssh_private_key", rr.pk), _raw("ssh_password", rr.pk)
    assert stored_key.startswith("fernet:") and "secret-material" not in stored_key
    assert stored_password.startswith("fernet:") and "hunter2" not in stored_password

    fresh = RouteReflector.objects.get(pk=rr.pk)
    assert fresh.ssh_private_key == KEY
    assert fresh.ssh_password == "hunter2"


def test_empty_credential_stays_empty(rr):
    rr.ssh_password = ""
    rr.save()
    assert _raw("ssh_password", rr.pk) == ""
    assert RouteReflector.objects.get(pk=rr.pk).ssh_password == ""


def test_a_changed_key_gives_a_clear_error_not_garbage(rr, settings):
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEY has changed"):
        RouteReflector.objects.get(pk=rr.pk)
