"""Create the first administrator once (its password printed that once), and say how to
log in."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.tenancy.models import Membership, Role


class Command(BaseCommand):
    help = "Create the administrator account if it does not exist, and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("FABRIC_ADMIN_USER", "admin"))

    @transaction.atomic
    def handle(self, *args, username: str, **options):
        password_file = settings.VAR_DIR / "admin-password"
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            password = os.environ.get("FABRIC_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            user = user_model.objects.create_superuser(username=username, password=password)
            Membership.objects.create(user=user, role=Role.ADMIN)
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(
                f"Created administrator {username!r} with password {password}\n"
                f"Log in at http://127.0.0.1:8000/login/ (the password is also in "
                f"{password_file}, readable by this user only)."
            )
            return
        where = (
            f"its password is in {password_file}"
            if password_file.exists()
            else "with the password you set (`manage.py changepassword` resets it)"
        )
        self.stdout.write(f"Log in at http://127.0.0.1:8000/login/ as {username!r}: {where}.")
