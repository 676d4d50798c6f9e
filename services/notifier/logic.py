"""The notifier's rules as plain functions over a DB session: no Flask, no SMTP here.

A consumed event updates the recipients read model and adds its email to the delivery log
(`messages`, status queued) in one transaction. Delivering is a claim (one conditional
UPDATE, judged by its row count), then SMTP outside any transaction, then the outcome. A claim
lapses after a lease, so a worker that dies mid-delivery does not hold a message for ever.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from services.notifier.emails import (
    CANCELLED,
    TEMPLATE_FOR_EVENT,
    Email,
    Links,
    Person,
    compose,
    message_id,
    to_mime,
)
from services.notifier.models import (
    FAILED,
    QUEUED,
    RETRYING,
    SENT,
    CaughtMessage,
    ErasedRegistration,
    KnownSession,
    Message,
    Outbox,
    Recipient,
)
from shared import contracts
from shared.contracts import TaskNames
from shared.db import utcnow
from shared.errors import NotFound, RuleError
from shared.outbox import add_event
from shared.sql import insert_for

log = structlog.get_logger(__name__)
SERVICE = "notifier"
UNKNOWN_RECIPIENT = "unknown recipient"
# A due message may run this much early: a Celery countdown and the database clock can differ.
CLOCK_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a temporarily failed message again, and when to stop trying."""

    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    give_up_seconds: float = 12 * 3600.0
    lease_seconds: float = 300.0

    def delay(self, attempts: int, draw: Callable[[], float] = random.random) -> float:
        """Exponential backoff with jitter: half of each step fixed, half random."""
        exponent = min(max(attempts - 1, 0), 40)
        step = min(self.max_seconds, self.base_seconds * float(2**exponent))
        return step / 2 + draw() * step / 2


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


def is_erased(db: Session, registration_id: str) -> bool:
    return db.get(ErasedRegistration, registration_id) is not None


# --- consuming events --------------------------------------------------------------------------


def registration_id_of(message: Mapping[str, Any]) -> str | None:
    participant = message.get("participant")
    if isinstance(participant, Mapping) and isinstance(participant.get("registration_id"), str):
        return str(participant["registration_id"])
    value = message.get("registration_id")
    return value if isinstance(value, str) else None


def handle_event(
    db: Session, name: str, message: dict[str, Any], links: Links, mail_from: str
) -> list[str]:
    """Act on one consumed event (the caller commits); return the ids of the emails queued."""
    registration_id = registration_id_of(message)
    assert registration_id is not None  # every consumed contract names the registration
    if name == TaskNames.ERASED:
        erase(db, registration_id)
        return []
    if name == TaskNames.EXPORT_REQUESTED:
        export(db, registration_id, message["request_id"])
        return []
    if is_erased(db, registration_id):
        log.info("event.about_erased_registration", event_id=message["event_id"], task=name)
        return []
    template = TEMPLATE_FOR_EVENT[name]
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
    return [add_message(db, key, person, email, mail_from).id]


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


# --- erasure -----------------------------------------------------------------------------------


def export(db: Session, registration_id: str, request_id: str) -> None:
    """Answer an export request with what this service holds on the person."""
    recipient = db.get(Recipient, registration_id)
    messages = db.scalars(
        select(Message)
        .where(Message.registration_id == registration_id)
        .order_by(Message.created_at)
    ).all()
    data = {
        "recipient": None
        if recipient is None
        else {"email": recipient.email, "name": recipient.name, "language": recipient.language},
        "emails": [
            {
                "to": message.to_address,
                "template": message.template,
                "language": message.language,
                "subject": message.subject,
                "status": message.status,
                "created_at": message.created_at.isoformat(),
                "sent_at": message.sent_at.isoformat() if message.sent_at else None,
            }
            for message in messages
        ],
    }
    add_event(
        db,
        Outbox,
        TaskNames.EXPORT_PART,
        {
            "registration_id": registration_id,
            "request_id": request_id,
            "service": SERVICE,
            "data": data,
        },
        subject=registration_id,
    )


def erase(db: Session, registration_id: str) -> None:
    """Forget the person: recipient, every email to them, caught copies; then confirm."""
    recipient = db.get(Recipient, registration_id)
    addresses = set(
        db.scalars(
            select(Message.to_address).where(
                Message.registration_id == registration_id, Message.to_address != ""
            )
        ).all()
    )
    if recipient is not None:
        addresses.add(recipient.email)
        db.delete(recipient)
    db.execute(delete(Message).where(Message.registration_id == registration_id))
    for address in addresses:
        forget_caught(db, address=address)
    if not is_erased(db, registration_id):
        db.add(ErasedRegistration(registration_id=registration_id))
    # Export answers not yet relayed hold the person's data too.
    db.execute(delete(Outbox).where(Outbox.subject_id == registration_id))
    add_event(
        db,
        Outbox,
        TaskNames.ERASURE_CONFIRMED,
        {"registration_id": registration_id, "service": SERVICE},
    )


def forget_caught(db: Session, address: str | None = None, message_id: str | None = None) -> int:
    """Delete the mail catcher's copies sent to an address, or carrying a Message-ID."""
    query = delete(CaughtMessage)
    if address is not None:
        query = query.where(
            CaughtMessage.envelope_to.contains(f"\n{address.lower()}\n", autoescape=True)
        )
    elif message_id is not None:
        query = query.where(CaughtMessage.message_id == message_id)
    else:
        raise ValueError("an address or a message id is needed")
    return int(db.execute(query).rowcount)  # type: ignore[attr-defined]


# --- delivering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """What one delivery attempt needs, copied out of the row so SMTP runs outside the session."""

    id: str
    to_address: str
    message_id: str
    mime: bytes
    attempts: int


def claim(db: Session, message_id: str, policy: RetryPolicy, now: datetime) -> Outgoing | None:
    """Take a due message for one attempt; None when it is sent, failed, not due or held."""
    row = db.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status.in_((QUEUED, RETRYING)),
            Message.to_address != "",
            or_(Message.claimed_until.is_(None), Message.claimed_until < now),
            or_(
                Message.next_attempt_at.is_(None),
                Message.next_attempt_at <= now + CLOCK_TOLERANCE,
            ),
        )
        .values(
            claimed_until=now + timedelta(seconds=policy.lease_seconds),
            attempts=Message.attempts + 1,
        )
        .returning(Message.to_address, Message.message_id, Message.mime, Message.attempts)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        return None
    return Outgoing(message_id, row.to_address, row.message_id, row.mime, row.attempts)


def record_sent(db: Session, message_id: str, now: datetime) -> bool:
    """Mark a message sent; False when it no longer exists (erased while it was in flight)."""
    result = db.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(status=SENT, sent_at=now, claimed_until=None, next_attempt_at=None, mime=b"")
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in: float | None = None


def record_failure(
    db: Session,
    message_id: str,
    error: str,
    permanent: bool,
    policy: RetryPolicy,
    now: datetime,
    draw: Callable[[], float] = random.random,
) -> Outcome | None:
    """Schedule the next attempt of a temporary failure, or record the message as failed."""
    row = db.get(Message, message_id, populate_existing=True)
    if row is None:
        return None
    row.claimed_until = None
    row.last_error = error[:2000]
    if permanent:
        row.status, row.next_attempt_at = FAILED, None
        return Outcome(FAILED)
    if row.give_up_at is None:
        row.give_up_at = now + timedelta(seconds=policy.give_up_seconds)
    if now >= row.give_up_at:
        row.status, row.next_attempt_at = FAILED, None
        row.last_error = f"gave up after {row.attempts} attempts: {error}"[:2000]
        return Outcome(FAILED)
    delay = policy.delay(row.attempts, draw)
    row.status, row.next_attempt_at = RETRYING, now + timedelta(seconds=delay)
    return Outcome(RETRYING, delay)


def due_messages(db: Session, now: datetime, grace: timedelta, limit: int = 500) -> list[str]:
    """Messages due for longer than `grace` and not held: their task was lost (or is late).

    Their due time moves to now, so the next sweep leaves them alone for another `grace`
    while the task queued for them waits its turn.
    """
    ids = list(
        db.scalars(
            select(Message.id)
            .where(
                Message.status.in_((QUEUED, RETRYING)),
                Message.to_address != "",
                Message.next_attempt_at <= now - grace,
                or_(Message.claimed_until.is_(None), Message.claimed_until < now),
            )
            .order_by(Message.next_attempt_at)
            .limit(limit)
        ).all()
    )
    if ids:
        db.execute(
            update(Message)
            .where(Message.id.in_(ids))
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


def resend(db: Session, message_id: str) -> Message:
    """Queue a failed message again (an organiser's decision); only failed ones can be."""
    row = db.get(Message, message_id)
    if row is None:
        raise NotFound("No such message.")
    if row.status != FAILED:
        raise RuleError(f"Only a failed message can be sent again; this one is {row.status}.")
    if not row.to_address:
        raise RuleError("This message has no recipient (the person is unknown or erased).")
    row.status, row.next_attempt_at = QUEUED, utcnow()
    row.give_up_at, row.claimed_until = None, None
    return row


# --- the delivery log --------------------------------------------------------------------------


def list_messages(
    db: Session,
    status: str | None = None,
    to: str | None = None,
    template: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Message], int]:
    """One page of the delivery log, newest first, and the number of matching messages."""
    conditions = []
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


def status_counts(db: Session) -> dict[str, int]:
    rows = db.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: int(count) for status, count in rows}
