"""Seats: claim, release, promote the waiting list, waiting-list positions, holds. No Flask here.

This is the only code that changes seats; the registration rush (`registrations.register`)
and the manage page both claim through `claim`. The seat claim is one conditional UPDATE
(`seats_taken < capacity`) judged by its row count, so the database, not Python, decides who
gets the last place. Every change to a session's seats first updates that session's row,
which serialises concurrent changes to one session (a row lock on PostgreSQL, BEGIN
IMMEDIATE on SQLite). Sessions are always locked in id order, so two registrations never
deadlock.

A session with `hold_minutes` gives a person whose email is not confirmed a `held` seat: taken
like a confirmed one, until `hold_expires_at`. Confirming the email confirms it
(`confirm_holds`); otherwise `expire_holds` gives it back and the waiting list moves. Both
decide under the session's lock, from the seat as it is then, so exactly one of them acts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from services.registration.models import (
    CONFIRMED,
    HELD,
    WAITLISTED,
    ProgrammeSession,
    Registration,
    Seat,
)
from services.registration.payloads import seat_event
from shared.contracts import SEAT_REASONS, TaskNames
from shared.db import utcnow
from shared.errors import InvalidInput

# The statuses that count in a session's `seats_taken`.
TAKEN = (CONFIRMED, HELD)
# Why a held seat's event was sent (the seat part's `reason`).
EMAIL_CONFIRMED, HOLD_EXPIRED = SEAT_REASONS

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
    # ISO 8601, so that the API and the personal-data export show it alike; None unless held.
    hold_expires_at: str | None = None


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


def taken_seat(hold_minutes: int | None, email_confirmed: bool, now: datetime) -> dict[str, Any]:
    """The columns of a place just taken: held for a while where the session asks the address
    to be confirmed and it is not yet, confirmed otherwise."""
    if hold_minutes is None or email_confirmed:
        return {"status": CONFIRMED, "confirmed_at": now, "hold_expires_at": None}
    return {
        "status": HELD,
        "confirmed_at": None,
        "hold_expires_at": now + timedelta(minutes=hold_minutes),
    }


def claim(
    db: Session, session: Any, now: datetime, email_confirmed: bool = False
) -> dict[str, Any]:
    """Take a place in the session (a model or a row), or the next waiting-list number: the
    new seat's columns."""
    if _try_take_seat(db, session.id):
        return {"waitlist_seq": None, **taken_seat(session.hold_minutes, email_confirmed, now)}
    return {
        "status": WAITLISTED,
        "waitlist_seq": _next_waitlist_seq(db, session.id),
        "confirmed_at": None,
        "hold_expires_at": None,
    }


def claim_seat(db: Session, registration: Registration, session: ProgrammeSession) -> Seat:
    now = utcnow()
    confirmed_email = registration.email_confirmed_at is not None
    seat = Seat(session_id=session.id, created_at=now, **claim(db, session, now, confirmed_email))
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


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def seat_results(db: Session, seats: Iterable[Seat]) -> list[SeatResult]:
    return [
        SeatResult(
            seat.session.code, seat.status, waitlist_position(db, seat), iso(seat.hold_expires_at)
        )
        for seat in sorted(seats, key=lambda s: (s.session.starts_at, s.session.code))
    ]


def promote_waitlist(db: Session, session: ProgrammeSession) -> list[Seat]:
    """Give free places to the head of the waiting list (caller holds the lock): confirmed, or
    held with a fresh expiry for someone whose address the session still wants confirmed."""
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
        confirmed_email = head.registration.email_confirmed_at is not None
        for key, value in taken_seat(session.hold_minutes, confirmed_email, utcnow()).items():
            setattr(head, key, value)
        head.waitlist_seq = None
        db.flush()
        promoted.append(head)
        seat_event(db, TaskNames.SEAT_PROMOTED, head.registration, head, position=None)
    db.refresh(session)
    return promoted


def _status_now(db: Session, seat: Seat) -> Any:
    """The seat's status and hold as stored now (read under its session's lock), or None once
    another transaction has removed it."""
    return db.execute(select(Seat.status, Seat.hold_expires_at).where(Seat.id == seat.id)).first()


def _free_place(db: Session, session_id: int) -> None:
    db.execute(
        update(ProgrammeSession)
        .where(ProgrammeSession.id == session_id)
        .values(seats_taken=ProgrammeSession.seats_taken - 1)
        .execution_options(synchronize_session=False)
    )


def _forget(db: Session, seat: Seat) -> None:
    """Drop a seat another transaction has already removed from this session's view."""
    registration = seat.registration
    db.expunge(seat)
    db.expire(registration, ["seats"])  # read again when next used, without it


def release_seat(db: Session, seat: Seat) -> list[Seat]:
    """Give a seat back; a freed place goes to the head of the waiting list at once."""
    session = seat.session
    lock_session(db, session.id)
    # As it is now: a promotion or an expiry may have changed it since it was read.
    current = _status_now(db, seat)
    if current is None:
        _forget(db, seat)
        return []
    seat.registration.seats.remove(seat)
    db.flush()
    if current.status not in TAKEN:
        return []
    _free_place(db, session.id)
    return promote_waitlist(db, session)


# --- holds until the email is confirmed -------------------------------------------------------


def _expire(db: Session, seat: Seat) -> None:
    """Release a held seat whose time ran out (the caller holds the lock and promotes)."""
    seat_event(db, TaskNames.SEAT_RELEASED, seat.registration, seat, None, reason=HOLD_EXPIRED)
    seat.registration.seats.remove(seat)
    db.flush()
    _free_place(db, seat.session_id)


def _confirm(db: Session, seat: Seat, now: datetime) -> None:
    seat.status, seat.confirmed_at, seat.hold_expires_at = CONFIRMED, now, None
    db.flush()
    # The event a promotion sends: the other services learn the seat is confirmed.
    seat_event(db, TaskNames.SEAT_PROMOTED, seat.registration, seat, None, reason=EMAIL_CONFIRMED)


def expire_holds(db: Session, now: datetime | None = None) -> list[Seat]:
    """Release every held seat past its expiry and move the waiting lists; the released seats.

    A seat whose participant confirmed their address meanwhile (a promotion that raced the
    confirmation) is confirmed instead. The caller commits.
    """
    now = now or utcnow()
    due_sessions = db.scalars(
        select(Seat.session_id)
        .where(Seat.status == HELD, Seat.hold_expires_at <= now)
        .distinct()
        .order_by(Seat.session_id)
    ).all()
    released: list[Seat] = []
    for session_id in due_sessions:  # in id order, as every claim locks
        lock_session(db, session_id)
        # Read under the lock: a confirmation committed meanwhile shows here as confirmed.
        due = db.scalars(
            select(Seat)
            .where(Seat.session_id == session_id, Seat.status == HELD, Seat.hold_expires_at <= now)
            .order_by(Seat.id)
            .options(selectinload(Seat.registration), selectinload(Seat.session))
            .execution_options(populate_existing=True)
        ).all()
        freed = False
        for seat in due:
            if seat.registration.email_confirmed_at is not None:
                _confirm(db, seat, now)
                continue
            _expire(db, seat)
            released.append(seat)
            freed = True
        if freed:
            promote_waitlist(db, db.get_one(ProgrammeSession, session_id))
    return released


@dataclass
class HoldOutcome:
    confirmed: list[str]
    expired: list[str]


def confirm_holds(db: Session, registration: Registration, now: datetime) -> HoldOutcome:
    """The participant's address is confirmed: each held seat is confirmed, or released if its
    time ran out first (a late confirmation never brings back a place)."""
    outcome = HoldOutcome([], [])
    held = [seat for seat in registration.seats if seat.status == HELD]
    for seat in sorted(held, key=lambda s: s.session_id):
        code = seat.session.code
        lock_session(db, seat.session_id)
        current = _status_now(db, seat)
        if current is None:  # the expiry got there first
            _forget(db, seat)
            outcome.expired.append(code)
        elif current.status != HELD:  # confirmed by a confirmation a moment ago
            db.refresh(seat)
        elif current.hold_expires_at <= now:
            session = seat.session
            _expire(db, seat)
            promote_waitlist(db, session)
            outcome.expired.append(code)
        else:
            _confirm(db, seat, now)
            outcome.confirmed.append(code)
    return outcome


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
