"""The read model: what this service keeps of the registration events, and lookups over it.

- Events, sessions, participants (never their name or address) and seats follow the
  registration service's messages; `HANDLERS` names the function that applies each one.
- Counters kept with every change (confirmed seats per session, people per theme) let the
  summaries and the report read a few rows instead of every seat.
- A change the stored report does not show yet marks it out of date (`mark_report_dirty`).
- An erased person stays erased: every event about them after the erasure (late, repeated or
  reordered) is dropped (`unless_erased`).
"""

from __future__ import annotations

from datetime import datetime
from functools import wraps
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.feedback.models import (
    ACTIVE,
    CANCELLED,
    CONFIRMED,
    Attendance,
    ErasedRegistration,
    Event,
    Participant,
    ProgrammeSession,
    Report,
    ThemeMember,
)
from shared import consumer
from shared.auth import ParticipantClaim
from shared.consumer import Handler
from shared.contracts import TaskNames
from shared.db import utcnow
from shared.errors import NotFound, Unauthorised
from shared.sql import dialect_insert


class NotReady(Exception):
    """A message refers to something not received yet (out of order); retry it later."""


# --- the stored report's freshness ------------------------------------------------------------


def mark_report_dirty(db: Session, event_id: int, now: datetime | None = None) -> None:
    """Note that the event's report misses a change (the periodic job or a reader rebuilds it)."""
    db.execute(
        update(Report)
        .where(Report.event_id == event_id, Report.dirty_since.is_(None))
        .values(dirty_since=now or utcnow())
        .execution_options(synchronize_session=False)
    )


# --- erased people -----------------------------------------------------------------------------


def is_erased(db: Session, registration_id: str) -> bool:
    return consumer.is_erased(db, ErasedRegistration, registration_id)


def unless_erased(handler: Handler) -> Handler:
    """The handler of a participant's event, doing nothing when that participant was erased."""

    @wraps(handler)
    def handle(db: Session, message: dict[str, Any]) -> None:
        if not is_erased(db, message["participant"]["registration_id"]):
            handler(db, message)

    return handle


# --- events, sessions, participants and their seats ------------------------------------------


def upsert_event(db: Session, info: dict[str, Any]) -> Event:
    event = db.scalar(select(Event).where(Event.slug == info["slug"]))
    if event is None:
        event = Event(slug=info["slug"])
        db.add(event)
    for key in ("title", "city", "timezone", "starts_on", "ends_on", "feedback_closes_at"):
        setattr(event, key, info[key])
    _translations(event, info, "title_translations", "city_translations")
    db.flush()
    if db.get(Report, event.id) is None:
        db.add(Report(event_id=event.id, keyword_cache={}))
        db.flush()
    return event


def _translations(row: Event | ProgrammeSession, info: dict[str, Any], *names: str) -> None:
    """Copy texts in other languages; a message from before they existed carries none."""
    for name in names:
        setattr(row, name, dict(info.get(name) or {}))


def upsert_session(db: Session, event: Event, info: dict[str, Any]) -> ProgrammeSession:
    session = db.scalar(
        select(ProgrammeSession).where(
            ProgrammeSession.event_id == event.id, ProgrammeSession.code == info["code"]
        )
    )
    old_theme = session.theme if session is not None else None
    if session is None:
        session = ProgrammeSession(event_id=event.id, code=info["code"], attendees=0)
        db.add(session)
    for key in ("title", "kind", "theme", "starts_at", "ends_at", "room", "language"):
        setattr(session, key, info.get(key, ""))
    _translations(session, info, "title_translations", "theme_translations", "room_translations")
    db.flush()
    if old_theme is not None and old_theme != session.theme:
        _move_theme(db, session, old_theme)
    return session


def _move_theme(db: Session, session: ProgrammeSession, old_theme: str) -> None:
    """A session changed theme: its attendees' seats count for the new one now."""
    attendees = db.scalars(
        select(Attendance.registration_id).where(
            Attendance.session_id == session.id, Attendance.status == CONFIRMED
        )
    ).all()
    for registration_id in attendees:
        _count_member(db, session.event_id, old_theme, registration_id, -1)
        _count_member(db, session.event_id, session.theme, registration_id, 1)


def upsert_participant(db: Session, event: Event, info: dict[str, Any]) -> Participant:
    """Keep what eligibility and the aggregates need; never the name or the address."""
    participant = db.get(Participant, info["registration_id"])
    if participant is None:
        participant = Participant(
            registration_id=info["registration_id"], event_id=event.id, token_version=0
        )
        db.add(participant)
    _copy_details(participant, info)
    db.flush()
    return participant


def _copy_details(participant: Participant, info: dict[str, Any]) -> None:
    """What is kept of a person's details (every participant message carries them all)."""
    # Token versions only grow (a new version revokes old links): a late message can't undo it.
    participant.token_version = max(participant.token_version, info["token_version"])
    participant.language = info["language"]
    participant.country = (info.get("country") or "").upper()
    participant.city = (info.get("city") or "").strip()
    participant.role = info.get("role") or ""
    participant.updated_at = utcnow()


def _count_member(db: Session, event_id: int, theme: str, registration_id: str, delta: int) -> None:
    """A confirmed seat in one of a theme's sessions taken (+1) or given up (-1)."""
    key = {"event_id": event_id, "theme": theme, "registration_id": registration_id}
    if delta > 0:
        statement = dialect_insert(db, ThemeMember).values(**key, seats=delta)
        db.execute(
            statement.on_conflict_do_update(
                index_elements=list(key), set_={"seats": ThemeMember.seats + delta}
            )
        )
        return
    match = [getattr(ThemeMember, column) == value for column, value in key.items()]
    db.execute(update(ThemeMember).where(*match).values(seats=ThemeMember.seats + delta))
    db.execute(delete(ThemeMember).where(*match, ThemeMember.seats <= 0))


def count_seat(db: Session, session: ProgrammeSession, registration_id: str, delta: int) -> None:
    """The session's attendee count and its theme's members follow confirmed seats."""
    db.execute(
        update(ProgrammeSession)
        .where(ProgrammeSession.id == session.id)
        .values(attendees=ProgrammeSession.attendees + delta)
        .execution_options(synchronize_session=False)
    )
    _count_member(db, session.event_id, session.theme, registration_id, delta)


def set_seat(db: Session, participant: Participant, session: ProgrammeSession, status: str) -> None:
    """Record a seat's status; counts follow confirmed seats."""
    seat = db.get(Attendance, (participant.registration_id, session.id))
    before = seat.status if seat else None
    if seat is None:
        seat = Attendance(
            registration_id=participant.registration_id, session_id=session.id, status=status
        )
        db.add(seat)
    seat.status = status
    if before != status and CONFIRMED in (before, status):
        count_seat(db, session, participant.registration_id, 1 if status == CONFIRMED else -1)
    db.flush()


def remove_seat(db: Session, registration_id: str, session_id: int) -> None:
    seat = db.get(Attendance, (registration_id, session_id))
    if seat is None:
        return
    if seat.status == CONFIRMED:
        count_seat(db, db.get_one(ProgrammeSession, session_id), registration_id, -1)
    db.delete(seat)
    db.flush()


def _seat(db: Session, event: Event, participant: Participant, seat: dict[str, Any]) -> None:
    session = upsert_session(db, event, seat["session"])
    set_seat(db, participant, session, seat["status"])


# --- the registration events -----------------------------------------------------------------


def on_event_published(db: Session, message: dict[str, Any]) -> None:
    upsert_event(db, message["event"])


def on_session_published(db: Session, message: dict[str, Any]) -> None:
    event = db.scalar(select(Event).where(Event.slug == message["event_slug"]))
    if event is None:
        raise NotReady(f"event {message['event_slug']!r} not received yet")
    upsert_session(db, event, message["session"])
    mark_report_dirty(db, event.id)


@unless_erased
def on_registered(db: Session, message: dict[str, Any]) -> None:
    event = upsert_event(db, message["event"])
    participant = upsert_participant(db, event, message["participant"])
    participant.status = ACTIVE
    for seat in message["seats"]:
        _seat(db, event, participant, seat)
    mark_report_dirty(db, event.id)


@unless_erased
def on_seat(db: Session, message: dict[str, Any]) -> None:
    """A seat confirmed, waitlisted or promoted from the waiting list."""
    event = upsert_event(db, message["event"])
    participant = upsert_participant(db, event, message["participant"])
    participant.status = ACTIVE
    _seat(db, event, participant, message["seat"])
    mark_report_dirty(db, event.id)


@unless_erased
def on_seat_released(db: Session, message: dict[str, Any]) -> None:
    event = upsert_event(db, message["event"])
    participant = upsert_participant(db, event, message["participant"])
    session = upsert_session(db, event, message["seat"]["session"])
    remove_seat(db, participant.registration_id, session.id)
    mark_report_dirty(db, event.id)


@unless_erased
def on_cancelled(db: Session, message: dict[str, Any]) -> None:
    event = upsert_event(db, message["event"])
    participant = upsert_participant(db, event, message["participant"])
    participant.status = CANCELLED
    session_ids = db.scalars(
        select(Attendance.session_id).where(
            Attendance.registration_id == participant.registration_id
        )
    ).all()
    for session_id in sorted(session_ids):
        remove_seat(db, participant.registration_id, session_id)
    mark_report_dirty(db, event.id)


@unless_erased
def on_details_changed(db: Session, message: dict[str, Any]) -> None:
    """A participant corrected their details: update the copy kept here, if there is one.

    Nothing is created: someone unknown here (erased, or not registered yet) stays unknown, and
    their registration brings their details when it comes."""
    participant = db.get(Participant, message["participant"]["registration_id"])
    if participant is None:
        return
    upsert_event(db, message["event"])
    _copy_details(participant, message["participant"])
    db.flush()
    mark_report_dirty(db, participant.event_id)


# The registration events that change the read model (privacy.HANDLERS has the others).
HANDLERS = {
    TaskNames.EVENT_PUBLISHED: on_event_published,
    TaskNames.SESSION_PUBLISHED: on_session_published,
    TaskNames.REGISTERED: on_registered,
    TaskNames.SEAT_CONFIRMED: on_seat,
    TaskNames.SEAT_WAITLISTED: on_seat,
    TaskNames.SEAT_PROMOTED: on_seat,
    TaskNames.SEAT_RELEASED: on_seat_released,
    TaskNames.CANCELLED: on_cancelled,
    TaskNames.DETAILS_CHANGED: on_details_changed,
}


# --- lookups ---------------------------------------------------------------------------------


def get_event(db: Session, slug: str) -> Event:
    event = db.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise NotFound(f"No event {slug!r}.", code="no_event")
    return event


def get_session(db: Session, event: Event, code: str) -> ProgrammeSession:
    session = db.scalar(
        select(ProgrammeSession).where(
            ProgrammeSession.event_id == event.id, ProgrammeSession.code == code
        )
    )
    if session is None:
        raise NotFound(f"No session {code!r} in {event.slug!r}.", code="no_session")
    return session


def find_participant(db: Session, claim: ParticipantClaim) -> Participant:
    """The participant a verified token names, if that token has not been revoked."""
    participant = db.get(Participant, claim.registration_id)
    if participant is None or participant.token_version != claim.token_version:
        raise Unauthorised("This link is no longer valid.", code="invalid_link")
    return participant


def themes(db: Session, event: Event) -> list[str]:
    rows = db.scalars(
        select(ProgrammeSession.theme).where(ProgrammeSession.event_id == event.id).distinct()
    ).all()
    return sorted(rows)
