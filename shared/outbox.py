"""Transactional outbox: events are written with the change, published after commit.

A service adds its events to its own `outbox` table in the same transaction as
the state change; the relay publishes committed rows as Celery tasks, one per
subscribing queue, and marks them published. A crash between publish and mark
re-publishes (so may a second relay): consumers deduplicate on `event_id`, so that
is harmless.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import structlog
from celery import Celery
from sqlalchemy import JSON, BigInteger, Integer, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import contracts
from shared.db import Database, UTCDateTime, new_id, utcnow

log = structlog.get_logger(__name__)
# Published events are kept a week for inspection, then deleted with any personal data in them.
PUBLISHED_RETENTION = timedelta(days=7)
# The test suite turns this on so every message written is checked against its whole schema.
FULL_CONTRACT_CHECK = False


class OutboxMixin:
    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    task_name: Mapped[str] = mapped_column(String(80))
    # The person an event is about (a registration id), so erasure can delete their events.
    subject_id: Mapped[str | None] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


_seq = 0


def _next_seq() -> int:
    # Orders rows written in the same transaction; time orders the rest.
    global _seq
    _seq += 1
    return time.time_ns() // 1000 * 1000 + _seq % 1000


def add_event(
    session: Session,
    model: type[Any],
    name: str,
    payload: dict[str, Any],
    subject: str | None = None,
) -> str:
    """Validate an event against its contract and write it to the outbox (no commit)."""
    event_id = new_id()
    message = {"event_id": event_id, "occurred_at": utcnow(), **payload}
    body = contracts.dump(name, message, full_check=FULL_CONTRACT_CHECK)
    # Core INSERT in the caller's transaction: cheaper than an ORM object, same atomicity.
    session.connection().execute(
        model.__table__.insert(),
        {
            "id": event_id,
            "seq": _next_seq(),
            "task_name": name,
            "payload": body,
            "subject_id": subject,
            "created_at": utcnow(),
            "attempts": 0,
        },
    )
    return event_id


def purge_published(database: Database, model: type[Any], older_than: timedelta) -> int:
    """Delete events published long enough ago; the outbox is a queue, not an archive."""
    with database.transaction() as session:
        result = session.execute(delete(model).where(model.published_at < utcnow() - older_than))
        return int(result.rowcount)  # type: ignore[attr-defined]


def publish(celery_app: Celery, name: str, payload: dict[str, Any]) -> None:
    for queue in contracts.SUBSCRIBERS[name]:
        celery_app.send_task(
            name,
            kwargs=payload,
            queue=queue,
            task_id=f"{payload['event_id']}.{queue}",
            retry=False,
            # Celery copies the arguments into the message headers as plain text, which a
            # broker's append-only file would keep: the headers say nothing of anyone.
            argsrepr="()",
            kwargsrepr="{…}",
        )


def relay_batch(database: Database, model: type[Any], celery_app: Celery, limit: int = 200) -> int:
    """Publish up to `limit` committed, unpublished events in order; return how many.

    The broker is called outside any transaction, so a slow or absent Redis never
    holds a database lock (on SQLite that lock would stall every registration).
    """
    with database.transaction() as session:
        query = select(model.id, model.task_name, model.payload).where(model.published_at.is_(None))
        pending = session.execute(query.order_by(model.seq).limit(limit)).all()
    published: list[str] = []
    failure: tuple[str, str] | None = None
    for event_id, name, payload in pending:
        try:
            publish(celery_app, name, payload)
        except Exception as error:  # the broker is down: keep the rest for later
            failure = (event_id, f"{type(error).__name__}: {error}"[:1000])
            log.warning("outbox.publish_failed", event_id=event_id, error=failure[1])
            break
        published.append(event_id)
    with database.transaction() as session:
        if published:
            session.execute(
                update(model).where(model.id.in_(published)).values(published_at=utcnow())
            )
        if failure:
            session.execute(
                update(model)
                .where(model.id == failure[0])
                .values(attempts=model.attempts + 1, last_error=failure[1])
            )
    return len(published)


def run_relay(
    database: Database, model: type[Any], celery_app: Celery, idle_seconds: float = 0.2
) -> None:
    """Relay forever: drain while there is work, poll when idle, retry when anything fails."""
    backoff = idle_seconds
    next_purge = 0.0
    log.info("outbox.relay_started")
    while True:
        if time.monotonic() >= next_purge:
            try:
                purged = purge_published(database, model, PUBLISHED_RETENTION)
                log.info("outbox.purged", rows=purged)
            except Exception as error:
                log.warning("outbox.purge_failed", error=str(error))
            next_purge = time.monotonic() + 3600
        try:
            count = relay_batch(database, model, celery_app)
        except Exception as error:  # database briefly unreachable: retry, never die
            log.warning("outbox.relay_error", error=str(error))
            count = -1
        if count > 0:
            backoff = idle_seconds
            continue
        backoff = min(backoff * 2, 5.0) if count < 0 else idle_seconds
        time.sleep(backoff)
