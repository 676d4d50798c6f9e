"""The stored report: rebuilt after changes, served while fresh enough.

The first submission of a burst marks the report and queues one rebuild `COALESCE_SECONDS`
later (later submissions of the burst write nothing); other changes (seats, erasures,
recommendations) only mark it, and the periodic job rebuilds those. Readers get the stored
report unless changes older than `MAX_AGE` are missing from it, in which case they build it
themselves: a report is never older than a minute after the last submission.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.feedback.models import Event, Report
from services.feedback.readmodel import get_event
from services.feedback.report.compose import compose
from services.feedback.report.gather import gather
from shared.db import Database, utcnow

log = structlog.get_logger(__name__)

COALESCE_SECONDS = 5  # one rebuild this long after the first change of a burst
MAX_AGE = timedelta(seconds=50)  # the promise is a minute; keep a margin for the build itself


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
        event = get_event(db, slug)
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
