"""Request and response schemas of the registration API (they are the OpenAPI document)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
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

from services.registration.models import (
    HOLD_MINUTES_MAX,
    HOLD_MINUTES_MIN,
    ROLES,
    SESSION_KINDS,
)
from shared.contracts import LANGUAGES, SEAT_STATUSES
from shared.validation import Day, Email, Moment, Text
from shared.validation import check_email as check_email


def translations(max_length: int = 300, multiline: bool = False, **kwargs: Any) -> fields.Dict:
    """A text's translations, {"fr": ..., "nl": ..., "en": ...}: our three languages only."""
    return fields.Dict(
        keys=fields.String(validate=validate.OneOf(LANGUAGES)),
        values=Text(multiline=multiline, validate=validate.Length(min=1, max=max_length)),
        **kwargs,
    )


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


def check_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory: OSError
        raise ValidationError(f"Unknown time zone {value!r} (use an IANA name).") from None


class EventIn(StrictSchema):
    slug = Text(
        required=True,
        validate=validate.Regexp(
            r"^[a-z0-9][a-z0-9-]{1,79}$", error="Lower-case letters, digits and dashes."
        ),
    )
    title = Text(required=True, validate=validate.Length(min=1, max=300))
    title_translations = translations(load_default=dict)
    city = Text(required=True, validate=validate.Length(min=1, max=120))
    city_translations = translations(120, load_default=dict)
    timezone = Text(required=True, validate=check_timezone)
    starts_on = Day(required=True)
    ends_on = Day(required=True)
    languages = fields.List(
        fields.String(validate=validate.OneOf(LANGUAGES)),
        required=True,
        validate=validate.Length(min=1),
    )
    registration_opens_at = Moment(required=True)
    registration_closes_at = Moment(required=True)
    feedback_closes_at = Moment(load_default=None)

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
    city_translations = fields.Dict()
    timezone = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    languages = fields.List(fields.String())
    registration_opens_at = fields.AwareDateTime()
    registration_closes_at = fields.AwareDateTime()
    feedback_closes_at = fields.AwareDateTime()


class SpeakerIn(StrictSchema):
    name = Text(load_default="", validate=validate.Length(max=200))
    organisation = Text(load_default="", validate=validate.Length(max=200))
    bio = translations(1000, multiline=True, load_default=dict)

    @validates_schema
    def check_someone(self, data: dict[str, Any], **_: Any) -> None:
        # A speaker named by function only has no name, but then the bio says who speaks.
        if not (data.get("name", "").strip() or data.get("bio")):
            raise ValidationError({"name": ["A speaker needs a name or a bio."]})


class Speaker(fields.Field):
    """A speaker: a name (as the API always took) or {name, organisation, bio}; loaded as
    the object, so every stored speaker has the same shape."""

    _object = SpeakerIn()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            raise ValidationError("A name, or an object {name, organisation, bio}.")
        speaker: dict[str, Any] = self._object.load(value)
        speaker["name"] = speaker["name"].strip()
        return speaker


class SpeakerOut(Schema):
    name = fields.String()
    organisation = fields.String()
    bio = fields.Dict()


HOLD_MINUTES = (
    "Against seat squatting: for how many minutes (5 to 10080) a place is held for someone "
    "whose email address is not confirmed yet. The place counts as taken; the confirmation "
    "email carries a link that confirms the address and the place; a hold not confirmed in "
    "time is released and the waiting list moves. null (the default): places are confirmed "
    "at once."
)


class SessionFields(StrictSchema):
    title = Text(validate=validate.Length(min=1, max=300))
    title_translations = translations(load_default=dict)
    description = Text(multiline=True, validate=validate.Length(max=5000))
    description_translations = translations(5000, multiline=True, load_default=dict)
    kind = fields.String(validate=validate.OneOf(SESSION_KINDS))
    theme = Text(validate=validate.Length(min=1, max=120))
    theme_translations = translations(120, load_default=dict)
    starts_at = Moment()
    ends_at = Moment()
    room = Text(validate=validate.Length(max=200))
    room_translations = translations(200, load_default=dict)
    capacity = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=100_000)
    )
    speakers = fields.List(Speaker(), validate=validate.Length(max=50))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    hold_minutes = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=HOLD_MINUTES_MIN, max=HOLD_MINUTES_MAX),
        metadata={"description": HOLD_MINUTES},
    )

    @validates_schema
    def check_times(self, data: dict[str, Any], **_: Any) -> None:
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError({"ends_at": ["Must be after starts_at."]})


class SessionIn(SessionFields):
    code = Text(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$", error="Letters, digits, - and _."
        ),
    )
    title = Text(required=True, validate=validate.Length(min=1, max=300))
    kind = fields.String(required=True, validate=validate.OneOf(SESSION_KINDS))
    theme = Text(required=True, validate=validate.Length(min=1, max=120))
    starts_at = Moment(required=True)
    ends_at = Moment(required=True)
    capacity = fields.Integer(
        required=True,
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=100_000),
    )
    room = Text(load_default="", validate=validate.Length(max=200))
    speakers = fields.List(Speaker(), load_default=list, validate=validate.Length(max=50))
    language = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))
    description = Text(multiline=True, load_default="", validate=validate.Length(max=5000))
    hold_minutes = fields.Integer(
        strict=True,
        allow_none=True,
        load_default=None,
        validate=validate.Range(min=HOLD_MINUTES_MIN, max=HOLD_MINUTES_MAX),
        metadata={"description": HOLD_MINUTES},
    )


class SessionPatch(SessionFields):
    # A PATCH changes only what it names: no default may overwrite a stored value.
    title_translations = translations()
    description_translations = translations(5000, multiline=True)
    theme_translations = translations(120)
    room_translations = translations(200)


class SessionOut(Schema):
    code = fields.String()
    title = fields.String()
    title_translations = fields.Dict()
    description = fields.String()
    description_translations = fields.Dict()
    kind = fields.String()
    theme = fields.String()
    theme_translations = fields.Dict()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    room = fields.String()
    room_translations = fields.Dict()
    capacity = fields.Integer(allow_none=True)
    speakers = fields.List(fields.Nested(SpeakerOut))
    language = fields.String()
    hold_minutes = fields.Integer(allow_none=True, metadata={"description": HOLD_MINUTES})
    seats_taken = fields.Integer(metadata={"description": "Confirmed and held places."})
    seats_left = fields.Integer(allow_none=True)
    waitlist_length = fields.Integer()


class DetailsFields(StrictSchema):
    """What a participant tells about themselves, checked alike at registration and on a
    later correction."""

    name = Text(validate=validate.Length(min=1, max=200))
    organisation = Text(validate=validate.Length(max=200))
    city = Text(validate=validate.Length(max=120))
    country = Text(metadata={"description": "ISO 3166-1 alpha-2"})
    role = fields.String(validate=validate.OneOf(ROLES))
    language = fields.String(validate=validate.OneOf(LANGUAGES))

    @validates("country")
    def check_country(self, value: str, **_: Any) -> None:
        if len(value) != 2 or pycountry.countries.get(alpha_2=value.upper()) is None:
            raise ValidationError("Not an ISO 3166-1 alpha-2 country code (e.g. BE, FR, NL).")

    @validates("name")
    def check_name(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Must not be blank.")

    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "country" in data:
            data["country"] = data["country"].upper()
        return data


class RegistrationIn(DetailsFields):
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    email = Email(required=True, validate=validate.Length(max=254))
    organisation = Text(load_default="", validate=validate.Length(max=200))
    city = Text(load_default="", validate=validate.Length(max=120))
    country = Text(required=True, metadata={"description": "ISO 3166-1 alpha-2"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    session_codes = fields.List(
        Text(validate=validate.Length(min=1, max=40)),
        load_default=list,
        validate=validate.Length(max=50),
    )
    consent = fields.Boolean(required=True)

    @validates("consent")
    def check_consent(self, value: bool, **_: Any) -> None:
        if value is not True:
            raise ValidationError("Consent to the processing of your data is required.")


class DetailsPatch(DetailsFields):
    """A participant's correction of their details: any of them, the email address aside."""


class SeatOut(Schema):
    code = fields.String()
    status = fields.String(
        metadata={
            "enum": list(SEAT_STATUSES),
            "description": "`held`: taken until `hold_expires_at` unless the email address is "
            "confirmed first, with the link in the confirmation email.",
        }
    )
    waitlist_position = fields.Integer(allow_none=True)
    hold_expires_at = fields.String(allow_none=True, metadata={"format": "date-time"})


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
    email_confirmed_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    sessions = fields.List(fields.Nested(SeatOut))


class EmailConfirmationIn(StrictSchema):
    token = Text(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "The token of the link in the confirmation email."},
    )


class EmailConfirmationOut(Schema):
    email_confirmed_at = fields.AwareDateTime()
    sessions = fields.List(fields.Nested(SeatOut))
    expired = fields.List(
        fields.String(),
        metadata={"description": "Sessions whose hold ran out before the confirmation."},
    )


class ResendLinkIn(StrictSchema):
    # Normalised as at registration, so the look-up finds the stored address.
    email = Email(required=True, validate=validate.Length(max=254))


class AddSessionIn(StrictSchema):
    code = Text(required=True, validate=validate.Length(min=1, max=40))


class RegistrationListArgs(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
