"""OpenAPI details drf-spectacular cannot guess: the Bearer keys and every error answer."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from apps.api.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    400: "Invalid input; `fields` names what is wrong.",
    401: "No credentials, or an invalid or revoked API key.",
    403: "Your role may not do this.",
    404: "No such object (or it belongs to another tenant).",
    409: "The object's state or the platform's resources refuse this "
    "(e.g. `pool_exhausted`, `quota_exceeded`, `invalid_state`, `protected`).",
    422: "The Idempotency-Key was already used with a different request.",
    429: "Too many requests from this key, user or address: retry after `Retry-After` seconds.",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer fpk_...` (user or tenant key).",
        }


class AutoSchema(SpectacularAutoSchema):
    """Adds the error answers (one shared `Error` body) to every operation."""

    def _error_codes(self) -> set[int]:
        codes = {401, 403, 429}
        action = getattr(self.view, "action", None)
        if "{" in self.path:
            codes.add(404)
        if action == "list" or self.method in ("POST", "PUT", "PATCH"):
            codes.add(400)
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.add(409)  # the object's state refuses it, or a concurrent write won
        if action == "list":
            codes.add(404)  # a page past the end
        extra = getattr(self.view, "extra_errors", {})
        codes.update(extra.get(action, ()))
        codes.update(extra.get("*", ()))
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in sorted(self._error_codes()):
            if str(code) in responses:
                continue
            response = self._get_response_for_code(
                ErrorSerializer, str(code), media_types=["application/json"], direction=direction
            )
            response["description"] = ERROR_DESCRIPTIONS[code]
            responses[str(code)] = response
        return responses


def blank_or_pattern_any_of(result, generator, request, public):
    """drf-spectacular describes a blank-allowed field with a pattern as
    `oneOf: [pattern, maxLength 0]`; "" matches both, which `oneOf` forbids: use anyOf."""

    def walk(node):
        if isinstance(node, dict):
            options = node.get("oneOf")
            if isinstance(options, list) and {"type": "string", "maxLength": 0} in options:
                node["anyOf"] = node.pop("oneOf")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
