"""Request and response schemas of the registration API (they are the OpenAPI document)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from email_validator import EmailNotValidError, validate_email
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from services.registration.models import ROLES, SESSION_KINDS
from shared.contracts import LANGUAGES

Translations = fields.Dict(
    keys=fields.String(validate=validate.OneOf(LANGUAGES)),
    values=fields.String(validate=validate.Length(min=1, max=300)),
    load_default=dict,
)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class Email(fields.String):
    """An email address, checked once and given back normalised (lower case)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return check_email(super()._deserialize(value, attr, data, **kwargs))


def check_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValidationError(f"Not a valid email address: {error}") from None


def check_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory: OSError
        raise ValidationError(f"Unknown time zone {value!r} (use an IANA name).") from None


class EventIn(StrictSchema):
    slug = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z0-9][a-z0-9-]{1,79}$", error="Lower-case letters, digits and dashes."
        ),
    )
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    title_translations = Translations
    city = fields.String(required=True, validate=validate.Length(min=1, max=120))
    timezone = fields.String(required=True, validate=check_timezone)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    languages = fields.List(
        fields.String(validate=validate.OneOf(LANGUAGES)),
        required=True,
        validate=validate.Length(min=1),
    )
    registration_opens_at = fields.AwareDateTime(required=True)
    registration_closes_at = fields.AwareDateTime(required=True)
    feedback_closes_at = fields.AwareDateTime(load_default=None)

    @validates_schema
    def check_order(self, data: dict[str, Any], **_: Any) -> None:
        errors = {}
        if "starts_on" in data and "ends_on" in data and data["ends_on"] < data["starts_on"]:
            errors["ends_on"] = ["Must not be before starts_on."]
        opens, closes = data.get("registration_opens_at"), data.get("registration_closes_at")
        if opens and closes and closes <= opens:
            errors["registration_closes_at"] = ["Must be after registration_opens_at."]
        if errors:
            raise ValidationError(errors)


class EventOut(Schema):
    slug = fields.String()
    title = fields.String()
    title_translations = fields.Dict()
    city = fields.String()
    timezone = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    languages = fields.List(fields.String())
    registration_opens_at = fields.AwareDateTime()
    registration_closes_at = fields.AwareDateTime()
    feedback_closes_at = fields.AwareDateTime()


class SessionFields(StrictSchema):
    title = fields.String(validate=validate.Length(min=1, max=300))
    title_translations = Translations
    description = fields.String(validate=validate.Length(max=5000))
    kind = fields.String(validate=validate.OneOf(SESSION_KINDS))
    theme = fields.String(validate=validate.Length(min=1, max=120))
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    room = fields.String(validate=validate.Length(max=200))
    capacity = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=100_000))
    speakers = fields.List(fields.String(validate=validate.Length(min=1, max=200)))
    language = fields.String(validate=validate.OneOf(LANGUAGES))

    @validates_schema
    def check_times(self, data: dict[str, Any], **_: Any) -> None:
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError({"ends_at": ["Must be after starts_at."]})


class SessionIn(SessionFields):
    code = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$", error="Letters, digits, - and _."
        ),
    )
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    kind = fields.String(required=True, validate=validate.OneOf(SESSION_KINDS))
    theme = fields.String(required=True, validate=validate.Length(min=1, max=120))
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    capacity = fields.Integer(
        required=True, allow_none=True, validate=validate.Range(min=0, max=100_000)
    )
    room = fields.String(load_default="", validate=validate.Length(max=200))
    speakers = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)), load_default=list
    )
    language = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))
    description = fields.String(load_default="", validate=validate.Length(max=5000))


class SessionPatch(SessionFields):
    pass


class SessionOut(Schema):
    code = fields.String()
    title = fields.String()
    title_translations = fields.Dict()
    description = fields.String()
    kind = fields.String()
    theme = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    room = fields.String()
    capacity = fields.Integer(allow_none=True)
    speakers = fields.List(fields.String())
    language = fields.String()
    seats_taken = fields.Integer()
    seats_left = fields.Integer(allow_none=True)
    waitlist_length = fields.Integer()


class RegistrationIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = Email(required=True, validate=validate.Length(max=254))
    organisation = fields.String(load_default="", validate=validate.Length(max=200))
    city = fields.String(load_default="", validate=validate.Length(max=120))
    country = fields.String(required=True, metadata={"description": "ISO 3166-1 alpha-2"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    session_codes = fields.List(
        fields.String(validate=validate.Length(min=1, max=40)),
        load_default=list,
        validate=validate.Length(max=50),
    )
    consent = fields.Boolean(required=True)

    @validates("country")
    def check_country(self, value: str, **_: Any) -> None:
        if len(value) != 2 or pycountry.countries.get(alpha_2=value.upper()) is None:
            raise ValidationError("Not an ISO 3166-1 alpha-2 country code (e.g. BE, FR, NL).")

    @validates("consent")
    def check_consent(self, value: bool, **_: Any) -> None:
        if value is not True:
            raise ValidationError("Consent to the processing of your data is required.")

    @validates("name")
    def check_name(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Must not be blank.")

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["country"] = data["country"].upper()
        return data


class SeatOut(Schema):
    code = fields.String()
    status = fields.String(metadata={"enum": ["confirmed", "waitlisted"]})
    waitlist_position = fields.Integer(allow_none=True)


class RegistrationCreated(Schema):
    id = fields.String()
    manage_token = fields.String()
    sessions = fields.List(fields.Nested(SeatOut))


class RegistrationOut(Schema):
    id = fields.String()
    event = fields.String()
    name = fields.String()
    email = fields.String()
    organisation = fields.String()
    city = fields.String()
    country = fields.String()
    role = fields.String()
    language = fields.String()
    status = fields.String()
    consent_at = fields.String(metadata={"format": "date-time"})
    created_at = fields.String(metadata={"format": "date-time"})
    cancelled_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    sessions = fields.List(fields.Nested(SeatOut))


class ResendLinkIn(StrictSchema):
    # Normalised as at registration, so the look-up finds the stored address.
    email = Email(required=True, validate=validate.Length(max=254))


class AddSessionIn(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))


class RegistrationListArgs(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
