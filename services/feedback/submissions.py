"""Giving feedback: a rating, a comment and endorsements of the theme's recommendations.

One feedback per participant and session (the unique key decides); who may give it is the
rule in eligibility. A submission is the hot path: one query reads the session, the event,
the rater and their seat; the writes follow (on PostgreSQL a POST writes in one statement,
without BEGIN/COMMIT). Each person's latest opinion of a recommendation is the one that counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.feedback.eligibility import (
    ALLOWED_TARGET,
    Target,
    check,
    endorsement_values,
    sql_parameters,
)
from services.feedback.models import Endorsement, Feedback, Participant, ProgrammeSession, Report
from services.feedback.readmodel import find_participant, get_event, get_session
from shared.auth import ParticipantClaim
from shared.db import UTCDateTime, utcnow
from shared.errors import NotFound, RuleError
from shared.sql import dialect_insert, is_postgresql

# What a request told to try again hears: another one changed the same rows at that moment.
CONFLICT = "This conflicts with a change made at the same moment; please try again."


def clean_text(text: str | None) -> str:
    """Typed text as stored: trimmed, without NUL characters (PostgreSQL cannot store them)."""
    return (text or "").replace("\x00", "").strip()


@dataclass(frozen=True)
class Submission:
    feedback_id: int
    created: bool
    report_due: bool  # this submission opened a burst: schedule one rebuild of the report


# The submission's statements are built once: submissions are the service's hot path, and a
# statement built per request costs more Python than the database spends running it.
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
# no BEGIN and COMMIT round trips either. `target` is the rule in SQL (eligibility): it holds
# the session only if every rule allows the rating. Then the statement inserts the feedback
# (the unique key refuses a second one), its endorsements (the person's latest opinion of
# each text wins), counts the response and marks the report. When a rule says no, nothing is
# written and the id comes back NULL: the caller finds out which rule.
_POST_FEEDBACK = text(
    f"""
    WITH target AS ({ALLOWED_TARGET}), created AS (
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


def claim_report_rebuild(db: Session, event_id: int, now: datetime) -> bool:
    """Mark the report out of date; True if the caller must queue the one rebuild of this burst.

    Only the first submission of a burst writes the row (the flag is set until the rebuild
    runs), so concurrent submissions do not queue behind each other on it.
    """
    result = db.connection().execute(_CLAIM_REBUILD, {"eid": event_id, "now": now})
    return bool(result.rowcount)


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
    if not replace and is_postgresql(db):
        return _post_feedback(db, slug, code, claim, data, now)
    allowed = check(db, slug, code, claim, data.get("endorsements") or {}, now)
    target, language, wanted = allowed.target, allowed.language, allowed.endorsements
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
        **sql_parameters(slug, code, claim, [rid for rid, _value in wanted], now),
        "rating": data["rating"],
        "comment": clean_text(data.get("comment")) or None,
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
                check(db, slug, code, claim, data.get("endorsements") or {}, now)
    raise RuleError(CONFLICT, code="conflict")


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


# --- a participant's own feedback ------------------------------------------------------------


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
