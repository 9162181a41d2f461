"""Who makes a request's writes: the user and, for the API, the key (see ObjectChange).

DRF authenticates inside the view, after the middleware ran: the actor and the key are
read when each change is saved (callables), by then `request.user`/`request.auth` are set.
"""

from auditlog.middleware import AuditlogMiddleware
from django.contrib.auth import get_user_model

from apps.tenancy.models import ApiKey


def _user_id(request) -> int | None:
    user = getattr(request, "user", None)
    if isinstance(user, get_user_model()) and user.is_authenticated:
        return user.pk
    return None


def _user_email(request) -> str | None:
    user = getattr(request, "user", None)
    if isinstance(user, get_user_model()) and user.is_authenticated:
        return user.email or None
    return None


def _api_key_id(request) -> int | None:
    auth = getattr(request, "auth", None)
    return auth.pk if isinstance(auth, ApiKey) else None


class ChangeLogMiddleware(AuditlogMiddleware):
    """auditlog's middleware, with the API key and without trusting X-Forwarded-For."""

    @staticmethod
    def _get_remote_addr(request):
        return request.META.get("REMOTE_ADDR") or None

    @staticmethod
    def _get_remote_port(request):
        return None

    def get_extra_data(self, request):
        data = super().get_extra_data(request)
        del data["actor"]  # read at save time instead: DRF sets the user in the view
        data["actor_id"] = lambda: _user_id(request)
        data["actor_email"] = lambda: _user_email(request)
        data["api_key_id"] = lambda: _api_key_id(request)
        return data
