"""Tasks the notifier worker consumes (queue `notifier`): thin wrappers over messages and
delivery.

Each organiser-account event updates this service's copy of the account (`apply_account`),
once. Each registration event becomes a delivery-log row in the transaction that records the
event as processed; its `notifier.deliver` task is queued after that commit. Should queuing
fail (or the worker die in between), the sweep finds the row still queued and queues it.

The tasks are registered on the notifier's Celery app only (`register_tasks`, called by
`create_app`), never as shared tasks: the feedback service consumes some of the same
contract names, and a shared task would be registered on every Celery app of a process.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import worker_process_init, worker_ready
from flask import current_app
from sqlalchemy.orm import Session

from services.notifier import delivery, messages
from services.notifier.extensions import db
from services.notifier.models import (
    DeadLetter,
    OrganiserAccount,
    OrganiserRole,
    OrganiserToken,
    ProcessedEvent,
)
from shared.accounts import apply_snapshot
from shared.consumer import (
    RETRY_BACKOFF_MAX_SECONDS,
    RETRY_BACKOFF_SECONDS,
    backoff,
    consumer_task,
    handle_once,
    transient,
)
from shared.contracts import ORGANISER_EVENTS, OwnTasks, Queues, subscribed

log = structlog.get_logger(__name__)


def apply_account(session: Session, message: dict[str, Any]) -> None:
    """An `organiser.*` event: this service's copy of the account becomes the state it carries,
    unless the copy is newer already (events may come late, twice or out of order)."""
    apply_snapshot(session, OrganiserAccount, OrganiserRole, OrganiserToken, message["account"])


def register_tasks(celery_app: Celery) -> dict[str, Task]:
    """Define every task of the notifier worker on its Celery app; return them by name."""
    registered: dict[str, Task] = {}

    def consumer(name: str) -> None:
        # At least once (shared.consumer.consumer_task); what cannot be handled is a DeadLetter.
        def run(kwargs: dict[str, Any], task_id: str | None) -> None:
            links = current_app.extensions["links"]
            mail_from = current_app.extensions["mailer"].config.mail_from
            queued = messages.consume(db, name, kwargs, task_id, links, mail_from)
            delivery.enqueue(celery_app, queued)

        registered[name] = consumer_task(celery_app, name, db, DeadLetter, run)

    def account_consumer(name: str) -> None:
        def run(kwargs: dict[str, Any], _task_id: str | None) -> None:
            handle_once(db, ProcessedEvent, name, kwargs, apply_account)

        registered[name] = consumer_task(celery_app, name, db, DeadLetter, run)

    for name in subscribed(Queues.NOTIFIER):
        if name in ORGANISER_EVENTS:
            account_consumer(name)
        else:
            consumer(name)

    @celery_app.task(  # type: ignore[untyped-decorator]
        name=OwnTasks.DELIVER,
        bind=True,
        shared=False,
        max_retries=None,
        retry_backoff=RETRY_BACKOFF_SECONDS,
        retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
        retry_jitter=True,
    )
    def deliver(self: Task, message_id: str) -> None:
        """Send one email; queued on `notifier.delivery` (OWN_TASK_QUEUES), which a worker of
        its own consumes, so the events on `notifier` never wait behind the mail server.

        SMTP failures follow the delivery policy (`delivery.retry_later`); the database
        failing under it (locked, restarting, a connection cut) is retried like a consumer's,
        so the email leaves as soon as the database is back rather than at the next sweep."""
        mailer, policy = current_app.extensions["mailer"], current_app.extensions["retry_policy"]
        try:
            outcome = delivery.deliver(db, mailer, policy, message_id)
        except Exception as error:
            if not transient(error) or self.request.called_directly:
                raise
            log.warning(
                "delivery.database_retry", message_id=message_id, error=type(error).__name__
            )
            raise self.retry(countdown=backoff(self), exc=error) from error
        delivery.retry_later(celery_app, message_id, outcome)

    registered[OwnTasks.DELIVER] = deliver
    return registered


@worker_ready.connect  # type: ignore[untyped-decorator]
def _sweep_at_start(sender: Any = None, **_kwargs: Any) -> None:
    # A worker that crashed after a commit but before queuing: pick its messages up now.
    try:
        delivery.sweep(db, sender.app)
    except Exception as error:
        log.warning("sweep.failed", error=str(error))


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_connections_after_fork(**_kwargs: Any) -> None:
    # A forked pool process must not share the parent's database connections.
    if db.engine is not None:
        db.engine.dispose(close=False)
