"""Refusals: what a service raises when the current state refuses a write.

Not bad input (that is a ValidationError naming the field) but "not now": a full pool, a
cluster not ready, a reached quota. Each subclass says how the API answers it (status, a
stable code, the request field at fault), so that the API maps them all in one place
(apps/api/exceptions.py) without importing the apps that raise them.
"""


class Refused(Exception):
    """A write the current state refuses; the API answers `status_code` with `code`."""

    status_code = 409
    code = "conflict"
    field = ""  # the request field at fault ("": none)
