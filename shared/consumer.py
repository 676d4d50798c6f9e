"""The receiving side of the contracts: validate, run once per event id, at least once per
message, never crash the worker.

Every consumer task (`consumer_task`) retries a transient failure (the database locked or
unreachable, a broker or socket error, a time-out) with exponential back-off and jitter for as
long as it takes; it buries in the service's dead-letter table a message that breaks its contract,
one whose handler failed for another reason `MAX_ATTEMPTS` times, and one delivered
`MAX_ATTEMPTS` times without finishing (it killed its worker). Nothing is acknowledged before
one of these has happened: late acks, and a killed worker's message is delivered again.
"""

from __future__ import annotations

import functools
import random
import smtplib
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

import kombu.exceptions
import redis
import structlog
from celery import Celery, Task
from celery.exceptions import Reject
from sqlalchemy import String
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import contracts
from shared.db import Database, UTCDateTime, new_id, serialise_on, utcnow
from shared.deadletters import MAX_ATTEMPTS, Failure, bury, describe

log = structlog.get_logger(__name__)

Handler = Callable[[Session, dict[str, Any]], None]


class ProcessedEventMixin:
    """One row per event a service has acted on: the key that makes every task safe twice."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(80))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ErasedRegistrationMixin:
    """Registration ids erased here (random ids, no one is identified by them): a late,
    repeated or reordered event about one of them is about nobody any more and is dropped
    instead of creating the person again."""

    __tablename__ = "erased_registrations"

    registration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def is_erased(db: Session, model: type[Any], registration_id: str) -> bool:
    """Whether the person was erased here (`model`: the service's ErasedRegistration); an
    erasure of them in progress is waited for. Called first by every handler about a person,
    erasure included: on PostgreSQL they queue behind each other, so an event and the erasure
    handled at the same moment never both see "not erased yet"."""
    serialise_on(db, f"registration:{registration_id}")
    return db.get(model, registration_id) is not None


def handle_once(
    database: Database, model: type[Any], name: str, kwargs: dict[str, Any], handler: Handler
) -> bool:
    """Run `handler` for a message unless its event was handled already; True if it ran.

    A message that breaks its contract is logged and dropped: retrying cannot fix it.
    The handler's writes and the processed-event row commit together, so a duplicate
    delivered to a second worker at the same moment rolls back on the primary key.
    """
    try:
        message = contracts.load(name, kwargs)
    except contracts.ContractError as error:
        log.error("contract.rejected", task=name, error=str(error))
        return False
    try:
        with database.transaction() as session:
            if session.get(model, message["event_id"]) is not None:
                log.info("event.duplicate", task=name, event_id=message["event_id"])
                return False
            handler(session, message)
            session.add(model(event_id=message["event_id"], task_name=name))
    except IntegrityError:
        # Only a clash on the processed-event key means another worker handled it.
        with database.transaction() as session:
            if session.get(model, message["event_id"]) is None:
                raise
        log.info("event.duplicate_concurrent", task=name, event_id=message["event_id"])
        return False
    return True


# --- at least once -------------------------------------------------------------------------------

# A consumer's work: the message's keyword arguments and its task id.
Run = Callable[[dict[str, Any], str | None], Any]
# Back-off of retries, as Celery task options (a deployment's Celery configuration may change
# them with `task_annotations`): 5 s doubling to 4 minutes, kept under the broker's visibility
# timeout so that a retry waiting in a worker is never handed to a second one meanwhile.
RETRY_BACKOFF_SECONDS = 5.0
RETRY_BACKOFF_MAX_SECONDS = 240.0
TALLY_SECONDS = 7 * 24 * 3600
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    PoolTimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
)
# PostgreSQL error classes that pass: connection, transaction rollback (deadlock, serialisation),
# insufficient resources, operator intervention (restart, cancelled statement), system errors.
TRANSIENT_SQLSTATE_CLASSES = {"08", "40", "53", "57", "58"}
LOCK_NOT_AVAILABLE = "55P03"
SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


def transient(error: BaseException) -> bool:
    """Whether waiting and trying again can make this error go away."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        return isinstance(error, OperationalError) and transient_database_error(error.orig)
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return isinstance(error, TRANSIENT_ERRORS)


def transient_database_error(orig: BaseException | None) -> bool:
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or sqlstate == LOCK_NOT_AVAILABLE
    if type(orig).__module__.startswith("sqlite3"):
        return any(part in str(orig).lower() for part in SQLITE_TRANSIENT)
    return True  # a driver error without a SQL state: the connection itself failed


@functools.lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, decode_responses=True)


class Tally:
    """What became of one message (task id) so far, in a Redis hash beside the broker's queues:
    its deliveries, those that never finished (the worker died), its failures and when the first
    was. A call without a task id (a test calling the task in-process) keeps no tally."""

    def __init__(self, task: Task) -> None:
        task_id = task.request.id
        self.client = redis_client(task.app.conf.broker_url) if task_id else None
        self.key = f"agora:deliveries:{task_id}"

    def start(self) -> int:
        """Count a delivery; return how many earlier deliveries never finished."""
        if self.client is None:
            return 0
        pipe = self.client.pipeline()
        pipe.hincrby(self.key, "deliveries", 1)
        pipe.hincrby(self.key, "unfinished", 1)
        pipe.expire(self.key, TALLY_SECONDS)
        unfinished = int(pipe.execute()[1]) - 1
        if unfinished:
            self.client.hsetnx(self.key, "first_failed_at", utcnow().isoformat())
        return unfinished

    def finished(self) -> None:
        if self.client is not None:
            self.client.hincrby(self.key, "unfinished", -1)

    def failed(self) -> int:
        """Count a failure of the handler; return how many there were."""
        if self.client is None:
            return MAX_ATTEMPTS  # in-process: nothing to retry with
        pipe = self.client.pipeline()
        pipe.hsetnx(self.key, "first_failed_at", utcnow().isoformat())
        pipe.hincrby(self.key, "failures", 1)
        return int(pipe.execute()[1])

    def failure(self, error: str) -> Failure:
        """The message's failure as its dead letter records it."""
        found = self.client.hgetall(self.key) if self.client is not None else {}
        first = found.get("first_failed_at")
        return Failure(
            error=error,
            attempts=int(found.get("deliveries", 1)),
            first_failed_at=datetime.fromisoformat(str(first)) if first else utcnow(),
        )

    def clear(self) -> None:
        if self.client is not None:
            self.client.delete(self.key)


def consumer_task(
    celery_app: Celery, name: str, database: Database, dead_letters: type[Any], run: Run
) -> Task:
    """Define the task that consumes `name` on a service's Celery app, at least once (above)."""

    @celery_app.task(  # type: ignore[untyped-decorator]
        name=name,
        bind=True,
        shared=False,
        max_retries=None,
        retry_backoff=RETRY_BACKOFF_SECONDS,
        retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
        retry_jitter=True,
    )
    def consume_event(self: Task, **kwargs: Any) -> None:
        consume_at_least_once(self, database, dead_letters, kwargs, run)

    return consume_event


def consume_at_least_once(
    task: Task, database: Database, dead_letters: type[Any], kwargs: dict[str, Any], run: Run
) -> None:
    """Run a message's handler; retry it later, or bury the message (see the module's doc)."""
    tally = Tally(task)
    try:
        failure = None
        unfinished = tally.start()
        try:
            contracts.load(task.name, kwargs)
        except contracts.ContractError as error:
            failure = tally.failure(f"contract: {error}")
        if failure is None and unfinished >= MAX_ATTEMPTS:
            failure = tally.failure(f"delivered {unfinished} times without finishing")
        if failure is None:
            failure = run_counting_failures(task, tally, kwargs, run)
        if failure is not None:
            with database.transaction() as session:
                bury(session, dead_letters, task.request.id or new_id(), task.name, kwargs, failure)
            log.error("message.dead_letter", task=task.name, task_id=task.request.id)
        tally.clear()
    except Exception as error:
        retry_later(task, tally, error)


def run_counting_failures(
    task: Task, tally: Tally, kwargs: dict[str, Any], run: Run
) -> Failure | None:
    """Run the handler; a failure to bury once it is not transient and is the last allowed;
    any other error is raised (to be retried)."""
    try:
        run(kwargs, task.request.id)
    except Exception as error:
        if transient(error) or tally.failed() < MAX_ATTEMPTS:
            raise
        return tally.failure(describe(error))
    return None


def retry_later(task: Task, tally: Tally, error: Exception) -> NoReturn:
    """Send the message again after a back-off; should even that fail (the broker is down), give
    it back unacknowledged."""
    log.warning(
        "message.retry",
        task=task.name,
        task_id=task.request.id,
        error=type(error).__name__,
        transient=transient(error),
    )
    if task.request.called_directly:
        raise error
    try:
        tally.finished()
        again = task.retry(countdown=backoff(task), exc=error, throw=False)
    except Exception as failure:
        raise Reject(failure, requeue=True) from error
    raise again


def backoff(task: Task) -> float:
    """Exponential back-off with jitter: half the delay fixed, half at random."""
    delay = min(task.retry_backoff_max, task.retry_backoff * 2**task.request.retries)
    return float(delay / 2 + random.uniform(0, delay / 2))
