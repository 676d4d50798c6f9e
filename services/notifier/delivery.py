"""Delivering the delivery log's messages: the claim, the attempt, its outcome, the retry
policy, the sweep of lost tasks, and the queuing of `notifier.deliver` tasks (on the queue
`notifier.delivery`).

An attempt is a claim (one conditional UPDATE, judged by its row count), then SMTP outside
any transaction, then the outcome: two short transactions, so a slow mail server never holds
a database lock. A claim lapses after a lease, so a worker that dies mid-delivery does not
hold a message for ever. A temporary failure is tried again after an exponential back-off
with jitter, until the give-up time; a permanent one is recorded as failed at once. While
the circuit breaker holds the mail server for down, a message is put off until it may try
again: no connection, and no attempt counted.

The task for a message is queued after the commit that created or rescheduled it. Should
queuing fail (or the worker die in between), the sweep finds the message due and queues it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from celery import Celery
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.notifier import privacy
from services.notifier.emails import UnusableAddress, wire_address
from services.notifier.mailer import DeliveryError, Mailer, PutOff
from services.notifier.models import FAILED, QUEUED, RETRYING, SENT, Message
from shared.celery_app import VISIBILITY_TIMEOUT_SECONDS
from shared.config import Settings
from shared.contracts import OWN_TASK_QUEUES, OwnTasks
from shared.db import Database, utcnow

log = structlog.get_logger(__name__)
# A due message may run this much early: a Celery countdown and the database clock can differ.
CLOCK_TOLERANCE = timedelta(seconds=1)
# A message due for this long without being claimed lost its task: the sweep queues it again.
SWEEP_GRACE = timedelta(seconds=120)
# A later retry is left to the sweep: Redis hands a message held past the visibility
# timeout to another worker, so long countdowns would come back as duplicates.
COUNTDOWN_LIMIT = VISIBILITY_TIMEOUT_SECONDS - 60


# --- the retry policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a temporarily failed message again, and when to stop trying."""

    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    give_up_seconds: float = 12 * 3600.0
    lease_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base_seconds=settings.notifier_retry_base_seconds,
            max_seconds=settings.notifier_retry_max_seconds,
            give_up_seconds=settings.notifier_give_up_seconds,
        )

    def delay(self, attempts: int, draw: Callable[[], float] = random.random) -> float:
        """Exponential backoff with jitter: half of each step fixed, half random."""
        exponent = min(max(attempts - 1, 0), 40)
        step = min(self.max_seconds, self.base_seconds * float(2**exponent))
        return step / 2 + draw() * step / 2


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in: float | None = None


# --- one attempt, in the database ----------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """What one delivery attempt needs, copied out of the row so SMTP runs outside the session."""

    id: str
    to_address: str
    message_id: str
    mime: bytes
    attempts: int


def claim(db: Session, message_id: str, policy: RetryPolicy, now: datetime) -> Outgoing | None:
    """Take a due message for one attempt; None when it is sent, failed, not due or held."""
    row = db.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status.in_((QUEUED, RETRYING)),
            Message.to_address != "",
            or_(Message.claimed_until.is_(None), Message.claimed_until < now),
            or_(
                Message.next_attempt_at.is_(None),
                Message.next_attempt_at <= now + CLOCK_TOLERANCE,
            ),
        )
        .values(
            claimed_until=now + timedelta(seconds=policy.lease_seconds),
            attempts=Message.attempts + 1,
        )
        .returning(Message.to_address, Message.message_id, Message.mime, Message.attempts)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        return None
    return Outgoing(message_id, row.to_address, row.message_id, row.mime, row.attempts)


def record_sent(db: Session, message_id: str, now: datetime) -> bool:
    """Mark a message sent; False when it no longer exists (erased while it was in flight)."""
    result = db.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(status=SENT, sent_at=now, claimed_until=None, next_attempt_at=None, mime=b"")
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def record_failure(
    db: Session,
    message_id: str,
    error: str,
    permanent: bool,
    policy: RetryPolicy,
    now: datetime,
    draw: Callable[[], float] = random.random,
    put_off: float | None = None,
) -> Outcome | None:
    """Schedule the next attempt of a temporary failure, or record the message as failed.

    `put_off`: the circuit breaker kept the attempt from being made; it is not counted, and
    the next one waits that long (plus a quarter at most, so they do not all come back at once).
    """
    row = db.get(Message, message_id, populate_existing=True)
    if row is None:
        return None
    row.claimed_until = None
    if put_off is not None:
        row.attempts = max(row.attempts - 1, 0)
    row.last_error = error[:2000]
    if permanent:
        row.status, row.next_attempt_at = FAILED, None
        return Outcome(FAILED)
    if row.give_up_at is None:
        row.give_up_at = now + timedelta(seconds=policy.give_up_seconds)
    if now >= row.give_up_at:
        row.status, row.next_attempt_at = FAILED, None
        row.last_error = f"gave up after {row.attempts} attempts: {error}"[:2000]
        return Outcome(FAILED)
    delay = policy.delay(row.attempts, draw) if put_off is None else put_off * (1 + draw() / 4)
    row.status, row.next_attempt_at = RETRYING, now + timedelta(seconds=delay)
    return Outcome(RETRYING, delay)


def due_messages(db: Session, now: datetime, grace: timedelta, limit: int = 500) -> list[str]:
    """Messages due for longer than `grace` and not held: their task was lost (or is late).

    Their due time moves to now, so the next sweep leaves them alone for another `grace`
    while the task queued for them waits its turn.
    """
    ids = list(
        db.scalars(
            select(Message.id)
            .where(
                Message.status.in_((QUEUED, RETRYING)),
                Message.to_address != "",
                Message.next_attempt_at <= now - grace,
                or_(Message.claimed_until.is_(None), Message.claimed_until < now),
            )
            .order_by(Message.next_attempt_at)
            .limit(limit)
        ).all()
    )
    if ids:
        db.execute(
            update(Message)
            .where(Message.id.in_(ids))
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


# --- one attempt, end to end ---------------------------------------------------------------------


def redact(text: str, address: str) -> str:
    """Server replies often quote the address (as typed, or with its domain in IDNA form);
    the log and the error column do without it."""
    if not address:
        return text
    forms = {address, _wire_or_same(address)}
    pattern = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    return re.sub(pattern, "<recipient>", text, flags=re.IGNORECASE)


def _wire_or_same(address: str) -> str:
    try:
        return wire_address(address)
    except UnusableAddress:
        return address


def deliver(
    database: Database, mailer: Mailer, policy: RetryPolicy, message_id: str
) -> Outcome | None:
    """Try to send one message; None when there was nothing to do (sent, failed, held, gone)."""
    with database.transaction() as session:
        outgoing = claim(session, message_id, policy, utcnow())
    if outgoing is None:
        log.info("message.skipped", message_id=message_id)
        return None
    try:
        mailer.send(outgoing.mime, outgoing.to_address)
    except PutOff as failure:
        return _record_failure(database, policy, outgoing, failure.reason, False, failure.seconds)
    except DeliveryError as failure:
        return _record_failure(database, policy, outgoing, failure.reason, failure.permanent)
    with database.transaction() as session:
        if not record_sent(session, message_id, utcnow()):
            # Erased while in flight: drop the copy the local mail catcher may have kept.
            privacy.forget_caught(session, message_id=outgoing.message_id)
    log.info("message.sent", message_id=message_id, attempt=outgoing.attempts)
    return Outcome(SENT)


def _record_failure(
    database: Database,
    policy: RetryPolicy,
    outgoing: Outgoing,
    reason: str,
    permanent: bool,
    put_off: float | None = None,
) -> Outcome | None:
    reason = redact(reason, outgoing.to_address)
    with database.transaction() as session:
        outcome = record_failure(
            session, outgoing.id, reason, permanent, policy, utcnow(), put_off=put_off
        )
    log.warning(
        "message.not_sent",
        message_id=outgoing.id,
        attempt=outgoing.attempts,
        status=outcome.status if outcome else "erased",
        retry_in=round(outcome.retry_in, 1) if outcome and outcome.retry_in else None,
        error=reason[:300],
    )
    return outcome


def retry_later(celery_app: Celery, message_id: str, outcome: Outcome | None) -> None:
    """Queue the next attempt of a message that failed for now, unless it is too far off
    for a countdown (the sweep queues that one when it is due)."""
    if outcome is None or outcome.status != RETRYING or outcome.retry_in is None:
        return
    if outcome.retry_in <= COUNTDOWN_LIMIT:
        enqueue(celery_app, [message_id], countdown=outcome.retry_in)


# --- queuing -------------------------------------------------------------------------------------


def enqueue(celery_app: Celery, message_ids: Iterable[str], countdown: float | None = None) -> None:
    """Queue a delivery per message (after the commit that created them), on the deliveries'
    own queue: a slow mail server never holds up the events on the notifier's queue."""
    for message_id in message_ids:
        try:
            celery_app.send_task(
                OwnTasks.DELIVER,
                kwargs={"message_id": message_id},
                queue=OWN_TASK_QUEUES[OwnTasks.DELIVER],
                countdown=countdown,
            )
        except Exception as error:  # the broker is down: the sweep will queue it later
            log.warning("message.enqueue_failed", message_id=message_id, error=str(error))


def sweep(database: Database, celery_app: Celery, grace: timedelta = SWEEP_GRACE) -> int:
    """Queue again the messages whose delivery task was lost or is long overdue; how many."""
    with database.transaction() as session:
        ids = due_messages(session, utcnow(), grace)
    enqueue(celery_app, ids)
    if ids:
        log.info("sweep.requeued", messages=len(ids))
    return len(ids)
