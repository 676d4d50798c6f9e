"""Registration events become rows of the delivery log (`messages`); organisers read it.

A consumed event updates the recipients read model and adds its email to the delivery log
(status queued) in the transaction that records the event as processed; a change of details
only updates the read model; an organiser's one-time link (`organiser.email_requested`) is
written to the log like any email, about no participant. A message that
breaks its contract, or names a person the notifier never heard of, is kept as failed with
the reason. Sending is delivery.py's business.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from services.notifier import privacy
from services.notifier.emails import (
    CANCELLED,
    TEMPLATE_FOR_EVENT,
    Email,
    Links,
    Person,
    UnusableAddress,
    compose,
    compose_organiser_email,
    message_id,
    template_for,
    to_mime,
)
from services.notifier.models import (
    FAILED,
    QUEUED,
    KnownSession,
    Message,
    ProcessedEvent,
    Recipient,
)
from shared import audit, contracts
from shared.consumer import handle_once
from shared.contracts import TaskNames
from shared.db import Database, new_id, utcnow
from shared.errors import NotFound, RuleError
from shared.sql import insert_for

log = structlog.get_logger(__name__)
UNKNOWN_RECIPIENT = "unknown recipient"


# --- the read model ----------------------------------------------------------------------------


def person_of(recipient: Recipient) -> Person:
    return Person(
        registration_id=recipient.registration_id,
        email=recipient.email,
        name=recipient.name,
        language=recipient.language,
        token_version=recipient.token_version,
    )


def upsert_recipient(
    db: Session, participant: Mapping[str, Any], event_slug: str, occurred_at: datetime
) -> Recipient:
    """Record the participant as this event describes them, unless a later event already did.

    One statement, so two workers handling two events about one person at the same moment
    never collide on the primary key (which would roll one event back).
    """
    values = {
        "registration_id": participant["registration_id"],
        "email": participant["email"].strip().lower(),
        "name": participant["name"],
        "language": participant["language"],
        "token_version": participant["token_version"],
        "event_slug": event_slug,
        "updated_at": occurred_at,
    }
    insert = insert_for(db)(Recipient).values(**values)
    db.execute(
        insert.on_conflict_do_update(
            index_elements=[Recipient.registration_id],
            set_={key: insert.excluded[key] for key in values if key != "registration_id"},
            # An older event arriving late must not undo a newer change.
            where=Recipient.updated_at <= insert.excluded.updated_at,
        )
    )
    recipient = db.get(Recipient, participant["registration_id"], populate_existing=True)
    assert recipient is not None
    return recipient


_SESSION_SCHEMA = contracts.SessionInfo()


def remember_sessions(db: Session, event_slug: str, sessions: Iterable[Mapping[str, Any]]) -> None:
    """Keep the titles and times of sessions seen in events, to name released codes later."""
    for session in sessions:
        values = {
            "event_slug": event_slug,
            "code": session["code"],
            "info": _SESSION_SCHEMA.dump(session),
            "updated_at": utcnow(),
        }
        insert = insert_for(db)(KnownSession).values(**values)
        db.execute(
            insert.on_conflict_do_update(
                index_elements=[KnownSession.event_slug, KnownSession.code],
                set_={"info": insert.excluded.info, "updated_at": insert.excluded.updated_at},
            )
        )


def known_sessions(db: Session, event_slug: str, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    rows = db.scalars(
        select(KnownSession).where(
            KnownSession.event_slug == event_slug, KnownSession.code.in_(list(codes))
        )
    ).all()
    return {row.code: _SESSION_SCHEMA.load(row.info) for row in rows}


def sessions_in(name: str, message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if name == TaskNames.REGISTERED:
        return [seat["session"] for seat in message["seats"]]
    if "seat" in message:
        return [message["seat"]["session"]]
    if "session" in message:
        return [message["session"]]
    return []


# --- consuming events --------------------------------------------------------------------------


def registration_id_of(message: Mapping[str, Any]) -> str | None:
    participant = message.get("participant")
    if isinstance(participant, Mapping) and isinstance(participant.get("registration_id"), str):
        return str(participant["registration_id"])
    value = message.get("registration_id")
    return value if isinstance(value, str) else None


def consume(
    database: Database,
    name: str,
    kwargs: dict[str, Any],
    task_id: str | None,
    links: Links,
    mail_from: str,
) -> list[str]:
    """Handle one received event once; return the ids of the emails it queued (to send)."""
    try:
        contracts.load(name, kwargs)
    except contracts.ContractError as error:
        with database.transaction() as session:
            record_rejected(session, name, task_id or new_id(), kwargs, str(error))
        log.error("contract.rejected", task=name, task_id=task_id)
        return []
    queued: list[str] = []

    def handler(session: Session, message: dict[str, Any]) -> None:
        queued.extend(handle_event(session, name, message, links, mail_from))

    if not handle_once(database, ProcessedEvent, name, kwargs, handler):
        return []
    return queued


def handle_event(
    db: Session, name: str, message: dict[str, Any], links: Links, mail_from: str
) -> list[str]:
    """Act on one consumed event (the caller commits); return the ids of the emails queued."""
    if name == TaskNames.ORGANISER_EMAIL:
        return organiser_email(db, message, mail_from)
    registration_id = registration_id_of(message)
    assert registration_id is not None  # every consumed contract names the registration
    if name == TaskNames.ERASED:
        privacy.erase(db, registration_id)
        return []
    if name == TaskNames.EXPORT_REQUESTED:
        privacy.export(db, registration_id, message["request_id"])
        return []
    if privacy.is_erased(db, registration_id):
        log.info("event.about_erased_registration", event_id=message["event_id"], task=name)
        return []
    if name == TaskNames.DETAILS_CHANGED:
        # The participant made the change themselves on their page: the next email goes to the
        # new address in the new language; this change needs no email of its own.
        upsert_recipient(
            db, message["participant"], message["event"]["slug"], message["occurred_at"]
        )
        return []
    template = template_for(name, message)
    key = f"{message['event_id']}:{template}"
    event = message["event"]
    remember_sessions(db, event["slug"], sessions_in(name, message))
    if "participant" in message:
        recipient = upsert_recipient(
            db, message["participant"], event["slug"], message["occurred_at"]
        )
    else:
        found = db.get(Recipient, registration_id)
        if found is None:
            add_failed(db, key, template, registration_id, UNKNOWN_RECIPIENT)
            log.warning("message.unknown_recipient", key=key)
            return []
        recipient = found
    person = person_of(recipient)
    known = known_sessions(db, event["slug"], message["released"]) if template == CANCELLED else {}
    email = compose(template, message, person, links, known)
    try:
        return [add_message(db, key, person, email, mail_from).id]
    except UnusableAddress as error:
        add_failed(db, key, template, registration_id, f"unusable address: {error}")
        log.warning("message.unusable_address", key=key)
        return []


def add_message(db: Session, key: str, person: Person, email: Email, mail_from: str) -> Message:
    now = utcnow()
    row = Message(
        key=key,
        registration_id=person.registration_id,
        to_address=person.email,
        template=email.template,
        language=email.language,
        subject=email.subject,
        status=QUEUED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        message_id=message_id(key, mail_from),
        mime=to_mime(email, key, person.email, mail_from),
    )
    db.add(row)
    db.flush()
    return row


def organiser_email(db: Session, message: dict[str, Any], mail_from: str) -> list[str]:
    """An organiser's one-time link (sign-in, password reset, invitation): one row of the
    delivery log, sent like every email; about no participant, so no registration id."""
    email = compose_organiser_email(message)
    key = f"{message['event_id']}:{email.template}"
    address = message["email"].strip().lower()
    try:
        mime = to_mime(email, key, address, mail_from)
    except UnusableAddress as error:
        add_failed(db, key, email.template, None, f"unusable address: {error}")
        return []
    now = utcnow()
    row = Message(
        key=key,
        registration_id=None,
        to_address=address,
        template=email.template,
        language=email.language,
        subject=email.subject,
        status=QUEUED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        message_id=message_id(key, mail_from),
        mime=mime,
    )
    db.add(row)
    db.flush()
    return [row.id]


def add_failed(
    db: Session, key: str, template: str, registration_id: str | None, reason: str
) -> bool:
    """Record a message that cannot be sent at all (no retry); False if it is recorded already."""
    insert = insert_for(db)(Message).values(
        key=key,
        registration_id=registration_id,
        to_address="",
        template=template[:40],
        status=FAILED,
        attempts=0,
        last_error=reason[:2000],
        created_at=utcnow(),
    )
    result = db.execute(insert.on_conflict_do_nothing(index_elements=[Message.key]))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def record_rejected(
    db: Session, name: str, task_id: str, kwargs: Mapping[str, Any], reason: str
) -> bool:
    """A message that broke its contract: kept in the log as failed, with the reason."""
    template = TEMPLATE_FOR_EVENT.get(name, name)
    return add_failed(
        db, f"{task_id}:rejected", template, registration_id_of(kwargs), f"contract: {reason}"
    )


# --- the delivery log --------------------------------------------------------------------------


def list_messages(
    db: Session,
    status: str | None = None,
    to: str | None = None,
    template: str | None = None,
    page: int = 1,
    per_page: int = 50,
    events: Collection[str] | None = None,
) -> tuple[list[Message], int]:
    """One page of the delivery log, newest first, and the number of matching messages; only
    the messages about `events` (None: every message)."""
    conditions = in_events(events)
    if status:
        conditions.append(Message.status == status)
    if to:
        conditions.append(Message.to_address == to.strip().lower())
    if template:
        conditions.append(Message.template == template)
    total = db.scalar(select(func.count()).select_from(Message).where(*conditions)) or 0
    rows = db.scalars(
        select(Message)
        .where(*conditions)
        .order_by(Message.created_at.desc(), Message.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), int(total)


def in_events(events: Collection[str] | None) -> list[ColumnElement[bool]]:
    """The conditions that keep the messages about these events (None: no condition); a
    message about no known participant is about no event."""
    if events is None:
        return []
    people = select(Recipient.registration_id).where(Recipient.event_slug.in_(sorted(events)))
    return [Message.registration_id.in_(people)]


def status_counts(db: Session, events: Collection[str] | None = None) -> dict[str, int]:
    rows = db.execute(
        select(Message.status, func.count()).where(*in_events(events)).group_by(Message.status)
    ).all()
    return {status: int(count) for status, count in rows}


def get_message(db: Session, message_id: str) -> Message:
    """One message of the delivery log."""
    row = db.get(Message, message_id)
    if row is None:
        raise NotFound("No such message.")
    return row


def event_of(db: Session, message: Message) -> str | None:
    """The event a message is about: its recipient's, while the recipient is known."""
    if message.registration_id is None:
        return None
    return db.scalar(
        select(Recipient.event_slug).where(Recipient.registration_id == message.registration_id)
    )


def get_visible_message(db: Session, message_id: str, events: Collection[str] | None) -> Message:
    """One message of the delivery log, if it is about one of `events` (None: any message)."""
    row = get_message(db, message_id)
    if events is not None and event_of(db, row) not in events:
        raise NotFound("No such message.")
    return row


def resend(db: Session, message_id: str, events: Collection[str] | None = None) -> Message:
    """Queue a failed message again (an organiser's decision, for one of `events`); only failed
    ones can be."""
    row = get_visible_message(db, message_id, events)
    if row.status != FAILED:
        raise RuleError(f"Only a failed message can be sent again; this one is {row.status}.")
    if not row.to_address:
        raise RuleError("This message has no recipient (the person is unknown or erased).")
    row.status, row.next_attempt_at = QUEUED, utcnow()
    row.give_up_at, row.claimed_until = None, None
    audit.record(db, "messages.resent", row.id, event_of(db, row))
    return row
