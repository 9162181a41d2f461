"""Make an API key from the shell (the first one, for a billing system or a script): the
secret is printed once, alone on stdout, and never stored."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.tenancy.models import ApiKey, Role, Tenant
from apps.tenancy.services import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key for a tenant (--tenant NAME [--role tenant_user|read_only]) or "
        "acting as a user (--user USERNAME), and print its secret once on stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What uses the key, e.g. billing.")
        owner = parser.add_mutually_exclusive_group(required=True)
        owner.add_argument("--tenant", help="The tenant's name (or id) the key acts for.")
        owner.add_argument("--user", help="The username the key acts as (a user key).")
        parser.add_argument(
            "--role",
            choices=[role.value for role in ApiKey.TENANT_KEY_ROLES],
            default=Role.TENANT_USER.value,
            help="A tenant key's role (default: tenant_user).",
        )

    def handle(self, *args, name: str, tenant: str | None, user: str | None, role: str, **opts):
        owner, account = None, None
        if tenant is not None:
            owner = Tenant.objects.filter(name=tenant).first()
            if owner is None and tenant.isdigit():
                owner = Tenant.objects.filter(pk=int(tenant)).first()
            if owner is None:
                raise CommandError(f"--tenant: there is no tenant {tenant!r}.")
        else:
            account = get_user_model().objects.filter(username=user).first()
            if account is None:
                raise CommandError(f"--user: there is no user {user!r}.")
        try:
            key, secret = api_key_create(
                name=name, tenant=owner, user=account, role=role if owner else ""
            )
        except ValidationError as exc:
            fields = getattr(exc, "message_dict", {"key": exc.messages})
            raise CommandError(
                "; ".join(f"--{field}: {' '.join(m)}" for field, m in fields.items())
            ) from exc
        acts = f"tenant {owner.name} as {role}" if owner else f"user {account.username}"
        self.stderr.write(
            f"API key {key.name!r} ({key.prefix}…) acts for {acts}. Its secret, shown this "
            "once (only its hash is stored):"
        )
        if account is not None and not (account.is_superuser or account.memberships.exists()):
            self.stderr.write(f"Note: {account.username} has no role yet: the key can do nothing.")
        self.stdout.write(secret)
