"""What organisers read about the feedback: figures per session and per theme, the comments,
and the export of every rating without identities.

Summaries are computed by the database (GROUP BY rating), then finished in Python over at
most five numbers per session: the mean and the median of integer ratings follow exactly from
their distribution.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from services.feedback.models import RATINGS, Event, Feedback, ProgrammeSession
from shared.sql import among, is_postgresql

EXPORT_COLUMNS = ["session", "session_title", "theme", "rating", "comment"]


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
    if 2 * len(session_ids) >= (db.scalar(select(func.count(ProgrammeSession.id))) or 0):
        # Most sessions of the database are wanted (one event, the usual case): one pass over
        # the covering index (in parallel on PostgreSQL), then keep the wanted ones.
        query = select(Feedback.session_id, Feedback.rating, func.count()).group_by(
            Feedback.session_id, Feedback.rating
        )
    elif is_postgresql(db):
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


def theme_translations(sessions: Iterable[ProgrammeSession]) -> dict[str, Any]:
    """A theme's name in other languages, from its sessions (each may carry some of them)."""
    merged: dict[str, Any] = {}
    for session in sessions:
        merged = {**session.theme_translations, **merged}
    return merged


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


def export_rows(db: Session, event: Event) -> list[dict[str, Any]]:
    """Every rating and comment, by session then rating then text: nothing says who or when."""
    rows = db.execute(
        select(
            ProgrammeSession.code,
            ProgrammeSession.title,
            ProgrammeSession.theme,
            Feedback.rating,
            Feedback.comment,
        )
        .join(ProgrammeSession, ProgrammeSession.id == Feedback.session_id)
        .where(ProgrammeSession.event_id == event.id)
    ).all()
    ordered = sorted(
        rows, key=lambda r: (r.code, -r.rating, (r.comment or "").casefold(), r.comment or "")
    )
    return [
        {
            "session": r.code,
            "session_title": r.title,
            "theme": r.theme,
            "rating": r.rating,
            "comment": r.comment,
        }
        for r in ordered
    ]
