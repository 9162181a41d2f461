"""Webhook secrets are stored encrypted: the column becomes an EncryptedTextField (text, long
enough for a Fernet token) and the rows stored in clear before are encrypted in place."""

from django.db import migrations

import apps.core.fields
from apps.core.fields import PREFIX, encrypt


def encrypt_existing_secrets(apps, schema_editor):
    """Encrypt every secret still in clear (raw SQL: the field would refuse to read them)."""
    table = schema_editor.connection.ops.quote_name(
        apps.get_model("billing", "WebhookEndpoint")._meta.db_table
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, secret FROM {table}")  # noqa: S608 (a table name)
        rows = [(pk, secret) for pk, secret in cursor.fetchall()
                if secret and not secret.startswith(PREFIX)]  # fmt: skip
        for pk, secret in rows:
            cursor.execute(
                f"UPDATE {table} SET secret = %s WHERE id = %s",  # noqa: S608
                [encrypt(secret), pk],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_backfill_ledger"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=apps.core.fields.EncryptedTextField(
                help_text="The HMAC key (stored encrypted).", max_length=128
            ),
        ),
        migrations.RunPython(encrypt_existing_secrets, migrations.RunPython.noop),
    ]
