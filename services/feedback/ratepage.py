"""What the "rate my sessions" page shows a participant: their confirmed sessions, with what
they said about each so far."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback.models import (
    CONFIRMED,
    Attendance,
    Endorsement,
    Feedback,
    Participant,
    ProgrammeSession,
    Recommendation,
)


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
