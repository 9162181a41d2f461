"""One error shape for every 4xx answer of the API:

    {"error": {"status": 409, "code": "pool_exhausted", "message": "...",
               "fields": {"cluster": ["..."]}}}

`fields` names the request fields at fault (may be empty). Exceptions of the services
are mapped here, so no bad input ends in a 500: a service's refusal (apps/core/errors.py)
says its own status, code and field.
"""

from contextlib import contextmanager

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import Refused

NON_FIELD = "non_field_errors"


class ApiError(exceptions.APIException):
    """An API error with its status, code, message and fields."""

    def __init__(self, message: str, *, status_code: int, code: str, fields=None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}


class Conflict(ApiError):
    def __init__(self, message: str, *, code: str = "conflict", fields=None):
        super().__init__(message, status_code=409, code=code, fields=fields)


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"field" or "field.sub" or "items.0": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out.setdefault(prefix or NON_FIELD, []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                name = f"{prefix}.{index}" if prefix else str(index)
                for k, v in _flatten(item, name).items():
                    out.setdefault(k, []).extend(v)
    else:
        out.setdefault(prefix or NON_FIELD, []).append(str(detail))
    return {k: v for k, v in out.items() if v}


def django_validation_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD if field == "__all__" else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {NON_FIELD: list(exc.messages)}


def _summary(fields: dict[str, list[str]], fallback: str) -> str:
    for field, messages in fields.items():
        if messages:
            return messages[0] if field == NON_FIELD else f"{field}: {messages[0]}"
    return fallback


def error_response(
    *, status_code: int, code: str, message: str, fields=None, headers=None
) -> Response:
    body = {
        "error": {
            "status": status_code,
            "code": code,
            "message": message,
            "fields": fields or {},
        }
    }
    return Response(body, status=status_code, headers=headers)


CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
}


def _translate(exc):
    """Service and Django exceptions as ApiError; None for those DRF already knows."""
    if isinstance(exc, Refused):
        fields = {exc.field: [str(exc)]} if exc.field else None
        return ApiError(str(exc), status_code=exc.status_code, code=exc.code, fields=fields)
    if isinstance(exc, ProtectedError):
        names = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        message = f"Still in use by {', '.join(names) or 'other records'}; remove those first."
        return Conflict(message, code="protected")
    if isinstance(exc, DjangoValidationError):
        fields = django_validation_fields(exc)
        return ApiError(
            _summary(fields, "Invalid input."),
            status_code=400,
            code="validation_error",
            fields=fields,
        )
    if isinstance(exc, IntegrityError):
        return Conflict("The request conflicts with existing data; reload and retry.")
    return None


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error as {"error": {...}}."""
    translated = _translate(exc)
    if translated is not None:
        exc = translated
    if isinstance(exc, ApiError):
        return error_response(
            status_code=exc.status_code,
            code=exc.error_code,
            message=str(exc.detail),
            fields=exc.fields,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: let it be a 500 with its traceback logged
    headers = {
        name: response[name]
        for name in ("WWW-Authenticate", "Allow", "Retry-After")
        if name in response
    }
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        return error_response(
            status_code=status.HTTP_400_BAD_REQUEST,
            code="validation_error",
            message=_summary(fields, "Invalid input."),
            fields=fields,
            headers=headers,
        )
    code = next((c for cls, c in CODES.items() if isinstance(exc, cls)), None)
    detail = getattr(exc, "detail", "")
    if code is None:
        code = getattr(detail, "code", None) or "error"
    return error_response(
        status_code=response.status_code,
        code=str(code),
        message=str(detail) if not isinstance(detail, (dict, list)) else "Request failed.",
        fields=_flatten(detail) if isinstance(detail, (dict, list)) else {},
        headers=headers,
    )


@contextmanager
def conflict_on_invalid(code: str):
    """Report a service's ValidationError as 409 `code`: the object's current state (not
    the request) is what refuses it, e.g. stopping a stopped VM."""
    try:
        yield
    except DjangoValidationError as exc:
        fields = django_validation_fields(exc)
        raise Conflict(_summary(fields, "Conflict."), code=code, fields=fields) from exc
