"""Registrations: register, find, add or drop a session, cancel, the organiser's rows.

Plain functions over a DB session: no Flask here. Every seat is claimed and released through
`seats`, the rush path (`register`) included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from services.registration.models import (
    CONFIRMED,
    HELD,
    WAITLISTED,
    Event,
    Outbox,
    ProgrammeSession,
    Registration,
    Seat,
)
from services.registration.payloads import event_info, participant_info, seat_event, session_info
from services.registration.privacy import export
from services.registration.seats import (
    HoldOutcome,
    SeatResult,
    check_no_overlap,
    claim,
    claim_seat,
    confirm_holds,
    iso,
    queue_position,
    release_seat,
    seat_results,
    waitlist_position,
)
from shared.contracts import TaskNames
from shared.db import new_id, utcnow
from shared.errors import InvalidInput, NotFound, RuleError
from shared.outbox import add_event


@dataclass
class Registered:
    id: str
    token_version: int


def _check_open(event: Event, now: datetime) -> None:
    if now < event.registration_opens_at:
        raise RuleError(
            f"Registration opens at {event.registration_opens_at.isoformat()}.",
            code="not_open",
            when=event.registration_opens_at,
        )
    if now >= event.registration_closes_at:
        raise RuleError("Registration for this event is closed.", code="closed")


def _check_sessions(codes: Sequence[str], found: Sequence[Any], now: datetime) -> None:
    unknown = sorted(set(codes) - {s.code for s in found})
    if unknown:
        raise InvalidInput(
            f"Unknown session code(s): {', '.join(unknown)}.",
            "session_codes",
            code="unknown_sessions",
            sessions=unknown,
        )
    started = [s.code for s in found if s.starts_at <= now]
    if started:
        raise RuleError(
            f"Session(s) already started: {', '.join(started)}.",
            "session_codes",
            code="started",
            sessions=started,
        )


def _sessions_by_code(
    db: Session, event: Event, codes: Iterable[str], now: datetime
) -> list[ProgrammeSession]:
    wanted = list(dict.fromkeys(codes))
    found = db.scalars(
        select(ProgrammeSession)
        .where(ProgrammeSession.event_id == event.id, ProgrammeSession.code.in_(wanted))
        .order_by(ProgrammeSession.id)
    ).all()
    _check_sessions(wanted, found, now)
    return list(found)


_SESSIONS = ProgrammeSession.__table__
_REGISTRATIONS = Registration.__table__
_SEATS = Seat.__table__
_SESSIONS_BY_CODE = (
    select(_SESSIONS)
    .where(
        _SESSIONS.c.event_id == bindparam("event_id"),
        _SESSIONS.c.code.in_(bindparam("codes", expanding=True)),
    )
    .order_by(_SESSIONS.c.id)
)


def register(
    db: Session, event: Any, data: dict[str, Any], now: datetime | None = None
) -> tuple[Registered, list[SeatResult]]:
    """Create a registration and claim its seats; the caller commits.

    This is the rush path, so it speaks SQLAlchemy Core: the same rules and the same seat
    claim as the rest of the service, a fraction of the ORM's CPU per request. `event` is a
    model or a row.
    """
    now = now or utcnow()
    _check_open(event, now)
    conn = db.connection()
    codes = list(dict.fromkeys(data.get("session_codes", [])))
    sessions = conn.execute(_SESSIONS_BY_CODE, {"event_id": event.id, "codes": codes}).all()
    _check_sessions(codes, sessions, now)
    check_no_overlap(sessions)
    participant = {
        "registration_id": new_id(),
        "email": data["email"].strip().lower(),
        "name": data["name"].strip(),
        "language": data["language"],
        "token_version": 1,
        "organisation": data.get("organisation", "").strip(),
        "city": data.get("city", "").strip(),
        "country": data["country"].upper(),
        "role": data["role"],
    }
    row = {k: v for k, v in participant.items() if k != "registration_id"}
    try:
        # The unique (event, email) index decides duplicates, even two at the same instant.
        conn.execute(
            _REGISTRATIONS.insert(),
            {
                **row,
                "id": participant["registration_id"],
                "event_id": event.id,
                "consent_at": now,
                "status": "active",
                "created_at": now,
            },
        )
    except IntegrityError:
        raise RuleError(
            "This email address is already registered for this event.", "email", code="email_taken"
        ) from None
    seats = []
    for session in sessions:  # in id order: concurrent registrations lock alike, no deadlock
        seat = claim(db, session, now)  # a new address is not confirmed yet
        seats.append(
            {**seat, "registration_id": participant["registration_id"], "session_id": session.id}
        )
    if seats:
        conn.execute(_SEATS.insert(), [{**seat, "created_at": now} for seat in seats])
    ordered = sorted(zip(sessions, seats, strict=True), key=lambda p: (p[0].starts_at, p[0].code))
    results = [
        SeatResult(
            session.code,
            seat["status"],
            queue_position(db, session.id, seat["status"], seat["waitlist_seq"]),
            iso(seat["hold_expires_at"]),
        )
        for session, seat in ordered
    ]
    add_event(
        db,
        Outbox,
        TaskNames.REGISTERED,
        {
            "event": event_info(event),
            "participant": participant,
            "seats": [
                {
                    "session": session_info(session),
                    "status": result.status,
                    "waitlist_position": result.waitlist_position,
                    "hold_expires_at": seat["hold_expires_at"],
                }
                for (session, seat), result in zip(ordered, results, strict=True)
            ],
        },
        subject=participant["registration_id"],
    )
    return Registered(participant["registration_id"], 1), results


def find_registration(db: Session, registration_id: str, token_version: int) -> Registration:
    registration = db.scalar(
        select(Registration)
        .where(Registration.id == registration_id)
        .options(selectinload(Registration.seats).selectinload(Seat.session))
    )
    if registration is None or registration.token_version != token_version:
        raise NotFound("No registration for this link.")
    return registration


def add_session(db: Session, registration: Registration, code: str) -> SeatResult:
    now = utcnow()
    event = registration.event
    _check_open(event, now)
    (session,) = _sessions_by_code(db, event, [code], now)
    if any(seat.session_id == session.id for seat in registration.seats):
        raise RuleError(
            f"You already have session {code}.", "code", code="already_held", session=code
        )
    others = [seat.session for seat in registration.seats]
    try:
        check_no_overlap([*others, session])
    except InvalidInput as error:
        raise RuleError(error.message, "code", code=error.code, **error.params) from None
    if registration.status == "cancelled":
        registration.status, registration.cancelled_at = "active", None
    seat = claim_seat(db, registration, session)
    db.flush()
    position = waitlist_position(db, seat)
    # A held seat is announced as taken (`seat_confirmed`); its status says it is held.
    name = TaskNames.SEAT_WAITLISTED if seat.status == WAITLISTED else TaskNames.SEAT_CONFIRMED
    seat_event(db, name, registration, seat, position)
    return SeatResult(code, seat.status, position, iso(seat.hold_expires_at))


def held_seat(registration: Registration, code: str) -> Seat:
    seat = next((s for s in registration.seats if s.session.code == code), None)
    if seat is None:
        raise NotFound(f"You have no seat in session {code}.", code="no_seat", session=code)
    return seat


def drop_session(db: Session, registration: Registration, code: str) -> None:
    seat = held_seat(registration, code)
    seat_event(db, TaskNames.SEAT_RELEASED, registration, seat, position=None)
    release_seat(db, seat)


def cancel(db: Session, registration: Registration) -> list[str]:
    """Cancel everything: every seat is released (and passed on) in this transaction."""
    if registration.status == "cancelled":
        raise RuleError("This registration is already cancelled.", code="already_cancelled")
    released = []
    for seat in sorted(registration.seats, key=lambda s: s.session_id):
        released.append(seat.session.code)
        release_seat(db, seat)
    registration.status = "cancelled"
    registration.cancelled_at = utcnow()
    add_event(
        db,
        Outbox,
        TaskNames.CANCELLED,
        {
            "event": event_info(registration.event),
            "participant": participant_info(registration),
            "released": released,
        },
        subject=registration.id,
    )
    return released


DETAILS = ("name", "organisation", "city", "country", "role", "language")


def change_details(db: Session, registration: Registration, changes: dict[str, Any]) -> bool:
    """Correct what the participant told about themselves; announce it if anything changed."""
    changed = False
    for key in DETAILS:
        if key not in changes:
            continue
        value = changes[key].strip() if key in ("name", "organisation", "city") else changes[key]
        if getattr(registration, key) != value:
            setattr(registration, key, value)
            changed = True
    if changed:
        add_event(
            db,
            Outbox,
            TaskNames.DETAILS_CHANGED,
            {
                "event": event_info(registration.event),
                "participant": participant_info(registration),
            },
            subject=registration.id,
        )
    return changed


@dataclass
class EmailConfirmation:
    registration: Registration
    seats: list[SeatResult]
    # Sessions whose hold ran out before the confirmation: their places are gone.
    expired: list[str]


def confirm_email(
    db: Session, registration_id: str, token_version: int, now: datetime | None = None
) -> EmailConfirmation:
    """The participant opened the link emailed to them: their address is confirmed (for good)
    and their held seats with it. Harmless twice; the caller commits."""
    now = now or utcnow()
    registration = find_registration(db, registration_id, token_version)
    # Conditional: two confirmations at once keep the first moment, and it never changes again.
    db.execute(
        update(Registration)
        .where(Registration.id == registration.id, Registration.email_confirmed_at.is_(None))
        .values(email_confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.refresh(registration, ["email_confirmed_at"])
    outcome: HoldOutcome = confirm_holds(db, registration, now)
    return EmailConfirmation(registration, seat_results(db, registration.seats), outcome.expired)


def has_held_seat(registration: Registration) -> bool:
    return any(seat.status == HELD for seat in registration.seats)


def request_link(db: Session, event: Event, email: str) -> bool:
    """Queue the manage link for an email if it is registered; say nothing either way."""
    registration = db.scalar(
        select(Registration).where(
            Registration.event_id == event.id, Registration.email == email.strip().lower()
        )
    )
    if registration is None:
        return False
    add_event(
        db,
        Outbox,
        TaskNames.LINK_REQUESTED,
        {"event": event_info(event), "participant": participant_info(registration)},
        subject=registration.id,
    )
    return True


def renew_link(db: Session, registration: Registration) -> None:
    """Revoke every link sent so far and email a new one. The link's version goes up in one
    statement (two clicks at once give two versions, never one); `details_changed` tells the
    services that check links (feedback) the new version, `link_requested` has it emailed."""
    registration.token_version = Registration.token_version + 1
    db.flush()
    db.refresh(registration, ["token_version"])
    for name in (TaskNames.DETAILS_CHANGED, TaskNames.LINK_REQUESTED):
        add_event(
            db,
            Outbox,
            name,
            {
                "event": event_info(registration.event),
                "participant": participant_info(registration),
            },
            subject=registration.id,
        )
    # The confirmation links went with the old version: each held seat is announced again, so
    # that its email (with a link of the new version) goes out anew.
    for seat in sorted(registration.seats, key=lambda s: s.session_id):
        if seat.status == HELD:
            seat_event(db, TaskNames.SEAT_CONFIRMED, registration, seat, None)


# --- the organiser's view --------------------------------------------------------------------


def registrations_for(db: Session, event: Event) -> Sequence[Registration]:
    return db.scalars(
        select(Registration)
        .where(Registration.event_id == event.id)
        .order_by(Registration.created_at, Registration.id)
        .options(selectinload(Registration.seats).selectinload(Seat.session))
    ).all()


def registration_row(db: Session, registration: Registration) -> dict[str, Any]:
    """A registration with its seats, as the organiser (and the participant) see it."""
    data = export(db, registration)
    return {**data["registration"], "sessions": data["sessions"]}


def registration_rows(db: Session, event: Event) -> list[dict[str, Any]]:
    return [registration_row(db, r) for r in registrations_for(db, event)]


CSV_COLUMNS = [
    "id", "name", "email", "organisation", "city", "country", "role", "language", "status",
    "created_at", "confirmed", "held", "waitlisted",
]  # fmt: skip


def csv_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registrations as spreadsheet rows: seats become the codes held and waited for."""
    return [
        {
            **row,
            "confirmed": " ".join(s["code"] for s in row["sessions"] if s["status"] == CONFIRMED),
            "held": " ".join(s["code"] for s in row["sessions"] if s["status"] == HELD),
            "waitlisted": " ".join(
                f"{s['code']}#{s['waitlist_position']}"
                for s in row["sessions"]
                if s["status"] == "waitlisted"
            ),
        }
        for row in rows
    ]
