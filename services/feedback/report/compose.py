"""Composing the report from a snapshot: the figures, keywords, representative comments and who
took part, as JSON-ready data (the module `services.feedback.report` lists the rules)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.feedback.models import Event, ProgrammeSession
from services.feedback.recommendations import support_rank_key
from services.feedback.report.gather import COMMENT_SAMPLE, Snapshot, gather
from services.feedback.report.keywords import (
    KEYWORD_TEXT_BUDGET,
    KEYWORDS_PER_LANGUAGE,
    WORD,
    theme_keywords,
)
from services.feedback.summaries import Stats, theme_stats, theme_translations

REPORT_VERSION = 2  # 2: the city's and themes' translations, the event's time zone
SMALL_GROUP = 3
REPRESENTATIVE_COMMENTS = 3
INFORMATIVE_WORDS = 8
QUOTE_MAX = 600
OTHER = "other"


def aggregate(counted: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """People per value, largest first; values held by fewer than SMALL_GROUP people pooled."""
    counts: Counter[str] = Counter()
    for value, n in counted:
        counts[value] += n
    items = [
        {"value": value, "count": n}
        for value, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if value and n >= SMALL_GROUP
    ]
    other = sum(n for value, n in counts.items() if not value or n < SMALL_GROUP)
    return {"items": items, OTHER: other}


def who_took_part(rows: Sequence[tuple[str, str, str, int]]) -> dict[str, Any]:
    """(country, city, role, how many) rows, in aggregate only."""
    return {
        "people": sum(n for *_values, n in rows),
        "countries": aggregate((country, n) for country, _city, _role, n in rows),
        "cities": aggregate((city, n) for _country, city, _role, n in rows),
        "roles": aggregate((role, n) for _country, _city, role, n in rows),
    }


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1].rstrip() + "…"


def representative(
    comments: list[tuple[str, int, str]], mean: float | None
) -> list[dict[str, Any]]:
    """Comments whose rating is closest to the theme's mean, longest first (see the module)."""
    if not comments or mean is None:
        return []
    informative = [c for c in comments if len(WORD.findall(c[0])) >= INFORMATIVE_WORDS]
    pool = informative or comments
    ranked = sorted(pool, key=lambda c: (abs(c[1] - mean), -len(c[0]), c[0].casefold()))
    chosen: list[dict[str, Any]] = []
    seen: set[str] = set()
    for text, rating, language in ranked:
        if text.casefold() in seen:
            continue
        seen.add(text.casefold())
        chosen.append({"text": _quote(text), "rating": rating, "language": language})
        if len(chosen) == REPRESENTATIVE_COMMENTS:
            break
    return chosen


def interleave(lists: Sequence[Sequence[Any]]) -> list[Any]:
    """One item of each list in turn, so every session has its say within a budget."""
    merged = []
    for row in itertools.zip_longest(*lists):
        merged.extend(item for item in row if item is not None)
    return merged


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _session_out(session: ProgrammeSession, stats: Stats) -> dict[str, Any]:
    return {
        "code": session.code,
        "title": session.title,
        "title_translations": dict(session.title_translations),
        "kind": session.kind,
        "starts_at": _iso(session.starts_at),
        **stats.as_dict(),
    }


def _rank(recommendations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ranked = sorted(recommendations, key=support_rank_key)
    return [
        {
            "rank": position,
            **{k: v for k, v in row.items() if k not in ("theme", "created_at")},
        }
        for position, row in enumerate(ranked, start=1)
    ]


def _headline(snapshot: Snapshot, overall: Stats, started: Stats) -> dict[str, Any]:
    everyone = snapshot.everyone
    return {
        "participants": sum(n for *_values, n in everyone),
        "countries": len({country for country, _city, _role, _n in everyone if country}),
        "cities": len({city.casefold() for _country, city, _role, _n in everyone if city}),
        "sessions": len(snapshot.sessions),
        "sessions_rated": sum(1 for s in snapshot.sessions if snapshot.counts[s.id]),
        "responses": overall.responses,
        "respondents": snapshot.respondents,
        "response_rate": started.response_rate,
        "mean": overall.mean,
        "median": overall.median,
        "distribution": overall.as_dict()["distribution"],
        "comments": sum(sum(c.values()) for c in snapshot.comment_counts.values()),
        "recommendations": len(snapshot.recommendations),
        "answers": sum(r["answers"] for r in snapshot.recommendations),
    }


def compose(snapshot: Snapshot, cache: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report as JSON-ready data, and the keyword cache to keep with it."""
    event, counts = snapshot.event, snapshot.counts
    overall, started = Stats(0, Counter()), Stats(0, Counter())
    for session in snapshot.sessions:
        stats = Stats(session.attendees, counts[session.id])
        overall.add(stats)
        if session.starts_at <= snapshot.taken_at:
            started.add(stats)
    recommendations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in snapshot.recommendations:
        recommendations[row["theme"]].append(row)
    people: dict[str, list[tuple[str, str, str, int]]] = defaultdict(list)
    for theme, country, city, role, n in snapshot.people:
        people[theme].append((country, city, role, n))
    themes, new_cache = [], {}
    for theme, (stats, members) in theme_stats(snapshot.sessions, counts).items():
        comments = interleave([snapshot.samples.get(s.id, []) for s in members])
        keywords, theme_cache = theme_keywords(theme, comments, cache)
        new_cache.update(theme_cache)
        languages: Counter[str] = Counter()
        for s in members:
            languages.update(snapshot.comment_counts.get(s.id, Counter()))
        themes.append(
            {
                "theme": theme,
                "theme_translations": theme_translations(members),
                "stats": stats.as_dict(),
                "sessions": [_session_out(s, Stats(s.attendees, counts[s.id])) for s in members],
                "recommendations": _rank(recommendations.get(theme, [])),
                "keywords": keywords,
                "comments": {"count": sum(languages.values()), "by_language": dict(languages)},
                "representative_comments": representative(comments, stats.mean),
                "participants": who_took_part(people.get(theme, [])),
            }
        )
    data = {
        "version": REPORT_VERSION,
        "event": {
            "slug": event.slug,
            "title": event.title,
            "title_translations": dict(event.title_translations),
            "city": event.city,
            "city_translations": dict(event.city_translations),
            "timezone": event.timezone,
            "starts_on": event.starts_on.isoformat(),
            "ends_on": event.ends_on.isoformat(),
        },
        "generated_at": _iso(snapshot.taken_at),
        "headline": _headline(snapshot, overall, started),
        "participants": who_took_part(snapshot.everyone),
        "themes": themes,
        "method": {
            "small_group": SMALL_GROUP,
            "comment_sample": COMMENT_SAMPLE,
            "keyword_text_budget": KEYWORD_TEXT_BUDGET,
            "keywords_per_language": KEYWORDS_PER_LANGUAGE,
            "representative_comments": REPRESENTATIVE_COMMENTS,
            "informative_words": INFORMATIVE_WORDS,
        },
    }
    return data, new_cache


def build(db: Session, event: Event, cache: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Gather and compose in one go (tests and small events); see `rebuild` for the stored one."""
    return compose(gather(db, event, now), cache)[0]
