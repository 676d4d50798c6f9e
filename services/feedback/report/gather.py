"""Gathering the report's data: what it needs, read in one short transaction.

A handful of GROUP BY queries over covering indexes, counters kept at write time, and the
newest `COMMENT_SAMPLE` comments of each session and language; nothing is computed here, so a
SQLite write lock is never held while Python works.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from services.feedback.models import Event, Feedback, Participant, ProgrammeSession, ThemeMember
from services.feedback.recommendations import recommendations_with_support
from services.feedback.summaries import event_sessions, rating_counts
from shared.sql import among

COMMENT_SAMPLE = 60  # newest comments per session and language


@dataclass
class Snapshot:
    """Everything the report needs, read from the database in one transaction."""

    event: Event
    sessions: list[ProgrammeSession]
    counts: dict[int, Counter[int]]
    recommendations: list[dict[str, Any]]
    comment_counts: dict[int, Counter[str]]
    samples: dict[int, list[tuple[str, int, str]]]  # session id → (comment, rating, language)
    people: list[tuple[str, str, str, str, int]]  # (theme, country, city, role, how many)
    everyone: list[tuple[str, str, str, int]]  # (country, city, role, how many)
    respondents: int
    taken_at: datetime


def gather(db: Session, event: Event, now: datetime) -> Snapshot:
    sessions = event_sessions(db, event)
    ids = [s.id for s in sessions]
    comment_counts: dict[int, Counter[str]] = defaultdict(Counter)
    samples: dict[int, list[tuple[str, int, str]]] = defaultdict(list)
    if ids:
        # Both read the partial index of comments (session, language, id).
        for session_id, language, n in db.execute(
            select(Feedback.session_id, Feedback.language, func.count())
            .where(among(db, Feedback.session_id, ids), Feedback.comment.is_not(None))
            .group_by(Feedback.session_id, Feedback.language)
        ):
            comment_counts[session_id][language] = int(n)
        # A UNION keeps no order: newest first again, per session and language.
        rows = sorted(_samples(db, comment_counts), key=lambda r: (r.session_id, r.language, -r.id))
        for row in rows:
            samples[row.session_id].append((row.comment, int(row.rating), row.language))
    who = (Participant.country, Participant.city, Participant.role)
    people = db.execute(
        select(ThemeMember.theme, *who, func.count())
        .join(Participant, Participant.registration_id == ThemeMember.registration_id)
        .where(ThemeMember.event_id == event.id)
        .group_by(ThemeMember.theme, *who)
    ).all()
    member = select(ThemeMember.registration_id).where(
        ThemeMember.registration_id == Participant.registration_id
    )
    everyone = db.execute(
        select(*who, func.count())
        .where(Participant.event_id == event.id, member.exists())
        .group_by(*who)
    ).all()
    respondents = db.scalar(
        select(func.count()).where(Participant.event_id == event.id, Participant.responses > 0)
    )
    return Snapshot(
        event=event,
        sessions=sessions,
        counts=rating_counts(db, ids),
        recommendations=recommendations_with_support(db, event),
        comment_counts=comment_counts,
        samples=samples,
        people=[tuple(row) for row in people],  # type: ignore[misc]
        everyone=[tuple(row) for row in everyone],  # type: ignore[misc]
        respondents=int(respondents or 0),
        taken_at=now,
    )


def _samples(db: Session, counts: dict[int, Counter[str]]) -> list[Any]:
    """The newest COMMENT_SAMPLE comments of each session and language, in one round trip."""
    parts = [
        select(
            Feedback.id, Feedback.session_id, Feedback.comment, Feedback.rating, Feedback.language
        )
        .where(
            Feedback.session_id == session_id,
            Feedback.language == language,
            Feedback.comment.is_not(None),
        )
        .order_by(Feedback.id.desc())
        .limit(COMMENT_SAMPLE)
        .subquery()
        for session_id, languages in sorted(counts.items())
        for language in sorted(languages)
    ]
    if not parts:
        return []
    return list(db.execute(union_all(*(select(part) for part in parts))).all())
