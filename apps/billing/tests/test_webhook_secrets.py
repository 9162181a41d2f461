"""Webhook secrets are encrypted at rest, existing ones get encrypted by the migration, and
the admin never shows them back."""

import importlib

import pytest
from django.apps import apps as global_apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from apps.billing.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
SECRET = "whsec_plaintext-secret-value-1234"


def raw_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM billing_webhookendpoint WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_the_secret_is_stored_encrypted_and_read_back_in_clear():
    endpoint = WebhookEndpoint.objects.create(name="b", url="https://b.example.net/", secret=SECRET)
    assert raw_secret(endpoint.pk).startswith("fernet:")
    assert SECRET not in raw_secret(endpoint.pk)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == SECRET


def test_the_data_migration_encrypts_rows_stored_in_clear_and_is_idempotent():
    endpoint = WebhookEndpoint.objects.create(name="b", url="https://b.example.net/", secret=SECRET)
    with connection.cursor() as cursor:  # a row written before the migration
        cursor.execute("UPDATE billing_webhookendpoint SET secret = %s WHERE id = %s",
                       [SECRET, endpoint.pk])  # fmt: skip
    migration = importlib.import_module("apps.billing.migrations.0003_encrypt_webhook_secrets")
    with connection.schema_editor() as editor:
        migration.encrypt_existing_secrets(global_apps, editor)
        once = raw_secret(endpoint.pk)
        migration.encrypt_existing_secrets(global_apps, editor)
    assert once.startswith("fernet:") and raw_secret(endpoint.pk) == once
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == SECRET


def test_the_admin_never_shows_the_secret_and_blank_keeps_it(client):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-long-1"))
    endpoint = WebhookEndpoint.objects.create(name="b", url="https://b.example.net/", secret=SECRET)
    url = reverse("admin:billing_webhookendpoint_change", args=[endpoint.pk])
    page = client.get(url).content.decode()
    assert SECRET not in page
    assert "Stored (encrypted). Leave blank to keep it." in page
    form = {"name": "renamed", "url": "https://b.example.net/", "secret": "", "tenant": "",
            "is_active": "on"}  # fmt: skip
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.secret) == ("renamed", SECRET)
