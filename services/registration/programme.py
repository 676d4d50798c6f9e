"""The programme: events and their sessions, as organisers publish them. No Flask here.

Every change is announced (`programme.event_published`, `programme.session_published`), so
the other services keep their copy of the programme up to date.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from services.registration.models import WAITLISTED, Event, Outbox, ProgrammeSession, Seat
from services.registration.payloads import event_info, session_info
from services.registration.seats import lock_session, promote_waitlist
from shared import audit
from shared.contracts import TaskNames
from shared.db import utcnow
from shared.errors import InvalidInput, NotFound, RuleError
from shared.outbox import add_event

FEEDBACK_WINDOW = timedelta(days=14)

_EVENTS = Event.__table__
_EVENT_BY_SLUG = select(_EVENTS).where(_EVENTS.c.slug == bindparam("slug"))


def get_event(db: Session, slug: str) -> Event:
    event = db.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise NotFound(f"No event {slug!r}.")
    return event


def event_row(db: Session, slug: str) -> Any:
    """The event as a plain row (attribute access like the model), for the hot path."""
    row = db.connection().execute(_EVENT_BY_SLUG, {"slug": slug}).first()
    if row is None:
        raise NotFound(f"No event {slug!r}.")
    return row


def create_event(db: Session, data: dict[str, Any]) -> Event:
    if db.scalar(select(Event.id).where(Event.slug == data["slug"])) is not None:
        raise RuleError(f"An event with slug {data['slug']!r} already exists.", "slug")
    data = dict(data)
    if data.get("feedback_closes_at") is None:
        ends = datetime.combine(data["ends_on"], datetime.min.time(), tzinfo=utcnow().tzinfo)
        data["feedback_closes_at"] = ends + FEEDBACK_WINDOW + timedelta(days=1)
    event = Event(**data)
    db.add(event)
    db.flush()
    add_event(db, Outbox, TaskNames.EVENT_PUBLISHED, {"event": event_info(event)})
    audit.record(db, "programme.event_created", event.slug, event.slug)
    return event


def get_session(db: Session, event: Event, code: str) -> ProgrammeSession:
    session = db.scalar(
        select(ProgrammeSession).where(
            ProgrammeSession.event_id == event.id, ProgrammeSession.code == code
        )
    )
    if session is None:
        raise NotFound(f"No session {code!r} in {event.slug!r}.")
    return session


def _publish_session(db: Session, event: Event, session: ProgrammeSession) -> None:
    add_event(
        db,
        Outbox,
        TaskNames.SESSION_PUBLISHED,
        {"event_slug": event.slug, "session": session_info(session), "capacity": session.capacity},
    )


def create_session(db: Session, event: Event, data: dict[str, Any]) -> ProgrammeSession:
    exists = select(ProgrammeSession.id).where(
        ProgrammeSession.event_id == event.id, ProgrammeSession.code == data["code"]
    )
    if db.scalar(exists) is not None:
        raise RuleError(f"A session with code {data['code']!r} already exists.", "code")
    session = ProgrammeSession(event_id=event.id, seats_taken=0, waitlist_counter=0, **data)
    db.add(session)
    db.flush()
    _publish_session(db, event, session)
    audit.record(db, "programme.session_created", session.code, event.slug)
    return session


def update_session(
    db: Session, event: Event, session: ProgrammeSession, changes: dict[str, Any]
) -> list[Seat]:
    """Apply organiser edits; a larger capacity promotes from the waiting list."""
    starts = changes.get("starts_at", session.starts_at)
    ends = changes.get("ends_at", session.ends_at)
    if ends <= starts:
        raise InvalidInput("Must be after starts_at.", "ends_at")
    lock_session(db, session.id)
    db.refresh(session)  # the locked row: no seat can be claimed between check and write
    capacity = changes.get("capacity", session.capacity)
    if capacity is not None and capacity < session.seats_taken:
        raise RuleError(
            f"{session.seats_taken} seats are already taken; cancel seats before lowering "
            f"the capacity below that.",
            "capacity",
        )
    for key, value in changes.items():
        setattr(session, key, value)
    db.flush()
    promoted = promote_waitlist(db, session)
    _publish_session(db, event, session)
    audit.record(db, "programme.session_changed", session.code, event.slug)
    return promoted


def timetable(db: Session, event: Event) -> list[tuple[ProgrammeSession, int]]:
    """Every session of the event with its waiting-list length, in time order."""
    waiting = (
        select(Seat.session_id, func.count().label("n"))
        .where(Seat.status == WAITLISTED)
        .group_by(Seat.session_id)
        .subquery()
    )
    rows = db.execute(
        select(ProgrammeSession, func.coalesce(waiting.c.n, 0))
        .outerjoin(waiting, waiting.c.session_id == ProgrammeSession.id)
        .where(ProgrammeSession.event_id == event.id)
        .order_by(ProgrammeSession.starts_at, ProgrammeSession.code)
    ).all()
    return [(session, int(n)) for session, n in rows]
