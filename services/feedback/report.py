"""The recommendation report: built from the feedback, stored, and rendered in four formats.

Building has two phases. `gather` reads what it needs in one short transaction (a handful of
GROUP BY queries over covering indexes, counters kept at write time, and the newest
`COMMENT_SAMPLE` comments of each session and language), so a SQLite write lock is never held
while Python works; `compose` then computes keywords (cached per theme and language while
their comments do not change), representative comments and the aggregates.

Freshness: the first submission of a burst sets `reports.dirty_since` and
`rebuild_scheduled` and queues one rebuild `COALESCE_SECONDS` later (later submissions of the
burst write nothing); other changes (seats, erasures, recommendations) only set `dirty_since`,
and the periodic job rebuilds those. Readers get the stored report unless changes older than
`MAX_AGE` are missing from it, in which case they build it themselves: a report is never older
than a minute after the last submission.

Rules the report follows (also printed in its "method" section):
- themes: every session theme; the figures of a theme add up those of its sessions.
- recommendations are ranked by mean support (-2..+2), then share of positive answers, then
  number of answers; each participant has one answer per recommendation (their latest).
- keywords: YAKE over the newest comments of each theme in each language (comments are in
  their author's language), up to `KEYWORD_TEXT_BUDGET` characters; a keyword is kept only if it
  recurs in at least two comments.
- representative comments: among sampled comments of at least `INFORMATIVE_WORDS` words (or
  any, when none is that long), those whose rating is closest to the theme's mean rating, the
  longest first; at most `REPRESENTATIVE_COMMENTS`, each cut at `QUOTE_MAX` characters.
- who took part: people with a confirmed seat, counted once per theme; any country, city or
  role with fewer than `SMALL_GROUP` people is pooled into "other", so no one stands out.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import structlog
from sqlalchemy import func, or_, select, union_all, update
from sqlalchemy.orm import Session

from services.feedback import logic
from services.feedback.models import (
    RATINGS,
    Event,
    Feedback,
    Participant,
    ProgrammeSession,
    Report,
    ThemeMember,
)
from shared.db import Database, utcnow

log = structlog.get_logger(__name__)

REPORT_VERSION = 1
COALESCE_SECONDS = 5  # one rebuild this long after the first change of a burst
MAX_AGE = timedelta(seconds=50)  # the promise is a minute; keep a margin for the build itself
SMALL_GROUP = 3
COMMENT_SAMPLE = 60  # newest comments per session and language
KEYWORD_TEXT_BUDGET = 6000
KEYWORD_NGRAM = 3
KEYWORDS_PER_LANGUAGE = 8
REPRESENTATIVE_COMMENTS = 3
INFORMATIVE_WORDS = 8
QUOTE_MAX = 600
OTHER = "other"


# --- gathering (SQL) --------------------------------------------------------------------------


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
    sessions = logic.event_sessions(db, event)
    ids = [s.id for s in sessions]
    comment_counts: dict[int, Counter[str]] = defaultdict(Counter)
    samples: dict[int, list[tuple[str, int, str]]] = defaultdict(list)
    if ids:
        # Both read the partial index of comments (session, language, id).
        for session_id, language, n in db.execute(
            select(Feedback.session_id, Feedback.language, func.count())
            .where(logic.among(db, Feedback.session_id, ids), Feedback.comment.is_not(None))
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
        counts=logic.rating_counts(db, ids),
        recommendations=logic.recommendations_with_support(db, event),
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


# --- composing (Python) ------------------------------------------------------------------------


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


_WORD = re.compile(r"\w+", re.UNICODE)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text[-1:] in ".!?…" else text + "."


def _digest(language: str, texts: Sequence[str]) -> str:
    body = "\x00".join([language, str(KEYWORD_NGRAM), *texts])
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def extract_keywords(texts: Sequence[str], language: str) -> list[dict[str, Any]]:
    """Keywords recurring in at least two of the texts, with how many texts contain each."""
    if len(texts) < 2:
        return []
    import yake  # imported here: only workers and report builders pay for it

    extractor = yake.KeywordExtractor(lan=language, n=KEYWORD_NGRAM, top=40, dedup_lim=0.8)
    lowered = [text.casefold() for text in texts]
    found: list[dict[str, Any]] = []
    taken: set[str] = set()  # significant words of the keywords kept so far
    for phrase, _score in extractor.extract_keywords("\n".join(map(_sentence, texts))):
        key = " ".join(phrase.casefold().split())
        words = {w for w in _WORD.findall(key) if len(w) >= 4}
        # "médiation sociale" makes "médiation" and "financer la médiation" redundant.
        if not words or words & taken:
            continue
        pattern = re.compile(r"(?<!\w)" + re.escape(key) + r"(?!\w)")
        recurring = sum(1 for text in lowered if pattern.search(text))
        if recurring >= 2:
            found.append({"keyword": key, "comments": recurring})
            taken |= words
        if len(found) == KEYWORDS_PER_LANGUAGE:
            break
    return found


def budgeted(texts: Iterable[str], budget: int = KEYWORD_TEXT_BUDGET) -> list[str]:
    """The first texts (newest first) that fit in `budget` characters."""
    kept, used = [], 0
    for text in texts:
        if used + len(text) > budget and kept:
            break
        kept.append(text)
        used += len(text)
    return kept


def theme_keywords(
    theme: str, comments: list[tuple[str, int, str]], cache: dict[str, Any]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Keywords per language for one theme, reusing the cache when the input is unchanged."""
    by_language: dict[str, list[str]] = defaultdict(list)
    for text, _rating, language in comments:
        by_language[language].append(text)
    keywords, new_cache = {}, {}
    for language in sorted(by_language):
        texts = budgeted(by_language[language])
        key = f"{theme}\x1f{language}"
        digest = _digest(language, texts)
        cached = cache.get(key)
        if cached and cached.get("digest") == digest:
            found = cached["keywords"]
        else:
            found = extract_keywords(texts, language)
        new_cache[key] = {"digest": digest, "keywords": found}
        if found:
            keywords[language] = found
    return keywords, new_cache


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1].rstrip() + "…"


def representative(
    comments: list[tuple[str, int, str]], mean: float | None
) -> list[dict[str, Any]]:
    """Comments whose rating is closest to the theme's mean, longest first (see the module)."""
    if not comments or mean is None:
        return []
    informative = [c for c in comments if len(_WORD.findall(c[0])) >= INFORMATIVE_WORDS]
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


def _session_out(session: ProgrammeSession, stats: logic.Stats) -> dict[str, Any]:
    return {
        "code": session.code,
        "title": session.title,
        "title_translations": dict(session.title_translations),
        "kind": session.kind,
        "starts_at": _iso(session.starts_at),
        **stats.as_dict(),
    }


def _rank(recommendations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ranked = sorted(recommendations, key=logic.support_rank_key)
    return [
        {
            "rank": position,
            **{k: v for k, v in row.items() if k not in ("theme", "created_at")},
        }
        for position, row in enumerate(ranked, start=1)
    ]


def _headline(snapshot: Snapshot, overall: logic.Stats, started: logic.Stats) -> dict[str, Any]:
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
    overall, started = logic.Stats(0, Counter()), logic.Stats(0, Counter())
    for session in snapshot.sessions:
        stats = logic.Stats(session.attendees, counts[session.id])
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
    for theme, (stats, members) in logic.theme_stats(snapshot.sessions, counts).items():
        comments = interleave([snapshot.samples.get(s.id, []) for s in members])
        keywords, theme_cache = theme_keywords(theme, comments, cache)
        new_cache.update(theme_cache)
        languages: Counter[str] = Counter()
        for s in members:
            languages.update(snapshot.comment_counts.get(s.id, Counter()))
        themes.append(
            {
                "theme": theme,
                "stats": stats.as_dict(),
                "sessions": [
                    _session_out(s, logic.Stats(s.attendees, counts[s.id])) for s in members
                ],
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


# --- storing and serving -----------------------------------------------------------------------


def _report_row(db: Session, event: Event) -> Report:
    report = db.get(Report, event.id)
    if report is None:
        report = Report(event_id=event.id, keyword_cache={})
        db.add(report)
        db.flush()
    return report


def rebuild(database: Database, slug: str) -> dict[str, Any] | None:
    """Build the report of an event and store it; None if the event is unknown.

    The dirty marker is cleared first, so a change committed during the build marks the report
    again (and schedules another rebuild). The result is stored only if nothing newer was
    stored meanwhile, and never over an erasure that happened after the build started.
    """
    started = utcnow()
    with database.transaction() as db:
        event = db.scalar(select(Event).where(Event.slug == slug))
        if event is None:
            return None
        report = _report_row(db, event)
        was_dirty = report.dirty_since
        report.dirty_since, report.rebuild_scheduled = None, False
        cache = dict(report.keyword_cache or {})
    try:
        with database.transaction() as db:
            event = db.get_one(Event, event.id)
            snapshot = gather(db, event, started)
        data, cache = compose(snapshot, cache)
    except Exception:
        with database.transaction() as db:
            db.execute(
                update(Report)
                .where(Report.event_id == event.id, Report.dirty_since.is_(None))
                .values(dirty_since=was_dirty or started)
            )
        raise
    with database.transaction() as db:
        db.execute(
            update(Report)
            .where(
                Report.event_id == event.id,
                or_(Report.built_at.is_(None), Report.built_at <= started),
            )
            .values(data=data, keyword_cache=cache, built_at=started)
        )
    log.info("report.built", slug=slug, seconds=round((utcnow() - started).total_seconds(), 3))
    return data


def latest(database: Database, slug: str, now: datetime | None = None) -> dict[str, Any]:
    """The stored report, unless it misses changes older than MAX_AGE: then a fresh one."""
    now = now or utcnow()
    with database.transaction() as db:
        event = logic.get_event(db, slug)
        report = _report_row(db, event)
        stale = report.data is None or (
            report.dirty_since is not None and report.dirty_since <= now - MAX_AGE
        )
        if not stale:
            assert report.data is not None
            return report.data
    data = rebuild(database, slug)
    assert data is not None
    return data


def rebuild_stale(database: Database, now: datetime | None = None) -> int:
    """Rebuild every report whose changes wait longer than a burst: the scheduled task's net."""
    now = now or utcnow()
    with database.transaction() as db:
        slugs = db.scalars(
            select(Event.slug)
            .join(Report, Report.event_id == Event.id)
            .where(Report.dirty_since <= now - timedelta(seconds=COALESCE_SECONDS))
        ).all()
    for slug in slugs:
        rebuild(database, slug)
    return len(slugs)


# --- rendering ---------------------------------------------------------------------------------


@dataclass
class Labels:
    """What the renderers need from the page's language: a translate function and names."""

    gettext: Callable[..., str]
    language: str
    country: Callable[[str], str] = str
    role: Callable[[str], str] = str
    kind: Callable[[str], str] = str
    extra: dict[str, Any] = field(default_factory=dict)

    def title(self, item: dict[str, Any]) -> str:
        return str((item.get("title_translations") or {}).get(self.language) or item["title"])

    def value(self, kind: str, value: str) -> str:
        if kind == "countries":
            return self.country(value)
        if kind == "roles":
            return self.role(value)
        return value


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(100 * value)} %"


def number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


# Markdown: every character with a meaning in CommonMark or GFM gets a backslash, and the
# three HTML ones become entities, so participants' text can neither format nor inject.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>=])")


def md_escape(text: str) -> str:
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_aggregate(lines: list[str], labels: Labels, who: dict[str, Any]) -> None:
    _ = labels.gettext
    names = {"countries": _("Countries"), "cities": _("Cities"), "roles": _("Roles")}
    for kind, name in names.items():
        group = who[kind]
        parts = [
            f"{md_escape(labels.value(kind, i['value']))} {i['count']}" for i in group["items"]
        ]
        if group[OTHER]:
            parts.append(f"{_('other')} {group[OTHER]}")
        lines.append(f"- **{name}:** " + (", ".join(parts) or "–"))


def render_markdown(data: dict[str, Any], labels: Labels) -> str:
    _ = labels.gettext
    head = data["headline"]
    lines = [
        f"# {_('Recommendation report')}: {md_escape(labels.title(data['event']))}",
        "",
        _("%(city)s, %(start)s to %(end)s. Generated %(when)s.")
        % {
            "city": md_escape(data["event"]["city"]),
            "start": data["event"]["starts_on"],
            "end": data["event"]["ends_on"],
            "when": data["generated_at"][:16].replace("T", " ") + " UTC",
        },
        "",
        f"## {_('Headline figures')}",
        "",
    ]
    for name, value in headline_rows(head, labels):
        lines.append(f"- **{name}:** {value}")  # our own labels and figures
    lines += ["", f"## {_('Who took part')}", ""]
    _md_aggregate(lines, labels, data["participants"])
    for theme in data["themes"]:
        lines += _md_theme(theme, labels)
    lines += ["", f"## {_('Method')}", ""]
    lines += [f"- {rule}" for rule in method_rules(data["method"], labels)]
    return "\n".join(lines) + "\n"


def _md_theme(theme: dict[str, Any], labels: Labels) -> list[str]:
    _ = labels.gettext
    stats = theme["stats"]
    lines = [
        "",
        f"## {md_escape(theme['theme'])}",
        "",
        theme_sentence(stats, labels),
        "",
        f"### {_('Sessions')}",
        "",
        "| {} | {} | {} | {} | {} |".format(
            _("Session"), _("Responses"), _("Response rate"), _("Mean"), _("Median")
        ),
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for s in theme["sessions"]:
        lines.append(
            f"| {md_escape(labels.title(s))} | {s['responses']} / {s['attendees']} | "
            f"{percent(s['response_rate'])} | {number(s['mean'])} | {number(s['median'], 1)} |"
        )
    lines += ["", f"### {_('Draft recommendations, ranked by support')}", ""]
    if not theme["recommendations"]:
        lines.append(_("No recommendation for this theme yet."))
    for r in theme["recommendations"]:
        lines.append(f"{r['rank']}\\. {md_escape(r['text'])} — {support_text(r, labels)}")
    lines += ["", f"### {_('Recurring keywords in the comments')}", ""]
    if not theme["keywords"]:
        lines.append(_("Too few comments for recurring keywords."))
    for language, words in sorted(theme["keywords"].items()):
        listed = ", ".join(f"{md_escape(w['keyword'])} ({w['comments']})" for w in words)
        lines.append(f"- **{language.upper()}:** {listed}")
    lines += ["", f"### {_('Representative comments')}", ""]
    if not theme["representative_comments"]:
        lines.append(_("No comment yet."))
    for c in theme["representative_comments"]:
        rating = _("rating %(rating)d", rating=c["rating"])
        lines += [f"> {md_escape(c['text'])}", f"> — {rating}", ""]
    lines += ["", f"### {_('Who took part')}", ""]
    people = theme["participants"]["people"]
    lines.append(_("People with a confirmed place: %(num)d.", num=people))
    lines.append("")
    _md_aggregate(lines, labels, theme["participants"])
    return lines


def theme_sentence(stats: dict[str, Any], labels: Labels) -> str:
    return labels.gettext(
        "Responses: %(responses)d of %(attendees)d attendees (%(rate)s); mean rating %(mean)s.",
        responses=stats["responses"],
        attendees=stats["attendees"],
        rate=percent(stats["response_rate"]),
        mean=number(stats["mean"]),
    )


def headline_rows(head: dict[str, Any], labels: Labels) -> list[tuple[str, str]]:
    _ = labels.gettext
    return [
        (_("Participants"), str(head["participants"])),
        (_("Countries"), str(head["countries"])),
        (_("Cities and regions"), str(head["cities"])),
        (_("Sessions rated"), f"{head['sessions_rated']} / {head['sessions']}"),
        (_("Responses"), str(head["responses"])),
        (_("Participants who gave feedback"), str(head["respondents"])),
        (_("Response rate (sessions held)"), percent(head["response_rate"])),
        (_("Mean rating (1 to 5)"), number(head["mean"])),
        (_("Median rating"), number(head["median"], 1)),
        (_("Comments"), str(head["comments"])),
        (_("Draft recommendations"), str(head["recommendations"])),
        (_("Answers on recommendations"), str(head["answers"])),
    ]


def support_text(row: dict[str, Any], labels: Labels) -> str:
    _ = labels.gettext
    if not row["answers"]:
        return _("no answer yet")
    return _(
        "support %(mean)s (from -2 to +2), %(share)s in favour, answers: %(num)d",
        mean=signed(row["mean"]),
        share=percent(row["positive_share"]),
        num=row["answers"],
    )


def method_rules(method: dict[str, Any], labels: Labels) -> list[str]:
    _ = labels.gettext
    return [
        _(
            "Recommendations are ranked by mean support (from -2 to +2), then by the share of "
            "positive answers, then by the number of answers; each participant has one answer "
            "per recommendation, their latest."
        ),
        _(
            "Keywords are extracted with YAKE from the newest comments of each theme in each "
            "language (up to %(budget)d characters), and kept only when they recur in at least "
            "two comments; the figure is the number of comments containing them.",
            budget=method["keyword_text_budget"],
        ),
        _(
            "Representative comments: among comments of at least %(words)d words, those whose "
            "rating is closest to the theme's mean rating, longest first (at most %(num)d).",
            words=method["informative_words"],
            num=method["representative_comments"],
        ),
        _(
            "Who took part: people with a confirmed place, counted once per theme; countries, "
            "cities and roles with fewer than %(num)d people are grouped as “other”.",
            num=method["small_group"],
        ),
        _("Comments are never shown with their author; nothing here identifies anyone."),
    ]


# --- PDF ---------------------------------------------------------------------------------------

_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
)


@cache
def _fonts() -> tuple[str, str, frozenset[int]]:
    """A Unicode TrueType font (DejaVu when installed, else ReportLab's own Vera) and its glyphs."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular, bold = None, None
    for path, bold_name in _FONT_CANDIDATES:
        if Path(path).exists() and (Path(path).parent / bold_name).exists():
            regular, bold = Path(path), Path(path).parent / bold_name
            break
    if regular is None or bold is None:
        fonts = Path(reportlab.__file__).parent / "fonts"
        regular, bold = fonts / "Vera.ttf", fonts / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont("AgoraSans", str(regular)))
    pdfmetrics.registerFont(TTFont("AgoraSans-Bold", str(bold)))
    pdfmetrics.registerFontFamily("AgoraSans", normal="AgoraSans", bold="AgoraSans-Bold")
    face = pdfmetrics.getFont("AgoraSans").face
    return "AgoraSans", "AgoraSans-Bold", frozenset(face.charToGlyph)


def pdf_text(text: str) -> str:
    """Text for a ReportLab Paragraph: XML-escaped, characters the font lacks simplified."""
    glyphs = _fonts()[2]
    out = []
    for char in " ".join(str(text).split()):
        if ord(char) in glyphs:
            out.append(char)
            continue
        plain = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(plain if plain and all(ord(c) in glyphs for c in plain) else "?")
    return xml_escape("".join(out))


def render_pdf(data: dict[str, Any], labels: Labels) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _ = labels.gettext
    regular, bold, _glyphs = _fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=9.5)
    styles = {
        "title": ParagraphStyle("t", parent=base["Title"], fontName=bold, alignment=TA_LEFT),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=bold),
        "h3": ParagraphStyle("h3", parent=base["Heading3"], fontName=bold),
        "body": body,
        "quote": ParagraphStyle(
            "q", parent=body, leftIndent=8 * mm, textColor=colors.HexColor("#333")
        ),
        "small": ParagraphStyle("s", parent=body, fontSize=8, textColor=colors.HexColor("#555")),
    }

    def p(text: str, style: str = "body") -> Paragraph:
        return Paragraph(pdf_text(text), styles[style])

    def table(rows: list[list[Any]], widths: list[float]) -> Table:
        t = Table(rows, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), regular),
                    ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    story: list[Any] = [
        p(f"{_('Recommendation report')}: {labels.title(data['event'])}", "title"),
        p(
            _("%(city)s, %(start)s to %(end)s. Generated %(when)s.")
            % {
                "city": data["event"]["city"],
                "start": data["event"]["starts_on"],
                "end": data["event"]["ends_on"],
                "when": data["generated_at"][:16].replace("T", " ") + " UTC",
            },
            "small",
        ),
        p(_("Headline figures"), "h2"),
        table(
            [[p(n), p(v)] for n, v in headline_rows(data["headline"], labels)], [90 * mm, 60 * mm]
        ),
        p(_("Who took part"), "h2"),
        *[p(line) for line in _aggregate_lines(data["participants"], labels)],
    ]
    for theme in data["themes"]:
        story += _pdf_theme(theme, labels, p, table, mm)
    story += [
        p(_("Method"), "h2"),
        *[p("• " + rule) for rule in method_rules(data["method"], labels)],
    ]
    buffer = io.BytesIO()
    title = f"{_('Recommendation report')}: {labels.title(data['event'])}"
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=title,
        author="Agora",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    )
    story.insert(2, Spacer(1, 4 * mm))
    document.build(story)
    return buffer.getvalue()


def _aggregate_lines(who: dict[str, Any], labels: Labels) -> list[str]:
    _ = labels.gettext
    names = {"countries": _("Countries"), "cities": _("Cities"), "roles": _("Roles")}
    lines = []
    for kind, name in names.items():
        group = who[kind]
        parts = [f"{labels.value(kind, i['value'])} {i['count']}" for i in group["items"]]
        if group[OTHER]:
            parts.append(f"{_('other')} {group[OTHER]}")
        lines.append(f"{name}: " + (", ".join(parts) or "–"))
    return lines


def _pdf_theme(
    theme: dict[str, Any],
    labels: Labels,
    p: Callable[..., Any],
    table: Callable[..., Any],
    mm: float,
) -> list[Any]:
    _ = labels.gettext
    stats = theme["stats"]
    out: list[Any] = [
        p(theme["theme"], "h2"),
        p(theme_sentence(stats, labels)),
        _pdf_distribution(stats["distribution"], labels),
        p(_("Sessions"), "h3"),
        table(
            [
                [
                    p(_("Session")),
                    p(_("Responses")),
                    p(_("Response rate")),
                    p(_("Mean")),
                    p(_("Median")),
                ]
            ]
            + [
                [
                    p(labels.title(s)),
                    p(f"{s['responses']} / {s['attendees']}"),
                    p(percent(s["response_rate"])),
                    p(number(s["mean"])),
                    p(number(s["median"], 1)),
                ]
                for s in theme["sessions"]
            ],
            [78 * mm, 24 * mm, 26 * mm, 20 * mm, 20 * mm],
        ),
        p(_("Draft recommendations, ranked by support"), "h3"),
    ]
    if not theme["recommendations"]:
        out.append(p(_("No recommendation for this theme yet.")))
    for r in theme["recommendations"]:
        out.append(p(f"{r['rank']}. {r['text']} — {support_text(r, labels)}"))
    out.append(p(_("Recurring keywords in the comments"), "h3"))
    if not theme["keywords"]:
        out.append(p(_("Too few comments for recurring keywords.")))
    for language, words in sorted(theme["keywords"].items()):
        listed = ", ".join(f"{w['keyword']} ({w['comments']})" for w in words)
        out.append(p(f"{language.upper()}: {listed}"))
    out.append(p(_("Representative comments"), "h3"))
    if not theme["representative_comments"]:
        out.append(p(_("No comment yet.")))
    for c in theme["representative_comments"]:
        rating = _("rating %(rating)d", rating=c["rating"])
        out.append(p(f"“{c['text']}” — {rating}", "quote"))
    out.append(p(_("Who took part"), "h3"))
    out.append(p(_("People with a confirmed place: %(num)d.", num=theme["participants"]["people"])))
    out += [p(line) for line in _aggregate_lines(theme["participants"], labels)]
    return out


def _pdf_distribution(distribution: dict[str, int], labels: Labels) -> Any:
    """A small bar chart of the ratings 1 to 5."""
    from reportlab.graphics.shapes import Drawing, Rect, String
    from reportlab.lib import colors

    regular = _fonts()[0]
    width, height, bar = 220, 70, 28
    drawing = Drawing(width, height)
    top = max(distribution.values()) or 1
    for index, rating in enumerate(RATINGS):
        count = distribution.get(str(rating), 0)
        x = 10 + index * (bar + 12)
        h = 40 * count / top
        drawing.add(Rect(x, 14, bar, h, fillColor=colors.HexColor("#0b57a4"), strokeColor=None))
        drawing.add(
            String(x + bar / 2, 3, str(rating), fontName=regular, fontSize=7, textAnchor="middle")
        )
        drawing.add(
            String(
                x + bar / 2, 16 + h, str(count), fontName=regular, fontSize=7, textAnchor="middle"
            )
        )
    return drawing
