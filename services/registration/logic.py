"""Registration rules as plain functions over a DB session: no Flask here.

The seat claim is one conditional UPDATE (`seats_taken < capacity`) judged by its
row count, so the database, not Python, decides who gets the last place. Every
change to a session's seats first updates that session's row, which serialises
concurrent changes to one session (a row lock on PostgreSQL, BEGIN IMMEDIATE on
SQLite). Sessions are always locked in id order, so two registrations never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from services.registration.models import (
    CONFIRMED,
    WAITLISTED,
    Erasure,
    Event,
    ExportPart,
    Outbox,
    ProgrammeSession,
    Registration,
    Seat,
)
from shared import contracts
from shared.contracts import ERASING_SERVICES, TaskNames
from shared.db import new_id, utcnow
from shared.errors import InvalidInput, NotFound, RuleError
from shared.outbox import add_event

FEEDBACK_WINDOW = timedelta(days=14)


# --- programme -------------------------------------------------------------------------------


def event_info(event: Any) -> dict[str, Any]:
    return contracts.part_from(contracts.EventInfo, event)


def session_info(session: Any) -> dict[str, Any]:
    return contracts.part_from(contracts.SessionInfo, session)


def get_event(db: Session, slug: str) -> Event:
    event = db.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise NotFound(f"No event {slug!r}.")
    return event


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
    return session


def update_session(
    db: Session, event: Event, session: ProgrammeSession, changes: dict[str, Any]
) -> list[Seat]:
    """Apply organiser edits; a larger capacity promotes from the waiting list."""
    starts = changes.get("starts_at", session.starts_at)
    ends = changes.get("ends_at", session.ends_at)
    if ends <= starts:
        raise InvalidInput("Must be after starts_at.", "ends_at")
    _lock_session(db, session.id)
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
    return promoted


def programme(db: Session, event: Event) -> list[tuple[ProgrammeSession, int]]:
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


# --- seats -----------------------------------------------------------------------------------


def _lock_session(db: Session, session_id: int) -> None:
    # A no-op UPDATE takes the row lock on PostgreSQL (SQLite holds the write lock already).
    db.execute(
        update(ProgrammeSession)
        .where(ProgrammeSession.id == session_id)
        .values(seats_taken=ProgrammeSession.seats_taken)
        .execution_options(synchronize_session=False)
    )


_SESSIONS = ProgrammeSession.__table__
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


def _try_take_seat(db: Session, session_id: int) -> bool:
    """The atomic claim: one UPDATE that succeeds only while a place is free."""
    result = db.connection().execute(_TAKE_SEAT, {"session_id": session_id})
    return result.rowcount == 1


def _next_waitlist_seq(db: Session, session_id: int) -> int:
    seq = db.connection().execute(_NEXT_WAITLIST_SEQ, {"session_id": session_id}).scalar_one()
    return int(seq)


def claim_seat(db: Session, registration: Registration, session: ProgrammeSession) -> Seat:
    now = utcnow()
    if _try_take_seat(db, session.id):
        seat = Seat(session_id=session.id, status=CONFIRMED, confirmed_at=now, created_at=now)
    else:
        seq = _next_waitlist_seq(db, session.id)
        seat = Seat(session_id=session.id, status=WAITLISTED, waitlist_seq=seq, created_at=now)
    seat.session = session
    registration.seats.append(seat)
    return seat


def waitlist_position(db: Session, seat: Seat) -> int | None:
    if seat.status != WAITLISTED:
        return None
    ahead = db.scalar(
        select(func.count())
        .select_from(Seat)
        .where(
            Seat.session_id == seat.session_id,
            Seat.status == WAITLISTED,
            Seat.waitlist_seq < seat.waitlist_seq,
        )
    )
    return int(ahead or 0) + 1


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
        _seat_event(db, TaskNames.SEAT_PROMOTED, head.registration, head, position=None)
    db.refresh(session)
    return promoted


def release_seat(db: Session, seat: Seat) -> list[Seat]:
    """Give a seat back; a freed place goes to the head of the waiting list at once."""
    session = seat.session
    _lock_session(db, session.id)
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


# --- participant data sent with events -------------------------------------------------------


def participant_info(registration: Registration) -> dict[str, Any]:
    return {
        "registration_id": registration.id,
        "email": registration.email,
        "name": registration.name,
        "language": registration.language,
        "token_version": registration.token_version,
        "organisation": registration.organisation,
        "city": registration.city,
        "country": registration.country,
        "role": registration.role,
    }


def seat_info(seat: Seat, position: int | None) -> dict[str, Any]:
    return {
        "session": session_info(seat.session),
        "status": seat.status,
        "waitlist_position": position,
    }


def _seat_event(
    db: Session, name: str, registration: Registration, seat: Seat, position: int | None
) -> None:
    add_event(
        db,
        Outbox,
        name,
        {
            "event": event_info(registration.event),
            "participant": participant_info(registration),
            "seat": seat_info(seat, position),
        },
        subject=registration.id,
    )


# --- registration ----------------------------------------------------------------------------


@dataclass
class SeatResult:
    code: str
    status: str
    waitlist_position: int | None


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


def seat_results(db: Session, seats: Iterable[Seat]) -> list[SeatResult]:
    return [
        SeatResult(seat.session.code, seat.status, waitlist_position(db, seat))
        for seat in sorted(seats, key=lambda s: (s.session.starts_at, s.session.code))
    ]


@dataclass
class Registered:
    id: str
    token_version: int


_EVENTS = Event.__table__
_REGISTRATIONS = Registration.__table__
_SEATS = Seat.__table__
_EVENT_BY_SLUG = select(_EVENTS).where(_EVENTS.c.slug == bindparam("slug"))
_SESSIONS_BY_CODE = (
    select(_SESSIONS)
    .where(
        _SESSIONS.c.event_id == bindparam("event_id"),
        _SESSIONS.c.code.in_(bindparam("codes", expanding=True)),
    )
    .order_by(_SESSIONS.c.id)
)
_WAITING_AHEAD = select(func.count()).where(
    _SEATS.c.session_id == bindparam("session_id"),
    _SEATS.c.status == WAITLISTED,
    _SEATS.c.waitlist_seq < bindparam("seq"),
)


def event_row(db: Session, slug: str) -> Any:
    """The event as a plain row (attribute access like the model), for the hot path."""
    row = db.connection().execute(_EVENT_BY_SLUG, {"slug": slug}).first()
    if row is None:
        raise NotFound(f"No event {slug!r}.")
    return row


def register(
    db: Session, event: Any, data: dict[str, Any], now: datetime | None = None
) -> tuple[Registered, list[SeatResult]]:
    """Create a registration and claim its seats; the caller commits.

    This is the rush path, so it speaks SQLAlchemy Core: the same rules as the rest of
    the module, a fraction of the ORM's CPU per request. `event` is a model or a row.
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
    seats, results = [], []
    for session in sessions:  # in id order: concurrent registrations lock alike, no deadlock
        if _try_take_seat(db, session.id):
            seat = {"status": CONFIRMED, "waitlist_seq": None, "confirmed_at": now}
        else:
            seat = {"status": WAITLISTED, "waitlist_seq": _next_waitlist_seq(db, session.id)}
            seat["confirmed_at"] = None
        seats.append(
            {**seat, "registration_id": participant["registration_id"], "session_id": session.id}
        )
    if seats:
        conn.execute(_SEATS.insert(), [{**seat, "created_at": now} for seat in seats])
    ordered = sorted(zip(sessions, seats, strict=True), key=lambda p: (p[0].starts_at, p[0].code))
    for session, seat in ordered:
        position = None
        if seat["status"] == WAITLISTED:
            ahead = conn.execute(
                _WAITING_AHEAD, {"session_id": session.id, "seq": seat["waitlist_seq"]}
            ).scalar_one()
            position = int(ahead) + 1
        results.append(SeatResult(session.code, seat["status"], position))
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
                }
                for (session, _seat), result in zip(ordered, results, strict=True)
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
    name = TaskNames.SEAT_CONFIRMED if seat.status == CONFIRMED else TaskNames.SEAT_WAITLISTED
    _seat_event(db, name, registration, seat, position)
    return SeatResult(code, seat.status, position)


def drop_session(db: Session, registration: Registration, code: str) -> None:
    seat = next((s for s in registration.seats if s.session.code == code), None)
    if seat is None:
        raise NotFound(f"You have no seat in session {code}.", code="no_seat", session=code)
    _seat_event(db, TaskNames.SEAT_RELEASED, registration, seat, position=None)
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


def erase(db: Session, registration: Registration) -> Erasure:
    """Delete everything held on the person and tell the other services to do the same."""
    for seat in sorted(registration.seats, key=lambda s: s.session_id):
        release_seat(db, seat)
    slug = registration.event.slug
    # Earlier events about the person carry their name and address: they go too.
    db.execute(delete(Outbox).where(Outbox.subject_id == registration.id))
    add_event(
        db, Outbox, TaskNames.ERASED, {"registration_id": registration.id, "event_slug": slug}
    )
    record = Erasure(registration_id=registration.id, event_slug=slug, confirmed_by=[])
    db.add(record)
    db.delete(registration)
    return record


def record_erasure_confirmation(db: Session, message: dict[str, Any]) -> None:
    """A service has erased its copy; the erasure is complete once every service has."""
    record = db.get(Erasure, message["registration_id"])
    if record is None or message["service"] in record.confirmed_by:
        return
    record.confirmed_by = sorted({*record.confirmed_by, message["service"]})
    if set(record.confirmed_by) >= set(ERASING_SERVICES):
        record.completed_at = message["occurred_at"]


def erasure_status(record: Erasure) -> dict[str, Any]:
    return {
        "id": record.registration_id,
        "event": record.event_slug,
        "requested_at": record.requested_at.isoformat(),
        "confirmed_by": record.confirmed_by,
        "pending": sorted(set(ERASING_SERVICES) - set(record.confirmed_by)),
        "completed_at": record.completed_at.isoformat() if record.completed_at else None,
    }


def export(db: Session, registration: Registration) -> dict[str, Any]:
    seats = seat_results(db, registration.seats)
    return {
        "registration": {
            "id": registration.id,
            "event": registration.event.slug,
            "name": registration.name,
            "email": registration.email,
            "organisation": registration.organisation,
            "city": registration.city,
            "country": registration.country,
            "role": registration.role,
            "language": registration.language,
            "consent_at": registration.consent_at.isoformat(),
            "status": registration.status,
            "created_at": registration.created_at.isoformat(),
            "cancelled_at": (
                registration.cancelled_at.isoformat() if registration.cancelled_at else None
            ),
        },
        "sessions": [vars(seat) for seat in seats],
    }


EXPORT_REFRESH = timedelta(minutes=10)


def export_everywhere(db: Session, registration: Registration) -> dict[str, Any]:
    """This service's data now, the other services' as they answered the latest request.

    A request older than EXPORT_REFRESH (or none) is made anew: each service answers with
    a `privacy.export_part`, and the next call shows it.
    """
    now = utcnow()
    requested = registration.export_requested_at
    if requested is None or now - requested > EXPORT_REFRESH:
        registration.export_request_id = new_id()
        registration.export_requested_at = now
        add_event(
            db,
            Outbox,
            TaskNames.EXPORT_REQUESTED,
            {"registration_id": registration.id, "request_id": registration.export_request_id},
            subject=registration.id,
        )
    parts = {
        part.service: part
        for part in db.scalars(
            select(ExportPart).where(ExportPart.registration_id == registration.id)
        )
    }
    services: dict[str, Any] = {"registration": export(db, registration)}
    for service in ERASING_SERVICES:
        part = parts.get(service)
        services[service] = (
            {"received_at": part.received_at.isoformat(), "data": part.data} if part else None
        )
    pending = [s for s in ERASING_SERVICES if services[s] is None]
    return {
        "requested_at": registration.export_requested_at.isoformat(),
        "complete": not pending,
        "pending": pending,
        "services": services,
    }


def store_export_part(db: Session, message: dict[str, Any]) -> None:
    """Keep a service's answer (replacing its previous one) unless the person is gone."""
    if db.get(Registration, message["registration_id"]) is None:
        return
    db.execute(
        delete(ExportPart).where(
            ExportPart.registration_id == message["registration_id"],
            ExportPart.service == message["service"],
        )
    )
    db.add(
        ExportPart(
            registration_id=message["registration_id"],
            request_id=message["request_id"],
            service=message["service"],
            data=message["data"],
        )
    )


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


def registrations_for(db: Session, event: Event) -> Sequence[Registration]:
    return db.scalars(
        select(Registration)
        .where(Registration.event_id == event.id)
        .order_by(Registration.created_at, Registration.id)
        .options(selectinload(Registration.seats).selectinload(Seat.session))
    ).all()


CSV_COLUMNS = [
    "id", "name", "email", "organisation", "city", "country", "role", "language", "status",
    "created_at", "confirmed", "waitlisted",
]  # fmt: skip


def csv_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registrations as spreadsheet rows: seats become the codes held and waited for."""
    return [
        {
            **row,
            "confirmed": " ".join(s["code"] for s in row["sessions"] if s["status"] == "confirmed"),
            "waitlisted": " ".join(
                f"{s['code']}#{s['waitlist_position']}"
                for s in row["sessions"]
                if s["status"] == "waitlisted"
            ),
        }
        for row in rows
    ]
