"""Assertions and shared bad inputs for model-validation tests.

The requirement they check: bad input gives a clear error naming the field, and nothing
is saved.
"""

import pytest
from django.core.exceptions import ValidationError

NAME_HINT = "letters, digits, dots, dashes or underscores"
DESCRIPTION_HINT = "quotes, braces, semicolons and line breaks"


def bad_names() -> list:
    """Names a device would misparse, each with a readable id."""
    return [
        pytest.param('web"1', id="double-quote"),
        pytest.param("web'1", id="single-quote"),
        pytest.param("web{1}", id="braces"),
        pytest.param("web;1", id="semicolon"),
        pytest.param("web\n1", id="newline"),
        pytest.param("web1\r", id="carriage-return"),
        pytest.param("web1\n", id="trailing-newline"),
        pytest.param("web\t1", id="tab"),
        pytest.param("web\x001", id="nul"),
        pytest.param("web\x1b[31m", id="escape"),
        pytest.param("web#1", id="hash"),
        pytest.param("web\\1", id="backslash"),
        pytest.param("web 1", id="space"),
        pytest.param("-web1", id="leading-dash"),
        pytest.param(" web1", id="leading-space"),
        pytest.param(".web1", id="leading-dot"),
        pytest.param("wéb1", id="non-ascii"),
        pytest.param("w" * 64, id="64-chars"),
    ]


BAD_NAMES = bad_names()

GOOD_NAMES = ["node-01", "hv1.dc2", "web_1", "A", "9", "w" * 63]

BAD_DESCRIPTIONS = [
    pytest.param('say "hi"', id="double-quote"),
    pytest.param("it's", id="single-quote"),
    pytest.param("a {b}", id="braces"),
    pytest.param("a; b", id="semicolon"),
    pytest.param("line1\nline2", id="newline"),
    pytest.param("rack 4\n", id="trailing-newline"),
    pytest.param("a\tb", id="tab"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\x1b[2Jb", id="escape"),
    pytest.param("a # comment", id="hash"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("a" * 201, id="201-chars"),
]

GOOD_DESCRIPTIONS = ["", "Rack 4, row B (DC2) - ops@example.com", "a" * 200, "key=value/1+2:3"]


def assert_rejected(instance, field: str, *fragments: str) -> list[str]:
    """`instance.full_clean()` fails on `field` only, every fragment is in its messages,
    and no row of the model was written. Returns the field's messages."""
    model = type(instance)
    before = model.objects.count()
    with pytest.raises(ValidationError) as exc:
        instance.full_clean()
    errors = exc.value.message_dict
    assert set(errors) == {field}, errors
    text = " ".join(errors[field])
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert model.objects.count() == before
    return errors[field]


def assert_valid(instance) -> None:
    """`instance.full_clean()` passes (a ValidationError fails the test with its dict)."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        pytest.fail(f"unexpected validation errors: {exc.message_dict}")
