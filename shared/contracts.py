"""The seam between services: queue names, task names and one schema per message.

The sender dumps with the schema, the receiver loads with it (unknown fields raise).
No service imports another service's code; this module is all they share.
"""

from __future__ import annotations

import functools
from typing import Any

from marshmallow import RAISE, Schema, fields, validate

LANGUAGES = ("fr", "nl", "en")
ORGANISER_ROLES = ("admin", "manager", "desk", "rapporteur", "viewer")
ORGANISER_EMAIL_KINDS = ("sign_in", "password_reset", "invitation")
# `held`: taken, but only until the participant confirms their email address (`hold_expires_at`).
SEAT_STATUSES = ("confirmed", "held", "waitlisted")
# Why a seat changed, where its event's name alone does not say: a held seat confirmed by the
# participant's email confirmation (`seat_promoted`), or released when its hold ran out
# (`seat_released`). Absent for everything else.
SEAT_REASONS = ("email_confirmed", "hold_expired")
# The services that hold personal data besides registration: they answer export requests
# and confirm erasures.
ERASING_SERVICES = ("feedback", "notifier")


class Queues:
    REGISTRATION = "registration"
    FEEDBACK = "feedback"
    NOTIFIER = "notifier"
    # Email deliveries, apart: a slow or silent mail server never delays the events on `notifier`.
    NOTIFIER_DELIVERY = "notifier.delivery"


class TaskNames:
    """Each name is both the event a service emits and the task its consumers run."""

    REGISTERED = "registration.registered"
    SEAT_CONFIRMED = "registration.seat_confirmed"
    SEAT_WAITLISTED = "registration.seat_waitlisted"
    SEAT_PROMOTED = "registration.seat_promoted"
    SEAT_RELEASED = "registration.seat_released"
    CANCELLED = "registration.cancelled"
    ERASED = "registration.erased"
    LINK_REQUESTED = "registration.link_requested"
    DETAILS_CHANGED = "registration.details_changed"
    EVENT_PUBLISHED = "programme.event_published"
    SESSION_PUBLISHED = "programme.session_published"
    ERASURE_CONFIRMED = "privacy.erasure_confirmed"
    FEEDBACK_INVITATION = "feedback.invitation_due"
    EXPORT_REQUESTED = "privacy.export_requested"
    EXPORT_PART = "privacy.export_part"
    # Organiser accounts: each carries the account's whole state (`OrganiserAccountMessage`).
    ORGANISER_ACCOUNT_CREATED = "organiser.account_created"
    ORGANISER_ACCOUNT_CHANGED = "organiser.account_changed"
    ORGANISER_ACCOUNT_DISABLED = "organiser.account_disabled"
    ORGANISER_ROLES_CHANGED = "organiser.roles_changed"
    ORGANISER_TOKEN_ISSUED = "organiser.token_issued"
    ORGANISER_TOKEN_REVOKED = "organiser.token_revoked"
    # An email to an organiser: a sign-in link, a password reset, an invitation.
    ORGANISER_EMAIL = "organiser.email_requested"


ORGANISER_EVENTS = (
    TaskNames.ORGANISER_ACCOUNT_CREATED,
    TaskNames.ORGANISER_ACCOUNT_CHANGED,
    TaskNames.ORGANISER_ACCOUNT_DISABLED,
    TaskNames.ORGANISER_ROLES_CHANGED,
    TaskNames.ORGANISER_TOKEN_ISSUED,
    TaskNames.ORGANISER_TOKEN_REVOKED,
)


class OwnTasks:
    """Tasks a service sends only to its own queue: not events, but named here all the same,
    so that every task name the project uses is in one place."""

    DELIVER = "notifier.deliver"
    REBUILD_REPORT = "feedback.rebuild_report"
    SEND_INVITATIONS = "feedback.send_invitations"
    REBUILD_STALE_REPORTS = "feedback.rebuild_stale_reports"


# The own tasks that run on a queue of their own rather than their service's main queue.
OWN_TASK_QUEUES: dict[str, str] = {OwnTasks.DELIVER: Queues.NOTIFIER_DELIVERY}


class Translations(fields.Dict):
    """A text in several languages: {"fr": ..., "nl": ..., "en": ...}."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(), values=fields.String(), load_default=dict, **kwargs)


class _Message(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class EventInfo(_Message):
    slug = fields.String(required=True)
    title = fields.String(required=True)
    title_translations = Translations()
    city = fields.String(required=True)
    city_translations = Translations()
    timezone = fields.String(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    feedback_closes_at = fields.AwareDateTime(required=True)


class SessionInfo(_Message):
    code = fields.String(required=True)
    title = fields.String(required=True)
    title_translations = Translations()
    kind = fields.String(required=True)
    # `theme` as entered is the key sessions, recommendations and the report group by;
    # its translations are only what readers see.
    theme = fields.String(required=True)
    theme_translations = Translations()
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    room = fields.String(load_default="")
    room_translations = Translations()
    language = fields.String(load_default="")


class Participant(_Message):
    registration_id = fields.String(required=True)
    email = fields.Email(required=True)
    name = fields.String(required=True)
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    token_version = fields.Integer(required=True)
    organisation = fields.String(load_default="")
    city = fields.String(load_default="")
    country = fields.String(load_default="")
    role = fields.String(load_default="")


class Seat(_Message):
    session = fields.Nested(SessionInfo, required=True)
    status = fields.String(required=True, validate=validate.OneOf(SEAT_STATUSES))
    waitlist_position = fields.Integer(allow_none=True, load_default=None)
    hold_expires_at = fields.AwareDateTime(allow_none=True, load_default=None)
    reason = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(SEAT_REASONS)
    )


class _EventMessage(_Message):
    event_id = fields.String(required=True)
    occurred_at = fields.AwareDateTime(required=True)


class RegisteredMessage(_EventMessage):
    event = fields.Nested(EventInfo, required=True)
    participant = fields.Nested(Participant, required=True)
    seats = fields.List(fields.Nested(Seat), required=True)


class SeatMessage(_EventMessage):
    """A change to one seat: confirmed, waitlisted, promoted or released."""

    event = fields.Nested(EventInfo, required=True)
    participant = fields.Nested(Participant, required=True)
    seat = fields.Nested(Seat, required=True)


class CancelledMessage(_EventMessage):
    event = fields.Nested(EventInfo, required=True)
    participant = fields.Nested(Participant, required=True)
    released = fields.List(fields.String(), required=True)


class ErasedMessage(_EventMessage):
    """Carries no personal data: consumers erase what they hold under the id."""

    registration_id = fields.String(required=True)
    event_slug = fields.String(required=True)


class DetailsChangedMessage(_EventMessage):
    """A participant corrected their name, organisation, city, country, role or language."""

    event = fields.Nested(EventInfo, required=True)
    participant = fields.Nested(Participant, required=True)


class LinkRequestedMessage(_EventMessage):
    event = fields.Nested(EventInfo, required=True)
    participant = fields.Nested(Participant, required=True)


class EventPublishedMessage(_EventMessage):
    event = fields.Nested(EventInfo, required=True)


class SessionPublishedMessage(_EventMessage):
    event_slug = fields.String(required=True)
    session = fields.Nested(SessionInfo, required=True)
    capacity = fields.Integer(allow_none=True, required=True)


class ErasureConfirmedMessage(_EventMessage):
    """A service reports it holds nothing more on a registration."""

    registration_id = fields.String(required=True)
    service = fields.String(required=True, validate=validate.OneOf(ERASING_SERVICES))


class ExportRequestedMessage(_EventMessage):
    """A participant asked for all data held on them: each service answers with its part."""

    registration_id = fields.String(required=True)
    request_id = fields.String(required=True)


class ExportPartMessage(_EventMessage):
    """One service's data on a participant, in answer to an export request."""

    registration_id = fields.String(required=True)
    request_id = fields.String(required=True)
    service = fields.String(required=True, validate=validate.OneOf(ERASING_SERVICES))
    data = fields.Dict(required=True)


class OrganiserRole(_Message):
    event = fields.String(required=True, validate=validate.Length(min=1, max=80))
    role = fields.String(required=True, validate=validate.OneOf(ORGANISER_ROLES))


class OrganiserTokenState(_Message):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    token_hash = fields.String(required=True, validate=validate.Length(equal=64))
    revoked = fields.Boolean(required=True)


class OrganiserAccountState(_Message):
    """An organiser account as the other services need it to authorise: no password, no
    second factor, token hashes only. `version` orders the states of one account."""

    id = fields.String(required=True)
    email = fields.Email(required=True)
    name = fields.String(required=True)
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    disabled = fields.Boolean(required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    roles = fields.List(fields.Nested(OrganiserRole), required=True)
    tokens = fields.List(fields.Nested(OrganiserTokenState), required=True)


class OrganiserAccountMessage(_EventMessage):
    """Any change to an organiser account: created, changed, disabled, roles, a token."""

    account = fields.Nested(OrganiserAccountState, required=True)


class OrganiserEmailMessage(_EventMessage):
    """A link for an organiser, to be emailed: it signs in, resets a password or accepts an
    invitation, once, until `expires_at`."""

    kind = fields.String(required=True, validate=validate.OneOf(ORGANISER_EMAIL_KINDS))
    account_id = fields.String(required=True)
    email = fields.Email(required=True)
    name = fields.String(required=True)
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    url = fields.Url(required=True, require_tld=False)
    expires_at = fields.AwareDateTime(required=True)


class FeedbackInvitationMessage(_EventMessage):
    """A session is over: invite one attendee to rate it (the notifier knows their address)."""

    registration_id = fields.String(required=True)
    event = fields.Nested(EventInfo, required=True)
    session = fields.Nested(SessionInfo, required=True)


SCHEMAS: dict[str, type[_Message]] = {
    TaskNames.REGISTERED: RegisteredMessage,
    TaskNames.SEAT_CONFIRMED: SeatMessage,
    TaskNames.SEAT_WAITLISTED: SeatMessage,
    TaskNames.SEAT_PROMOTED: SeatMessage,
    TaskNames.SEAT_RELEASED: SeatMessage,
    TaskNames.CANCELLED: CancelledMessage,
    TaskNames.ERASED: ErasedMessage,
    TaskNames.LINK_REQUESTED: LinkRequestedMessage,
    TaskNames.DETAILS_CHANGED: DetailsChangedMessage,
    TaskNames.EVENT_PUBLISHED: EventPublishedMessage,
    TaskNames.SESSION_PUBLISHED: SessionPublishedMessage,
    TaskNames.ERASURE_CONFIRMED: ErasureConfirmedMessage,
    TaskNames.FEEDBACK_INVITATION: FeedbackInvitationMessage,
    TaskNames.EXPORT_REQUESTED: ExportRequestedMessage,
    TaskNames.EXPORT_PART: ExportPartMessage,
    **{name: OrganiserAccountMessage for name in ORGANISER_EVENTS},
    TaskNames.ORGANISER_EMAIL: OrganiserEmailMessage,
}

_PARTICIPANT_EVENTS = (
    TaskNames.REGISTERED,
    TaskNames.SEAT_CONFIRMED,
    TaskNames.SEAT_WAITLISTED,
    TaskNames.SEAT_PROMOTED,
    TaskNames.SEAT_RELEASED,
    TaskNames.CANCELLED,
    TaskNames.ERASED,
    TaskNames.DETAILS_CHANGED,
)

# Which queues receive each event: the outbox relay publishes one task per queue.
SUBSCRIBERS: dict[str, tuple[str, ...]] = {
    **{name: (Queues.NOTIFIER, Queues.FEEDBACK) for name in _PARTICIPANT_EVENTS},
    TaskNames.LINK_REQUESTED: (Queues.NOTIFIER,),
    TaskNames.EVENT_PUBLISHED: (Queues.FEEDBACK,),
    TaskNames.SESSION_PUBLISHED: (Queues.FEEDBACK,),
    TaskNames.ERASURE_CONFIRMED: (Queues.REGISTRATION,),
    TaskNames.FEEDBACK_INVITATION: (Queues.NOTIFIER,),
    TaskNames.EXPORT_REQUESTED: (Queues.NOTIFIER, Queues.FEEDBACK),
    TaskNames.EXPORT_PART: (Queues.REGISTRATION,),
    **{name: (Queues.FEEDBACK, Queues.NOTIFIER) for name in ORGANISER_EVENTS},
    TaskNames.ORGANISER_EMAIL: (Queues.NOTIFIER,),
}


def subscribed(queue: str) -> tuple[str, ...]:
    """The events a queue receives: the tasks its service's worker must consume."""
    return tuple(name for name, queues in SUBSCRIBERS.items() if queue in queues)


@functools.cache
def _field_names(schema: type[Schema]) -> tuple[str, ...]:
    return tuple(schema().fields)


def part_from(schema: type[Schema], source: Any) -> dict[str, Any]:
    """A nested message part (EventInfo, SessionInfo) from a model or row of the same names."""
    return {name: getattr(source, name) for name in _field_names(schema)}


class ContractError(ValueError):
    """A message does not match its schema."""


_INSTANCES: dict[str, _Message] = {}


def _schema(name: str) -> _Message:
    # Schema instances are stateless between calls and costly to build: keep one per name.
    if name not in _INSTANCES:
        if name not in SCHEMAS:
            raise ContractError(f"unknown task name {name!r}")
        _INSTANCES[name] = SCHEMAS[name]()
    return _INSTANCES[name]


def dump(name: str, payload: dict[str, Any], full_check: bool = False) -> dict[str, Any]:
    """A message's JSON-ready form (sender side), with its required fields checked.

    The full check re-loads the message through the schema: the tests do it for every
    message the services write; at run time it would double the cost of a registration.
    """
    schema = _schema(name)
    missing = sorted(
        key for key, field in schema.fields.items() if field.required and key not in payload
    )
    if missing:
        raise ContractError(f"{name}: missing {', '.join(missing)}")
    data: dict[str, Any] = schema.dump(payload)
    if full_check:
        errors = schema.validate(data)
        if errors:
            raise ContractError(f"{name}: {errors}")
    return data


def load(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validate and deserialise a received message (receiver side)."""
    from marshmallow import ValidationError

    try:
        data: dict[str, Any] = _schema(name).load(kwargs)
    except ValidationError as error:
        raise ContractError(f"{name}: {error.messages}") from None
    return data
