"""`Authorization: Bearer <key>` with the API keys of apps.tenancy (session auth also works)."""

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from apps.tenancy.selectors import api_key_for_secret
from apps.tenancy.services import api_key_touch


class TenantKeyUser(AnonymousUser):
    """What `request.user` is for a tenant key: authenticated, but no Django user."""

    def __init__(self, api_key):
        super().__init__()
        self.api_key = api_key
        self.username = f"apikey:{api_key.prefix}"

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_authenticated(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.username


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """An API key in `Authorization: Bearer <key>`; revoked or unknown keys answer 401."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the key as `Authorization: Bearer <key>`.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        api_key = api_key_for_secret(secret)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if api_key.tenant_id is not None and not api_key.tenant.is_active:
            raise exceptions.AuthenticationFailed("The key's tenant is suspended.")
        if api_key.user_id is not None:
            if not api_key.user.is_active:
                raise exceptions.AuthenticationFailed("The key's user is inactive.")
            user = api_key.user
        else:
            user = TenantKeyUser(api_key)
        api_key_touch(api_key=api_key)
        return user, api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
