"""Seats: claim, release, promote the waiting list, waiting-list positions. No Flask here.

This is the only code that changes seats; the registration rush (`registrations.register`)
and the manage page both claim through `claim`. The seat claim is one conditional UPDATE
(`seats_taken < capacity`) judged by its row count, so the database, not Python, decides who
gets the last place. Every change to a session's seats first updates that session's row,
which serialises concurrent changes to one session (a row lock on PostgreSQL, BEGIN
IMMEDIATE on SQLite). Sessions are always locked in id order, so two registrations never
deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from services.registration.models import (
    CONFIRMED,
    WAITLISTED,
    ProgrammeSession,
    Registration,
    Seat,
)
from services.registration.payloads import seat_event
from shared.contracts import TaskNames
from shared.db import utcnow
from shared.errors import InvalidInput

_SESSIONS = ProgrammeSession.__table__
_SEATS = Seat.__table__
# Built once: these run on every registration, so they skip the ORM and its per-call set-up.
_TAKE_SEAT = (
    update(_SESSIONS)
    .where(
        _SESSIONS.c.id == bindparam("session_id"),
        or_(_SESSIONS.c.capacity.is_(None), _SESSIONS.c.seats_taken < _SESSIONS.c.capacity),
    )
    .values(seats_taken=_SESSIONS.c.seats_taken + 1)
)
_NEXT_WAITLIST_SEQ = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("session_id"))
    .values(waitlist_counter=_SESSIONS.c.waitlist_counter + 1)
    .returning(_SESSIONS.c.waitlist_counter)
)
_WAITING_AHEAD = select(func.count()).where(
    _SEATS.c.session_id == bindparam("session_id"),
    _SEATS.c.status == WAITLISTED,
    _SEATS.c.waitlist_seq < bindparam("seq"),
)


@dataclass
class SeatResult:
    code: str
    status: str
    waitlist_position: int | None


def lock_session(db: Session, session_id: int) -> None:
    # A no-op UPDATE takes the row lock on PostgreSQL (SQLite holds the write lock already).
    db.execute(
        update(ProgrammeSession)
        .where(ProgrammeSession.id == session_id)
        .values(seats_taken=ProgrammeSession.seats_taken)
        .execution_options(synchronize_session=False)
    )


def _try_take_seat(db: Session, session_id: int) -> bool:
    """The atomic claim: one UPDATE that succeeds only while a place is free."""
    result = db.connection().execute(_TAKE_SEAT, {"session_id": session_id})
    return result.rowcount == 1


def _next_waitlist_seq(db: Session, session_id: int) -> int:
    seq = db.connection().execute(_NEXT_WAITLIST_SEQ, {"session_id": session_id}).scalar_one()
    return int(seq)


def claim(db: Session, session_id: int, now: datetime) -> dict[str, Any]:
    """Take a place in the session, or the next waiting-list number: the new seat's columns."""
    if _try_take_seat(db, session_id):
        return {"status": CONFIRMED, "waitlist_seq": None, "confirmed_at": now}
    return {
        "status": WAITLISTED,
        "waitlist_seq": _next_waitlist_seq(db, session_id),
        "confirmed_at": None,
    }


def claim_seat(db: Session, registration: Registration, session: ProgrammeSession) -> Seat:
    now = utcnow()
    seat = Seat(session_id=session.id, created_at=now, **claim(db, session.id, now))
    seat.session = session
    registration.seats.append(seat)
    return seat


def queue_position(
    db: Session, session_id: int, status: str, waitlist_seq: int | None
) -> int | None:
    """A seat's place on its session's waiting list (1 is next); None for a confirmed seat."""
    if status != WAITLISTED:
        return None
    ahead = (
        db.connection()
        .execute(_WAITING_AHEAD, {"session_id": session_id, "seq": waitlist_seq})
        .scalar_one()
    )
    return int(ahead) + 1


def waitlist_position(db: Session, seat: Seat) -> int | None:
    return queue_position(db, seat.session_id, seat.status, seat.waitlist_seq)


def seat_results(db: Session, seats: Iterable[Seat]) -> list[SeatResult]:
    return [
        SeatResult(seat.session.code, seat.status, waitlist_position(db, seat))
        for seat in sorted(seats, key=lambda s: (s.session.starts_at, s.session.code))
    ]


def promote_waitlist(db: Session, session: ProgrammeSession) -> list[Seat]:
    """Confirm the head of the waiting list while places are free (caller holds the lock)."""
    promoted: list[Seat] = []
    while True:
        head = db.scalar(
            select(Seat)
            .where(Seat.session_id == session.id, Seat.status == WAITLISTED)
            .order_by(Seat.waitlist_seq)
            .limit(1)
            .options(selectinload(Seat.registration))
        )
        if head is None or not _try_take_seat(db, session.id):
            break
        head.status = CONFIRMED
        head.waitlist_seq = None
        head.confirmed_at = utcnow()
        db.flush()
        promoted.append(head)
        seat_event(db, TaskNames.SEAT_PROMOTED, head.registration, head, position=None)
    db.refresh(session)
    return promoted


def release_seat(db: Session, seat: Seat) -> list[Seat]:
    """Give a seat back; a freed place goes to the head of the waiting list at once."""
    session = seat.session
    lock_session(db, session.id)
    was_confirmed = seat.status == CONFIRMED
    seat.registration.seats.remove(seat)
    db.flush()
    if not was_confirmed:
        return []
    db.execute(
        update(ProgrammeSession)
        .where(ProgrammeSession.id == session.id)
        .values(seats_taken=ProgrammeSession.seats_taken - 1)
        .execution_options(synchronize_session=False)
    )
    return promote_waitlist(db, session)


def check_no_overlap(sessions: Sequence[Any]) -> None:
    ordered = sorted(sessions, key=lambda s: s.starts_at)
    for first, second in zip(ordered, ordered[1:], strict=False):
        if second.starts_at < first.ends_at:
            raise InvalidInput(
                f"Sessions {first.code} and {second.code} overlap in time; choose one.",
                "session_codes",
                code="overlap",
                first=first.code,
                second=second.code,
            )
