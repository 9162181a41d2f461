"""A service's refusal says its own API answer (apps/core/errors.py): the API maps every
one without importing the apps that raise them, and each keeps the answer it had."""

import pytest

from apps.api.exceptions import exception_handler
from apps.billing.models import AppendOnlyError
from apps.compute.services import (
    ClusterNotReady,
    IdempotencyKeyReused,
    InvalidTransition,
    QuotaExceeded,
)
from apps.ipam.services import AddressInUse, PoolExhausted


@pytest.mark.parametrize(
    ("refusal", "status", "code", "field"),
    [
        (PoolExhausted, 409, "pool_exhausted", "cluster"),
        (ClusterNotReady, 409, "not_ready", "cluster"),
        (QuotaExceeded, 409, "quota_exceeded", "tenant"),
        (InvalidTransition, 409, "invalid_transition", "state"),
        (AddressInUse, 409, "address_in_use", "status"),
        (IdempotencyKeyReused, 422, "idempotency_key_reused", "Idempotency-Key"),
        (AppendOnlyError, 409, "append_only", None),
    ],
)
def test_each_refusal_is_answered_with_its_status_code_and_field(refusal, status, code, field):
    response = exception_handler(refusal("Not now."), {})

    assert response.status_code == status
    assert response.data == {
        "error": {
            "status": status,
            "code": code,
            "message": "Not now.",
            "fields": {field: ["Not now."]} if field else {},
        }
    }
