"""Feedback rules as plain functions over a DB session: no Flask here.

- The read model (events, sessions, participants, seats) follows the registration events.
- Who may rate what: a participant confirmed for a session, from its start until the event's
  feedback window closes; one feedback per participant and session (the unique key decides).
  A submission is the hot path: one query reads the session, the event, the rater and their
  seat; the writes follow (on PostgreSQL a POST writes in one statement, without BEGIN/COMMIT).
- Counters kept with every change (seats per session, people per theme, responses per
  person) let the summaries and the report read a few rows instead of every seat.
- Summaries are computed by the database (GROUP BY rating), then finished in Python over at
  most five numbers per session: the mean and the median of integer ratings follow exactly
  from their distribution.
- Invitations: one row per (participant, session) under a unique key, written with its outbox
  event in one transaction, so a second run or a second worker sends nothing twice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import (
    Integer,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.feedback.models import (
    ACTIVE,
    CANCELLED,
    CONFIRMED,
    ENDORSEMENT_VALUES,
    RATINGS,
    Attendance,
    Endorsement,
    Event,
    Feedback,
    Invitation,
    Outbox,
    Participant,
    ProgrammeSession,
    Recommendation,
    Report,
    ThemeMember,
)
from shared import contracts
from shared.auth import ParticipantClaim
from shared.contracts import TaskNames
from shared.db import Database, UTCDateTime, utcnow
from shared.errors import Forbidden, InvalidInput, NotFound, RuleError, Unauthorised
from shared.outbox import add_event
from shared.sql import among, dialect_insert

log = structlog.get_logger(__name__)

SERVICE = "feedback"
# Invitations are written in batches, each batch one short transaction.
INVITATION_BATCH = 500


class NotReady(Exception):
    """A message refers to something not received yet (out of order); retry it later."""


# --- helpers ---------------------------------------------------------------------------------


def clean_text(text: str | None) -> str:
    """Typed text as stored: trimmed, without NUL characters (PostgreSQL cannot store them)."""
    return (text or "").replace("\x00", "").strip()


def event_info(event: Any) -> dict[str, Any]:
    return contracts.part_from(contracts.EventInfo, event)


def session_info(session: Any) -> dict[str, Any]:
    return contracts.part_from(contracts.SessionInfo, session)


def mark_report_dirty(db: Session, event_id: int, now: datetime | None = None) -> None:
    """Note that the event's report misses a change (the periodic job or a reader rebuilds it)."""
    db.execute(
        update(Report)
        .where(Report.event_id == event_id, Report.dirty_since.is_(None))
        .values(dirty_since=now or utcnow())
        .execution_options(synchronize_session=False)
    )


def claim_report_rebuild(db: Session, event_id: int, now: datetime) -> bool:
    """Mark the report out of date; True if the caller must queue the one rebuild of this burst.

    Only the first submission of a burst writes the row (the flag is set until the rebuild
    runs), so concurrent submissions do not queue behind each other on it.
    """
    result = db.connection().execute(_CLAIM_REBUILD, {"eid": event_id, "now": now})
    return bool(result.rowcount)


# --- read model: the registration events ------------------------------------------------------


def upsert_event(db: Session, info: dict[str, Any]) -> Event:
    event = db.scalar(select(Event).where(Event.slug == info["slug"]))
    if event is None:
        event = Event(slug=info["slug"])
        db.add(event)
    for key in ("title", "city", "timezone", "starts_on", "ends_on", "feedback_closes_at"):
        setattr(event, key, info[key])
    event.title_translations = dict(info.get("title_translations") or {})
    db.flush()
    if db.get(Report, event.id) is None:
        db.add(Report(event_id=event.id, keyword_cache={}))
        db.flush()
    return event


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
    session.title_translations = dict(info.get("title_translations") or {})
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
    # Token versions only grow (a new version revokes old links): a late message can't undo it.
    participant.token_version = max(participant.token_version, info["token_version"])
    participant.language = info["language"]
    participant.country = (info.get("country") or "").upper()
    participant.city = (info.get("city") or "").strip()
    participant.role = info.get("role") or ""
    participant.updated_at = utcnow()
    db.flush()
    return participant


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


def _count_seat(db: Session, session: ProgrammeSession, registration_id: str, delta: int) -> None:
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
        _count_seat(db, session, participant.registration_id, 1 if status == CONFIRMED else -1)
    db.flush()


def remove_seat(db: Session, registration_id: str, session_id: int) -> None:
    seat = db.get(Attendance, (registration_id, session_id))
    if seat is None:
        return
    if seat.status == CONFIRMED:
        _count_seat(db, db.get_one(ProgrammeSession, session_id), registration_id, -1)
    db.delete(seat)
    db.flush()


def _seat(db: Session, event: Event, participant: Participant, seat: dict[str, Any]) -> None:
    session = upsert_session(db, event, seat["session"])
    set_seat(db, participant, session, seat["status"])


def on_event_published(db: Session, message: dict[str, Any]) -> None:
    upsert_event(db, message["event"])


def on_session_published(db: Session, message: dict[str, Any]) -> None:
    event = db.scalar(select(Event).where(Event.slug == message["event_slug"]))
    if event is None:
        raise NotReady(f"event {message['event_slug']!r} not received yet")
    upsert_session(db, event, message["session"])
    mark_report_dirty(db, event.id)


def on_registered(db: Session, message: dict[str, Any]) -> None:
    event = upsert_event(db, message["event"])
    participant = upsert_participant(db, event, message["participant"])
    participant.status = ACTIVE
    for seat in message["seats"]:
        _seat(db, event, participant, seat)
    mark_report_dirty(db, event.id)


def on_seat(db: Session, message: dict[str, Any]) -> None:
    """A seat confirmed, waitlisted or promoted from the waiting list."""
    event = upsert_event(db, message["event"])
    participant = upsert_participant(db, event, message["participant"])
    participant.status = ACTIVE
    _seat(db, event, participant, message["seat"])
    mark_report_dirty(db, event.id)


def on_seat_released(db: Session, message: dict[str, Any]) -> None:
    event = upsert_event(db, message["event"])
    participant = upsert_participant(db, event, message["participant"])
    session = upsert_session(db, event, message["seat"]["session"])
    remove_seat(db, participant.registration_id, session.id)
    mark_report_dirty(db, event.id)


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


def erase_participant(db: Session, registration_id: str) -> bool:
    """Delete everything held on a person here; True if they had given feedback."""
    participant = db.get(Participant, registration_id)
    had_feedback = False
    if participant is not None:
        confirmed = db.scalars(
            select(Attendance.session_id).where(
                Attendance.registration_id == registration_id, Attendance.status == CONFIRMED
            )
        ).all()
        for session_id in sorted(confirmed):
            _count_seat(db, db.get_one(ProgrammeSession, session_id), registration_id, -1)
        had_feedback = participant.responses > 0
        for model in (Endorsement, Feedback, Attendance, ThemeMember):
            db.execute(delete(model).where(model.registration_id == registration_id))
        event_id = participant.event_id
        db.delete(participant)
        if had_feedback:
            # The stored report may quote them: drop it; the next reader gets a fresh one.
            db.execute(
                update(Report)
                .where(Report.event_id == event_id)
                .values(data=None, built_at=utcnow(), keyword_cache={})
            )
            mark_report_dirty(db, event_id)
    db.execute(delete(Invitation).where(Invitation.registration_id == registration_id))
    # Events about them not yet sent (invitations) go too: there is no one to invite.
    db.execute(delete(Outbox).where(Outbox.subject_id == registration_id))
    db.flush()
    return had_feedback


def on_erased(db: Session, message: dict[str, Any]) -> None:
    erase_participant(db, message["registration_id"])
    add_event(
        db,
        Outbox,
        TaskNames.ERASURE_CONFIRMED,
        {"registration_id": message["registration_id"], "service": SERVICE},
        subject=message["registration_id"],
    )


def export_participant(db: Session, registration_id: str) -> dict[str, Any]:
    """Everything held here on a person, JSON-ready (their part of a personal-data export)."""
    participant = db.get(Participant, registration_id)
    if participant is None:
        return {"held": False}
    seats = db.execute(
        select(ProgrammeSession.code, Attendance.status)
        .join(ProgrammeSession, ProgrammeSession.id == Attendance.session_id)
        .where(Attendance.registration_id == registration_id)
        .order_by(ProgrammeSession.starts_at, ProgrammeSession.code)
    ).all()
    texts = dict(
        db.execute(
            select(Recommendation.id, Recommendation.text)
            .join(Endorsement, Endorsement.recommendation_id == Recommendation.id)
            .where(Endorsement.registration_id == registration_id)
        ).all()
    )
    feedback = []
    for item in all_my_feedback(db, ParticipantClaim(registration_id, participant.token_version)):
        feedback.append(
            {
                **item,
                "endorsements": [
                    {"recommendation": texts.get(int(rid), rid), "value": value}
                    for rid, value in item["endorsements"].items()
                ],
                "created_at": item["created_at"].isoformat(),
                "updated_at": item["updated_at"].isoformat(),
            }
        )
    invited = db.execute(
        select(ProgrammeSession.code, Invitation.created_at)
        .join(ProgrammeSession, ProgrammeSession.id == Invitation.session_id)
        .where(Invitation.registration_id == registration_id)
        .order_by(Invitation.created_at)
    ).all()
    return {
        "held": True,
        "participant": {
            "registration_id": registration_id,
            "language": participant.language,
            "country": participant.country,
            "city": participant.city,
            "role": participant.role,
            "status": participant.status,
        },
        "sessions": [{"code": code, "status": status} for code, status in seats],
        "feedback": feedback,
        "invitations": [{"session": code, "sent_at": at.isoformat()} for code, at in invited],
    }


def on_export_requested(db: Session, message: dict[str, Any]) -> None:
    add_event(
        db,
        Outbox,
        TaskNames.EXPORT_PART,
        {
            "registration_id": message["registration_id"],
            "request_id": message["request_id"],
            "service": SERVICE,
            "data": export_participant(db, message["registration_id"]),
        },
        subject=message["registration_id"],
    )


HANDLERS = {
    TaskNames.EVENT_PUBLISHED: on_event_published,
    TaskNames.SESSION_PUBLISHED: on_session_published,
    TaskNames.REGISTERED: on_registered,
    TaskNames.SEAT_CONFIRMED: on_seat,
    TaskNames.SEAT_WAITLISTED: on_seat,
    TaskNames.SEAT_PROMOTED: on_seat,
    TaskNames.SEAT_RELEASED: on_seat_released,
    TaskNames.CANCELLED: on_cancelled,
    TaskNames.ERASED: on_erased,
    TaskNames.EXPORT_REQUESTED: on_export_requested,
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


# --- submission --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The session being rated and its event, with what the rules need about the rater."""

    session_id: int
    theme: str
    starts_at: datetime
    event_id: int
    feedback_closes_at: datetime
    participant_event_id: int | None
    token_version: int | None
    language: str | None
    seat: str | None


@dataclass(frozen=True)
class Submission:
    feedback_id: int
    created: bool
    report_due: bool  # this submission opened a burst: schedule one rebuild of the report


# The submission's statements are built once: submissions are the service's hot path, and a
# statement built per request costs more Python than the database spends running it.
_RATER = bindparam("rid")
_TARGET = (
    select(
        ProgrammeSession.id,
        ProgrammeSession.theme,
        ProgrammeSession.starts_at,
        Event.id,
        Event.feedback_closes_at,
        Participant.event_id,
        Participant.token_version,
        Participant.language,
        Attendance.status,
    )
    .select_from(ProgrammeSession)
    .join(Event, Event.id == ProgrammeSession.event_id)
    .outerjoin(Participant, Participant.registration_id == _RATER)
    .outerjoin(
        Attendance,
        and_(Attendance.registration_id == _RATER, Attendance.session_id == ProgrammeSession.id),
    )
    .where(Event.slug == bindparam("slug"), ProgrammeSession.code == bindparam("code"))
)
_INSERT_FEEDBACK = insert(Feedback).returning(Feedback.id)
_COUNT_RESPONSE = (
    update(Participant)
    .where(Participant.registration_id == bindparam("rid"))
    .values(responses=Participant.responses + 1)
)
_CLAIM_REBUILD = (
    update(Report)
    .where(Report.event_id == bindparam("eid"), Report.rebuild_scheduled.is_(False))
    .values(
        dirty_since=func.coalesce(Report.dirty_since, bindparam("now", type_=UTCDateTime())),
        rebuild_scheduled=True,
    )
)


# On PostgreSQL a POST is one statement (data-modifying CTEs), atomic on its own, so it needs
# no BEGIN and COMMIT round trips either. `target` holds the session only if every rule
# allows the rating: the token is current, the rater holds a confirmed seat, the window is
# open and each endorsed text is one of the session theme's. Then the statement inserts the
# feedback (the unique key refuses a second one), its endorsements (the person's latest
# opinion of each text wins), counts the response and marks the report. When a rule says
# no, nothing is written and the id comes back NULL: the caller finds out which rule.
_POST_FEEDBACK = text(
    """
    WITH target AS (
        SELECT s.id AS session_id, e.id AS event_id, p.language
        FROM sessions s
        JOIN events e ON e.id = s.event_id
        JOIN participants p ON p.registration_id = :rid AND p.event_id = e.id
        JOIN attendance a ON a.registration_id = :rid AND a.session_id = s.id
        WHERE e.slug = :slug AND s.code = :code
          AND p.token_version = :token_version AND a.status = 'confirmed'
          AND s.starts_at <= :now AND :now < e.feedback_closes_at
          AND cardinality(CAST(:recommendation_ids AS integer[])) = (
              SELECT count(*) FROM recommendations r
              WHERE r.event_id = e.id AND r.theme = s.theme
                AND r.id = ANY(CAST(:recommendation_ids AS integer[])))
    ), created AS (
        INSERT INTO feedback
            (registration_id, session_id, rating, comment, language, created_at, updated_at)
        SELECT :rid, target.session_id, :rating, :comment, target.language, :now, :now
        FROM target
        RETURNING id
    ), endorsed AS (
        INSERT INTO endorsements
            (registration_id, recommendation_id, feedback_id, value, updated_at)
        SELECT :rid, given.recommendation_id, created.id, given.value, :now
        FROM created,
            unnest(CAST(:recommendation_ids AS integer[]), CAST(:endorsement_values AS smallint[]))
            AS given (recommendation_id, value)
        ON CONFLICT (registration_id, recommendation_id) DO UPDATE
        SET value = excluded.value, feedback_id = excluded.feedback_id,
            updated_at = excluded.updated_at
    ), counted AS (
        UPDATE participants SET responses = responses + 1
        WHERE registration_id = :rid AND EXISTS (SELECT FROM created)
    ), claimed AS (
        UPDATE reports SET dirty_since = coalesce(dirty_since, :now), rebuild_scheduled = true
        WHERE event_id = (SELECT event_id FROM target) AND rebuild_scheduled IS false
          AND EXISTS (SELECT FROM created)
        RETURNING event_id
    )
    SELECT (SELECT id FROM created), (SELECT count(*) FROM claimed)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))


def find_target(db: Session, slug: str, code: str, registration_id: str) -> Target:
    """The session and, in the same query, the rater's registration and seat in it."""
    row = (
        db.connection()
        .execute(_TARGET, {"slug": slug, "code": code, "rid": registration_id})
        .first()
    )
    if row is None:
        get_session(db, get_event(db, slug), code)  # raises the precise 404
    assert row is not None
    return Target(*row)


def check_eligible(claim: ParticipantClaim, target: Target) -> str:
    """401/403 unless the token is current and its holder has a confirmed seat; their language."""
    if target.token_version is None or target.token_version != claim.token_version:
        raise Unauthorised("This link is no longer valid.", code="invalid_link")
    if target.participant_event_id != target.event_id:
        raise Forbidden("Your registration is for another event.", code="other_event")
    if target.seat != CONFIRMED:
        raise Forbidden(
            "Only participants with a confirmed place in this session can rate it.",
            code="not_confirmed",
        )
    return str(target.language)


def check_window(target: Target, now: datetime) -> None:
    if now < target.starts_at:
        raise RuleError(
            f"Feedback opens when the session starts ({target.starts_at.isoformat()}).",
            code="not_started",
        )
    if now >= target.feedback_closes_at:
        raise RuleError(
            f"The feedback window closed at {target.feedback_closes_at.isoformat()}.",
            code="closed",
        )


def endorsement_values(given: dict[str, int]) -> dict[int, int]:
    """Endorsement keys as recommendation ids, values -2..2 (422 naming the field otherwise)."""
    wanted: dict[int, int] = {}
    for key, value in given.items():
        if not (key.isascii() and key.isdigit() and len(key) <= 9):
            raise InvalidInput(
                f"Unknown recommendation {key!r}.", "endorsements", code="unknown_recommendation"
            )
        if value not in ENDORSEMENT_VALUES:
            raise InvalidInput(
                "An endorsement is a whole number from -2 to 2.", "endorsements", code="value"
            )
        wanted[int(key)] = value
    return wanted


def check_endorsements(db: Session, target: Target, given: dict[str, int]) -> dict[int, int]:
    """Endorsement keys are ids of recommendations of the session's theme (422 otherwise)."""
    wanted = endorsement_values(given)
    if not wanted:
        return {}
    found = dict(
        db.execute(
            select(Recommendation.id, Recommendation.theme).where(
                Recommendation.event_id == target.event_id, Recommendation.id.in_(list(wanted))
            )
        ).all()
    )
    unknown = sorted(set(wanted) - set(found))
    if unknown:
        raise InvalidInput(
            f"Unknown recommendation(s): {', '.join(map(str, unknown))}.",
            "endorsements",
            code="unknown_recommendation",
        )
    other = sorted(rid for rid, theme in found.items() if theme != target.theme)
    if other:
        raise InvalidInput(
            f"Recommendation(s) {', '.join(map(str, other))} belong to another theme than "
            f"this session's ({target.theme}).",
            "endorsements",
            code="other_theme",
        )
    return wanted


def _existing_feedback(db: Session, registration_id: str, session_id: int) -> int | None:
    return db.scalar(
        select(Feedback.id).where(
            Feedback.registration_id == registration_id, Feedback.session_id == session_id
        )
    )


def _write_endorsements(
    db: Session,
    registration_id: str,
    feedback_id: int,
    wanted: dict[int, int],
    now: datetime,
    replacing: bool,
) -> None:
    """Replace what this feedback said; each opinion is the person's latest on that text."""
    if replacing:
        db.execute(
            delete(Endorsement).where(
                Endorsement.feedback_id == feedback_id,
                Endorsement.recommendation_id.not_in(list(wanted) or [-1]),
            )
        )
    if not wanted:
        return
    statement = dialect_insert(db, Endorsement)
    statement = statement.on_conflict_do_update(
        index_elements=["registration_id", "recommendation_id"],
        set_={
            "value": statement.excluded.value,
            "feedback_id": statement.excluded.feedback_id,
            "updated_at": statement.excluded.updated_at,
        },
    )
    db.execute(
        statement,
        [
            {
                "registration_id": registration_id,
                "recommendation_id": rid,
                "feedback_id": feedback_id,
                "value": value,
                "updated_at": now,
            }
            for rid, value in sorted(wanted.items())
        ],
    )


def submit_feedback(
    db: Session,
    slug: str,
    code: str,
    claim: ParticipantClaim,
    data: dict[str, Any],
    replace: bool,
    now: datetime | None = None,
) -> Submission:
    """Record a rating (POST: only the first; PUT: create or replace); the caller commits."""
    now = now or utcnow()
    if not replace and db.get_bind().dialect.name == "postgresql":
        return _post_feedback(db, slug, code, claim, data, now)
    target = find_target(db, slug, code, claim.registration_id)
    language = check_eligible(claim, target)
    check_window(target, now)
    wanted = check_endorsements(db, target, data.get("endorsements") or {})
    comment = clean_text(data.get("comment")) or None
    values = {"rating": data["rating"], "comment": comment, "language": language, "updated_at": now}
    feedback_id = (
        _existing_feedback(db, claim.registration_id, target.session_id) if replace else None
    )
    created = feedback_id is None
    if created:
        feedback_id = _insert_feedback(db, claim, target, {**values, "created_at": now}, replace)
        if feedback_id is None:  # a PUT raced with a request that created it: replace that one
            created = False
            feedback_id = _existing_feedback(db, claim.registration_id, target.session_id)
    assert feedback_id is not None
    if created:
        db.connection().execute(_COUNT_RESPONSE, {"rid": claim.registration_id})
    else:
        db.execute(update(Feedback).where(Feedback.id == feedback_id).values(**values))
    _write_endorsements(db, claim.registration_id, feedback_id, wanted, now, replacing=not created)
    due = claim_report_rebuild(db, target.event_id, now)
    return Submission(feedback_id, created, due)


def _post_feedback(
    db: Session, slug: str, code: str, claim: ParticipantClaim, data: dict[str, Any], now: datetime
) -> Submission:
    """The hot path, a POST on PostgreSQL: one statement in autocommit when the rules allow it.

    When they do not, the checks of a PUT name the rule that refused (and if none does, as
    when a seat was confirmed in between, the statement runs once more).
    """
    wanted = sorted(endorsement_values(data.get("endorsements") or {}).items())
    values = {
        "slug": slug,
        "code": code,
        "rid": claim.registration_id,
        "token_version": claim.token_version,
        "rating": data["rating"],
        "comment": clean_text(data.get("comment")) or None,
        "now": now,
        "recommendation_ids": [rid for rid, _value in wanted],
        "endorsement_values": [value for _rid, value in wanted],
    }
    engine = db.get_bind()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # type: ignore[union-attr]
        for attempt in range(2):
            try:
                feedback_id, claimed = conn.execute(_POST_FEEDBACK, values).one()
            except IntegrityError:
                raise RuleError(
                    "You have already rated this session; send PUT to replace your feedback.",
                    code="already_rated",
                ) from None
            if feedback_id is not None:
                return Submission(int(feedback_id), True, bool(claimed))
            if attempt == 0:  # which rule said no? (raises; the caller rolls back)
                target = find_target(db, slug, code, claim.registration_id)
                check_eligible(claim, target)
                check_window(target, now)
                check_endorsements(db, target, data.get("endorsements") or {})
    raise RuleError(
        "This conflicts with a change made at the same moment; please try again.",
        code="conflict",
    )


def _insert_feedback(
    db: Session, claim: ParticipantClaim, target: Target, values: dict[str, Any], replace: bool
) -> int | None:
    """Insert the feedback; the unique key decides between two requests at the same instant.

    POST: the loser gets 409. PUT: None, and the caller replaces the winner's (a savepoint
    keeps the transaction alive; POST, the hot path, does without).
    """
    row = {"registration_id": claim.registration_id, "session_id": target.session_id, **values}
    if not replace:
        try:
            return int(db.connection().execute(_INSERT_FEEDBACK, row).scalar_one())
        except IntegrityError:
            raise RuleError(
                "You have already rated this session; send PUT to replace your feedback.",
                code="already_rated",
            ) from None
    try:
        with db.begin_nested():
            return int(db.connection().execute(_INSERT_FEEDBACK, row).scalar_one())
    except IntegrityError:
        return None


def feedback_out(db: Session, feedback: Feedback, session: ProgrammeSession) -> dict[str, Any]:
    given = db.execute(
        select(Endorsement.recommendation_id, Endorsement.value).where(
            Endorsement.feedback_id == feedback.id
        )
    ).all()
    return {
        "session": session.code,
        "rating": feedback.rating,
        "comment": feedback.comment,
        "endorsements": {str(rid): value for rid, value in sorted(given)},
        "created_at": feedback.created_at,
        "updated_at": feedback.updated_at,
    }


def my_feedback(db: Session, slug: str, code: str, claim: ParticipantClaim) -> dict[str, Any]:
    event = get_event(db, slug)
    session = get_session(db, event, code)
    participant = find_participant(db, claim)
    feedback = db.scalar(
        select(Feedback).where(
            Feedback.registration_id == participant.registration_id,
            Feedback.session_id == session.id,
        )
    )
    if feedback is None:
        raise NotFound("You have not rated this session yet.", code="no_feedback")
    return feedback_out(db, feedback, session)


def all_my_feedback(db: Session, claim: ParticipantClaim) -> list[dict[str, Any]]:
    """Everything this service holds that a participant wrote (for their data export)."""
    participant = find_participant(db, claim)
    rows = db.execute(
        select(Feedback, ProgrammeSession)
        .join(ProgrammeSession, ProgrammeSession.id == Feedback.session_id)
        .where(Feedback.registration_id == participant.registration_id)
        .order_by(ProgrammeSession.starts_at, ProgrammeSession.code)
    ).all()
    return [feedback_out(db, feedback, session) for feedback, session in rows]


# --- the "rate my sessions" page -----------------------------------------------------------------


@dataclass
class RateItem:
    """One session on the participant's page, with what they said about it so far."""

    session: ProgrammeSession
    feedback: Feedback | None
    recommendations: list[Recommendation]
    endorsements: dict[int, int]
    started: bool


def rate_items(db: Session, participant: Participant, now: datetime) -> list[RateItem]:
    """The participant's confirmed sessions, in time order; only started ones can be rated."""
    sessions = db.scalars(
        select(ProgrammeSession)
        .join(Attendance, Attendance.session_id == ProgrammeSession.id)
        .where(
            Attendance.registration_id == participant.registration_id,
            Attendance.status == CONFIRMED,
        )
        .order_by(ProgrammeSession.starts_at, ProgrammeSession.code)
    ).all()
    feedback = {
        f.session_id: f
        for f in db.scalars(
            select(Feedback).where(Feedback.registration_id == participant.registration_id)
        )
    }
    recommendations: dict[str, list[Recommendation]] = defaultdict(list)
    for recommendation in db.scalars(
        select(Recommendation)
        .where(Recommendation.event_id == participant.event_id)
        .order_by(Recommendation.id)
    ):
        recommendations[recommendation.theme].append(recommendation)
    opinions = dict(
        db.execute(
            select(Endorsement.recommendation_id, Endorsement.value).where(
                Endorsement.registration_id == participant.registration_id
            )
        ).all()
    )
    items = []
    for session in sessions:
        theirs = recommendations.get(session.theme, [])
        items.append(
            RateItem(
                session=session,
                feedback=feedback.get(session.id),
                recommendations=theirs,
                endorsements={r.id: opinions[r.id] for r in theirs if r.id in opinions},
                started=session.starts_at <= now,
            )
        )
    return items


# --- summaries -----------------------------------------------------------------------------------


@dataclass
class Stats:
    """Responses and their rating distribution for a session or a group of sessions."""

    attendees: int
    distribution: Counter[int]

    @property
    def responses(self) -> int:
        return sum(self.distribution.values())

    @property
    def mean(self) -> float | None:
        total = sum(rating * n for rating, n in self.distribution.items())
        return total / self.responses if self.responses else None

    @property
    def median(self) -> float | None:
        n = self.responses
        if n == 0:
            return None
        middle = (self._nth(n // 2) + self._nth((n - 1) // 2)) / 2
        return float(middle)

    @property
    def response_rate(self) -> float:
        """Responses per confirmed attendee, at most 1 (someone may rate, then drop the seat)."""
        if self.attendees <= 0:
            return 1.0 if self.responses else 0.0
        return min(1.0, self.responses / self.attendees)

    def _nth(self, index: int) -> int:
        """The rating at a 0-based position of the sorted ratings."""
        seen = 0
        for rating in RATINGS:
            seen += self.distribution.get(rating, 0)
            if index < seen:
                return rating
        raise IndexError(index)

    def add(self, other: Stats) -> None:
        self.attendees += other.attendees
        self.distribution.update(other.distribution)

    def as_dict(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "attendees": self.attendees,
            "response_rate": self.response_rate,
            "mean": self.mean,
            "median": self.median,
            "distribution": {str(r): self.distribution.get(r, 0) for r in RATINGS},
        }


def rating_counts(db: Session, session_ids: Sequence[int]) -> dict[int, Counter[int]]:
    """The rating distribution of each session: GROUP BY rating, read from the covering index."""
    counts: dict[int, Counter[int]] = defaultdict(Counter)
    if not session_ids:
        return counts
    query: Select[Any]
    postgres = db.get_bind().dialect.name == "postgresql"
    if 2 * len(session_ids) >= (db.scalar(select(func.count(ProgrammeSession.id))) or 0):
        # Most sessions of the database are wanted (one event, the usual case): one pass over
        # the covering index (in parallel on PostgreSQL), then keep the wanted ones.
        query = select(Feedback.session_id, Feedback.rating, func.count()).group_by(
            Feedback.session_id, Feedback.rating
        )
    elif postgres:
        # One index-only scan per session (LATERAL): with `session_id IN (...)` over many
        # sessions the planner prefers a sequential scan of the whole table, twice as slow.
        ids = (
            func.unnest(bindparam("ids", list(session_ids), type_=postgresql.ARRAY(Integer)))
            .table_valued("id")
            .render_derived(name="s")
        )
        per_session = (
            select(Feedback.rating, func.count().label("n"))
            .where(Feedback.session_id == ids.c.id)
            .group_by(Feedback.rating)
            .lateral("r")
        )
        query = select(ids.c.id, per_session.c.rating, per_session.c.n).join_from(
            ids, per_session, true()
        )
    else:
        query = (
            select(Feedback.session_id, Feedback.rating, func.count())
            .where(Feedback.session_id.in_(list(session_ids)))
            .group_by(Feedback.session_id, Feedback.rating)
        )
    wanted = set(session_ids)
    for session_id, rating, n in db.execute(query):
        if session_id in wanted:
            counts[session_id][int(rating)] = int(n)
    return counts


def comments_for(db: Session, session_ids: Sequence[int]) -> dict[int, list[str]]:
    """Every comment of these sessions, in alphabetical order: never by author or time."""
    found: dict[int, list[str]] = defaultdict(list)
    if not session_ids:
        return found
    for session_id, comment in db.execute(
        select(Feedback.session_id, Feedback.comment).where(
            among(db, Feedback.session_id, session_ids), Feedback.comment.is_not(None)
        )
    ):
        found[session_id].append(comment)
    for texts in found.values():
        texts.sort(key=lambda text: (text.casefold(), text))
    return found


def event_sessions(db: Session, event: Event) -> list[ProgrammeSession]:
    return list(
        db.scalars(
            select(ProgrammeSession)
            .where(ProgrammeSession.event_id == event.id)
            .order_by(ProgrammeSession.starts_at, ProgrammeSession.code)
        ).all()
    )


def session_row(session: ProgrammeSession, stats: Stats) -> dict[str, Any]:
    return {
        "code": session.code,
        "title": session.title,
        "theme": session.theme,
        "kind": session.kind,
        "starts_at": session.starts_at,
        **stats.as_dict(),
    }


def session_summary(db: Session, event: Event, session: ProgrammeSession) -> dict[str, Any]:
    stats = Stats(session.attendees, rating_counts(db, [session.id])[session.id])
    comments = comments_for(db, [session.id])[session.id]
    return {"event": event.slug, **session_row(session, stats), "comments": comments}


def theme_stats(
    sessions: Iterable[ProgrammeSession], counts: dict[int, Counter[int]]
) -> dict[str, tuple[Stats, list[ProgrammeSession]]]:
    grouped: dict[str, tuple[Stats, list[ProgrammeSession]]] = {}
    for session in sessions:
        stats, members = grouped.setdefault(session.theme, (Stats(0, Counter()), []))
        stats.add(Stats(session.attendees, counts[session.id]))
        members.append(session)
    return dict(sorted(grouped.items()))


def event_summary(db: Session, event: Event, with_comments: bool = True) -> dict[str, Any]:
    """One row per session and one per theme, from one GROUP BY over the event's feedback."""
    sessions = event_sessions(db, event)
    ids = [s.id for s in sessions]
    counts = rating_counts(db, ids)
    comments = comments_for(db, ids) if with_comments else {}
    rows = []
    for session in sessions:
        row = session_row(session, Stats(session.attendees, counts[session.id]))
        if with_comments:
            row["comments"] = comments[session.id]
        rows.append(row)
    theme_rows = []
    for theme, (stats, members) in theme_stats(sessions, counts).items():
        row = {"theme": theme, "sessions": [s.code for s in members], **stats.as_dict()}
        if with_comments:
            texts = [text for s in members for text in comments[s.id]]
            row["comments"] = sorted(texts, key=lambda text: (text.casefold(), text))
        theme_rows.append(row)
    return {"event": event.slug, "sessions": rows, "themes": theme_rows}


# --- recommendations -----------------------------------------------------------------------------


def create_recommendation(db: Session, event: Event, theme: str, text: str) -> Recommendation:
    known = themes(db, event)
    if theme not in known:
        raise InvalidInput(
            f"No session has the theme {theme!r}; the themes are: {', '.join(known) or 'none'}.",
            "theme",
            code="unknown_theme",
        )
    recommendation = Recommendation(event_id=event.id, theme=theme, text=clean_text(text))
    db.add(recommendation)
    db.flush()
    mark_report_dirty(db, event.id)
    return recommendation


@dataclass
class Support:
    """How participants answered one recommendation (-2..+2)."""

    counts: Counter[int]

    @property
    def answers(self) -> int:
        return sum(self.counts.values())

    @property
    def mean(self) -> float | None:
        total = sum(value * n for value, n in self.counts.items())
        return total / self.answers if self.answers else None

    @property
    def positive_share(self) -> float | None:
        positive = sum(n for value, n in self.counts.items() if value > 0)
        return positive / self.answers if self.answers else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "mean": self.mean,
            "positive_share": self.positive_share,
            "distribution": {str(v): self.counts.get(v, 0) for v in ENDORSEMENT_VALUES},
        }


def support_rank_key(row: dict[str, Any]) -> tuple[float, float, int, int]:
    """Ranked by mean support, then share of positive answers, then answers (unanswered last)."""
    mean = row["mean"] if row["mean"] is not None else -3.0
    share = row["positive_share"] if row["positive_share"] is not None else -1.0
    return (-mean, -share, -row["answers"], row["id"])


def recommendations_with_support(db: Session, event: Event) -> list[dict[str, Any]]:
    recommendations = db.scalars(
        select(Recommendation)
        .where(Recommendation.event_id == event.id)
        .order_by(Recommendation.theme, Recommendation.id)
    ).all()
    counts: dict[int, Counter[int]] = defaultdict(Counter)
    for rid, value, n in db.execute(
        select(Endorsement.recommendation_id, Endorsement.value, func.count())
        .join(Recommendation, Recommendation.id == Endorsement.recommendation_id)
        .where(Recommendation.event_id == event.id)
        .group_by(Endorsement.recommendation_id, Endorsement.value)
    ):
        counts[rid][int(value)] = int(n)
    return [
        {
            "id": r.id,
            "theme": r.theme,
            "text": r.text,
            "created_at": r.created_at,
            **Support(counts[r.id]).as_dict(),
        }
        for r in recommendations
    ]


# --- invitations ---------------------------------------------------------------------------------


def due_sessions(db: Session, now: datetime, delay: timedelta) -> list[ProgrammeSession]:
    """Sessions over for `delay` whose event still takes feedback."""
    return list(
        db.scalars(
            select(ProgrammeSession)
            .join(Event, Event.id == ProgrammeSession.event_id)
            .where(ProgrammeSession.ends_at <= now - delay, Event.feedback_closes_at > now)
            .order_by(ProgrammeSession.ends_at, ProgrammeSession.id)
        ).all()
    )


def _uninvited(db: Session, session_id: int, limit: int) -> list[str]:
    return list(
        db.scalars(
            select(Attendance.registration_id)
            .outerjoin(
                Invitation,
                and_(
                    Invitation.registration_id == Attendance.registration_id,
                    Invitation.session_id == Attendance.session_id,
                ),
            )
            .where(
                Attendance.session_id == session_id,
                Attendance.status == CONFIRMED,
                Invitation.id.is_(None),
            )
            .order_by(Attendance.registration_id)
            .limit(limit)
        ).all()
    )


def _invite_batch(db: Session, session: ProgrammeSession, now: datetime) -> tuple[int, bool]:
    """Invite up to a batch of a session's attendees; (invited, more may be left)."""
    candidates = _uninvited(db, session.id, INVITATION_BATCH)
    claim = (
        dialect_insert(db, Invitation)
        .on_conflict_do_nothing(index_elements=["registration_id", "session_id"])
        .returning(Invitation.id)
    )
    event = info = None
    invited = 0
    for registration_id in candidates:
        # The unique key is the claim: another worker's row makes this insert a no-op.
        won = db.execute(
            claim.values(registration_id=registration_id, session_id=session.id, created_at=now)
        ).scalar()
        if won is None:
            continue
        if info is None:
            event, info = event_info(session.event), session_info(session)
        add_event(
            db,
            Outbox,
            TaskNames.FEEDBACK_INVITATION,
            {"registration_id": registration_id, "event": event, "session": info},
            subject=registration_id,
        )
        invited += 1
    return invited, len(candidates) == INVITATION_BATCH


def send_due_invitations(database: Database, delay: timedelta, now: datetime | None = None) -> int:
    """Invite every confirmed attendee of every session over for `delay`, once; how many now."""
    now = now or utcnow()
    with database.transaction() as db:
        session_ids = [s.id for s in due_sessions(db, now, delay)]
    total = 0
    for session_id in session_ids:
        more = True
        while more:
            with database.transaction() as db:
                session = db.get(ProgrammeSession, session_id)
                if session is None:
                    break
                invited, more = _invite_batch(db, session, now)
            total += invited
    if total:
        log.info("feedback.invitations_written", count=total)
    return total
