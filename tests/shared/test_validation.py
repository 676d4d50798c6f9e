"""The shared checks of typed text, dates and email addresses, and that every input schema of
every service uses them."""

from __future__ import annotations

import importlib
import inspect
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from marshmallow import Schema, ValidationError, fields, validate

from shared import validation
from shared.validation import Day, Email, Moment, Text, check_email, text_error


class Form(Schema):
    line = Text()
    lines = Text(multiline=True)
    day = Day()
    moment = Moment()
    email = Email()


@pytest.mark.parametrize(
    ("value", "multiline", "error"),
    [
        ("Liège – Luik", False, None),
        ("Ana\ud800", False, validation.SURROGATE_ERROR),
        ("\udfff", True, validation.SURROGATE_ERROR),
        ("Ana\x00", True, validation.NUL_ERROR),
        ("Ana\x1b[31m", False, validation.CONTROL_ERROR),
        ("Ana\x1b[31m", True, validation.CONTROL_IN_MULTILINE_ERROR),
        ("Ana\x85", True, validation.CONTROL_IN_MULTILINE_ERROR),  # C1: NEL
        ("Ana\x7f", False, validation.CONTROL_ERROR),
        ("one\ntwo", False, validation.CONTROL_ERROR),
        ("one\r\n\ttwo", True, None),
        ("\tone", False, validation.CONTROL_ERROR),
        ("😀 Ωμέγα 中文", False, None),
    ],
)
def test_text_error_names_what_cannot_be_stored(value, multiline, error):
    assert text_error(value, multiline) == error


def test_a_text_field_refuses_with_its_reason_under_its_name():
    with pytest.raises(ValidationError) as refused:
        Form().load({"line": "a\nb", "lines": "a\x00b"})
    assert refused.value.messages == {
        "line": [validation.CONTROL_ERROR],
        "lines": [validation.NUL_ERROR],
    }
    assert Form().load({"line": "a b", "lines": "a\nb"}) == {"line": "a b", "lines": "a\nb"}


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("day", "1999-12-31", False),
        ("day", "2000-01-01", True),
        ("day", "2100-12-31", True),
        ("day", "2101-01-01", False),
        ("day", "0001-01-01", False),
        ("day", "9999-12-31", False),
        ("moment", "2000-01-01T00:00:00+01:00", True),
        ("moment", "0001-01-01T00:00:00+01:00", False),
        ("moment", "9999-12-31T23:00:00-05:00", False),
        ("moment", "2100-12-31T23:00:00-05:00", True),
    ],
)
def test_days_and_moments_stay_in_the_years_of_a_conference(field, value, ok):
    if ok:
        loaded = Form().load({field: value})[field]
        assert isinstance(loaded, date)
        # far from the limits: a time zone or a default window can be added
        if isinstance(loaded, datetime):
            assert (loaded.astimezone(UTC) + timedelta(days=30)).year <= 2101
        return
    with pytest.raises(ValidationError) as refused:
        Form().load({field: value})
    assert refused.value.messages == {field: [validation.YEAR_ERROR]}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Ana@Example.ORG ", "ana@example.org"),
        ("jose@exämple.org", "jose@xn--exmple-cua.org"),
        ("a@MÜNCHEN.de", "a@xn--mnchen-3ya.de"),
        ("jose@xn--exmple-cua.org", "jose@xn--exmple-cua.org"),
    ],
)
def test_an_address_is_stored_with_its_domain_in_ascii(typed, stored):
    assert check_email(typed) == stored
    assert check_email(stored) == stored  # normalising twice changes nothing


def test_an_address_with_letters_beyond_ascii_before_the_at_is_refused_clearly():
    with pytest.raises(ValidationError) as refused:
        check_email("jösé@example.org")
    assert refused.value.messages == [validation.NON_ASCII_EMAIL_ERROR]
    assert "only Latin letters before the @" in validation.NON_ASCII_EMAIL_ERROR


@pytest.mark.parametrize(
    "typed",
    [
        "ana\ud800@example.org",
        "ana\x00@example.org",
        "ana@example.org\r\nBcc: x@example.org",
        '"ana b"@example.org',
        "ana@[127.0.0.1]",
        "ana@localhost",
        "ana@xn--ls8h.la",
        "",
    ],
)
def test_an_email_field_refuses_what_cannot_be_sent(typed):
    with pytest.raises(ValidationError) as refused:
        Form().load({"email": typed})
    assert list(refused.value.messages) == ["email"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/things/a", 200), ("/things/a%00b", 404), ("/things/%01", 404), ("/things/é", 200)],
)
def test_a_path_with_a_control_character_is_a_404_before_the_view(path, status):
    app = Flask(__name__)
    seen: list[str] = []
    app.before_request(validation.refuse_control_characters_in_path)

    @app.get("/things/<name>")
    def thing(name: str) -> str:
        seen.append(name)
        return name

    assert app.test_client().get(path).status_code == status
    assert len(seen) == (1 if status == 200 else 0)


# --- every input schema uses them ---------------------------------------------------------------

SCHEMA_MODULES = (
    "services.registration.schemas",
    "services.registration.accounts_api",
    "services.feedback.schemas",
    "services.notifier.schemas",
    "shared.audit",
    "shared.deadletters",
)
INPUT_SUFFIXES = ("In", "Patch", "Args", "Fields")


def input_schemas() -> list[Any]:
    found = []
    for name in SCHEMA_MODULES:
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Schema)
                and cls.__module__ == name
                and cls_name.endswith(INPUT_SUFFIXES)
            ):
                found.append(pytest.param(cls, id=f"{name.split('.')[1]}.{cls_name}"))
    return found


def loose_fields(field: fields.Field, path: str) -> list[str]:
    """The free-text strings under a field that are not checked by `Text` (a string from a
    fixed list is safe as it is)."""
    if isinstance(field, fields.List):
        return loose_fields(field.inner, f"{path}[]")
    if isinstance(field, fields.Dict):
        keys = loose_fields(field.key_field, f"{path}.key") if field.key_field else []
        values = loose_fields(field.value_field, f"{path}.value") if field.value_field else []
        return keys + values
    if isinstance(field, fields.Nested):
        return [p for n, f in field.schema.fields.items() for p in loose_fields(f, f"{path}.{n}")]
    if isinstance(field, fields.String) and not isinstance(field, Text):
        if not any(isinstance(v, validate.OneOf) for v in field.validators):
            return [path]
    if isinstance(field, fields.Date | fields.DateTime) and not isinstance(field, Day | Moment):
        return [path]
    return []


@pytest.mark.parametrize("schema", input_schemas())
def test_every_text_and_date_of_every_input_schema_is_checked(schema):
    loose = [p for n, f in schema().fields.items() for p in loose_fields(f, n)]
    assert loose == []


def test_the_schemas_were_found():
    names = {p.id for p in input_schemas()}
    assert {"registration.RegistrationIn", "feedback.FeedbackIn", "notifier.MessageListArgs"} <= (
        names
    )
