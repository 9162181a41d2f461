"""API throttles: a fixed-window counter per principal in Django's cache (Redis).

Rates come from `settings.FABRIC_API_THROTTLE_RATES` (`{"anon": "60/min", "authenticated":
"1200/min"}`, read on every request, so tests can lower them). Keys are counted per API
key, sessions per user, anonymous requests per client address. The counter is one atomic
`INCR` in the shared cache, so every gunicorn worker sees the same count. If the cache
is unreachable the request is served (and a warning logged) rather than refused.
"""

import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import APIException
from rest_framework.throttling import BaseThrottle

from apps.tenancy.models import ApiKey

logger = logging.getLogger(__name__)
PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """A rate such as "120/min" as (120, 60); None (or empty) for no limit."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().lower()]


class _FixedWindowThrottle(BaseThrottle):
    scope = ""

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(getattr(settings, "FABRIC_API_THROTTLE_RATES", {}).get(self.scope))
        ident = self.ident(request)
        if rate is None or ident is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.scope}:{ident}:{period}:{window}"
        try:
            count = self._count(key, period)
        except (redis.RedisError, OSError) as exc:  # no cache: serve rather than fail
            logger.warning("API throttle not applied, the cache is unreachable: %s", exc)
            return True
        self._wait = (window + 1) * period - now
        return count <= limit

    @staticmethod
    def _count(key: str, period: int) -> int:
        cache.add(key, 0, timeout=period + 1)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=period + 1)
            return 1

    def wait(self) -> float:
        return max(1.0, self._wait)


class AnonRateThrottle(_FixedWindowThrottle):
    """Unauthenticated requests (and failed keys), per client address."""

    scope = "anon"

    def ident(self, request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)


class PrincipalRateThrottle(_FixedWindowThrottle):
    """Authenticated requests: per API key (user or tenant key), else per session user."""

    scope = "authenticated"

    def ident(self, request) -> str | None:
        if isinstance(request.auth, ApiKey):
            return f"key:{request.auth.pk}"
        if request.user and request.user.is_authenticated and getattr(request.user, "pk", None):
            return f"user:{request.user.pk}"
        return None


class ThrottleBeforeRefusingMixin:
    """Throttle requests that authentication or permissions refuse too (DRF throttles only
    after them): a client guessing keys or probing anonymously gets 429, not endless 401s."""

    def check_throttles(self, request):
        request._fabric_throttled = True
        super().check_throttles(request)

    def initial(self, request, *args, **kwargs):
        try:
            super().initial(request, *args, **kwargs)
        except APIException:
            if not getattr(request, "_fabric_throttled", False):
                self.check_throttles(request)
            raise
