"""Who may rate what, and when: the one rule, written twice, side by side.

A participant may rate a session when their link's token is current, they hold a confirmed
seat in it, the session has started and the event's feedback window is still open; each
recommendation they endorse must be one of the session theme's.

- The Python rule (`check`) names the rule that says no: the PUT path, every submission on
  SQLite, and the explanation of a refused POST on PostgreSQL use it.
- The SQL rule (`ALLOWED_TARGET`) is the first part of the one statement a POST is on
  PostgreSQL (see submissions): it yields the session only when every rule allows the rating,
  and says nothing about why not.

A change to one is a change to the other: tests/feedback/test_eligibility.py runs the same
cases through both and checks that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select, text
from sqlalchemy.orm import Session

from services.feedback.models import (
    CONFIRMED,
    ENDORSEMENT_VALUES,
    Attendance,
    Event,
    Participant,
    ProgrammeSession,
    Recommendation,
)
from services.feedback.readmodel import get_event, get_session
from shared.auth import ParticipantClaim
from shared.db import UTCDateTime
from shared.errors import Forbidden, InvalidInput, RuleError, Unauthorised

# --- the rule in Python ----------------------------------------------------------------------


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


# The session, its event, the rater and their seat in one query, built once (a statement
# built per request costs more Python than the database spends running it).
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


@dataclass(frozen=True)
class Allowed:
    """A rating the rules allow: the session, the rater's language, the endorsements by id."""

    target: Target
    language: str
    endorsements: dict[int, int]


def check(
    db: Session, slug: str, code: str, claim: ParticipantClaim, given: dict[str, int], now: datetime
) -> Allowed:
    """The rule in Python: what the rating needs if allowed, else the first rule that says no.

    404 for an unknown event or session, 401 for a revoked link, 403 without a confirmed seat,
    409 outside the feedback window, 422 for an endorsement of a text not of the theme's.
    """
    target = find_target(db, slug, code, claim.registration_id)
    language = check_eligible(claim, target)
    check_window(target, now)
    endorsements = check_endorsements(db, target, given)
    return Allowed(target, language, endorsements)


# --- the rule in SQL (PostgreSQL) ------------------------------------------------------------

# The session, its event and the rater's language, only if every rule allows the rating: the
# token is current, the rater holds a confirmed seat, the window is open and each endorsed
# text is one of the session theme's. It is the `target` of the POST's one statement.
ALLOWED_TARGET = """
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
"""
_ALLOWED = text(ALLOWED_TARGET).bindparams(bindparam("now", type_=UTCDateTime()))


def sql_parameters(
    slug: str, code: str, claim: ParticipantClaim, recommendation_ids: list[int], now: datetime
) -> dict[str, Any]:
    """The values the SQL rule reads (the POST adds what it writes)."""
    return {
        "slug": slug,
        "code": code,
        "rid": claim.registration_id,
        "token_version": claim.token_version,
        "now": now,
        "recommendation_ids": recommendation_ids,
    }


def sql_allows(
    db: Session,
    slug: str,
    code: str,
    claim: ParticipantClaim,
    recommendation_ids: list[int],
    now: datetime,
) -> bool:
    """The rule in SQL, run on its own: whether it lets this rating through."""
    values = sql_parameters(slug, code, claim, recommendation_ids, now)
    return db.connection().execute(_ALLOWED, values).first() is not None
