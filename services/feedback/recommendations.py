"""Draft recommendations per theme, and how participants support them (-2..+2)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.feedback.models import ENDORSEMENT_VALUES, Endorsement, Event, Recommendation
from services.feedback.readmodel import mark_report_dirty, themes
from services.feedback.submissions import clean_text
from shared import audit
from shared.errors import InvalidInput


def create_recommendation(
    db: Session, event: Event, theme: str, text: str, language: str | None = None
) -> Recommendation:
    """A draft for one of the event's themes; `language` is the one it is written in, if known."""
    known = themes(db, event)
    if theme not in known:
        raise InvalidInput(
            f"No session has the theme {theme!r}; the themes are: {', '.join(known) or 'none'}.",
            "theme",
            code="unknown_theme",
        )
    recommendation = Recommendation(
        event_id=event.id, theme=theme, text=clean_text(text), language=language
    )
    db.add(recommendation)
    db.flush()
    mark_report_dirty(db, event.id)
    audit.record(db, "recommendations.created", recommendation.id, event.slug)
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
            "language": r.language,
            "created_at": r.created_at,
            **Support(counts[r.id]).as_dict(),
        }
        for r in recommendations
    ]
