"""Tasks the notifier worker consumes (queue `notifier`): thin wrappers over logic.

Each registration event becomes a delivery-log row in the transaction that records the
event as processed; its `notifier.deliver` task is queued after that commit. Should queuing
fail (or the worker die in between), the sweeper finds the row still queued and queues it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import structlog
from celery import Celery, Task, shared_task
from celery.signals import worker_process_init, worker_ready
from flask import current_app
from sqlalchemy.orm import Session

from services.notifier import delivery, logic
from services.notifier.extensions import db
from services.notifier.models import RETRYING, ProcessedEvent
from shared import contracts
from shared.celery_app import VISIBILITY_TIMEOUT_SECONDS
from shared.consumer import handle_once
from shared.contracts import Queues, TaskNames
from shared.db import new_id

log = structlog.get_logger(__name__)

DELIVER = "notifier.deliver"
CONSUMED = (
    TaskNames.REGISTERED,
    TaskNames.SEAT_CONFIRMED,
    TaskNames.SEAT_WAITLISTED,
    TaskNames.SEAT_PROMOTED,
    TaskNames.SEAT_RELEASED,
    TaskNames.CANCELLED,
    TaskNames.ERASED,
    TaskNames.LINK_REQUESTED,
    TaskNames.FEEDBACK_INVITATION,
    TaskNames.EXPORT_REQUESTED,
)
# A later retry is left to the sweeper: Redis hands a message held past the visibility
# timeout to another worker, so long countdowns would come back as duplicates.
COUNTDOWN_LIMIT = VISIBILITY_TIMEOUT_SECONDS - 60


def consume(name: str, kwargs: dict[str, Any], task_id: str | None) -> list[str]:
    """Handle one received event once; return the ids of the emails it queued."""
    try:
        contracts.load(name, kwargs)
    except contracts.ContractError as error:
        with db.transaction() as session:
            logic.record_rejected(session, name, task_id or new_id(), kwargs, str(error))
        log.error("contract.rejected", task=name, task_id=task_id)
        return []
    queued: list[str] = []
    links = current_app.extensions["links"]
    mail_from = current_app.extensions["mailer"].config.mail_from

    def handler(session: Session, message: dict[str, Any]) -> None:
        queued.extend(logic.handle_event(session, name, message, links, mail_from))

    if not handle_once(db, ProcessedEvent, name, kwargs, handler):
        return []
    enqueue(current_app.extensions["celery"], queued)
    return queued


def enqueue(celery_app: Celery, message_ids: Iterable[str], countdown: float | None = None) -> None:
    """Queue a delivery per message (after the commit that created them)."""
    for message_id in message_ids:
        try:
            celery_app.send_task(
                DELIVER,
                kwargs={"message_id": message_id},
                queue=Queues.NOTIFIER,
                countdown=countdown,
            )
        except Exception as error:  # the broker is down: the sweeper will queue it later
            log.warning("message.enqueue_failed", message_id=message_id, error=str(error))


def _consumer(name: str) -> Task:
    @shared_task(name=name, bind=True)  # type: ignore[untyped-decorator]
    def consume_event(self: Task, **kwargs: Any) -> None:
        consume(name, kwargs, self.request.id)

    return consume_event


consumers: dict[str, Callable[..., Any]] = {name: _consumer(name) for name in CONSUMED}


@shared_task(name=DELIVER)  # type: ignore[untyped-decorator]
def deliver(message_id: str) -> None:
    outcome = delivery.deliver(
        db,
        current_app.extensions["mailer"],
        current_app.extensions["retry_policy"],
        message_id,
    )
    if outcome and outcome.status == RETRYING and outcome.retry_in is not None:
        if outcome.retry_in <= COUNTDOWN_LIMIT:
            enqueue(current_app.extensions["celery"], [message_id], countdown=outcome.retry_in)


def sweep(celery_app: Celery) -> int:
    """Queue again the messages whose task was lost; return how many."""
    ids = delivery.sweep(db)
    enqueue(celery_app, ids)
    if ids:
        log.info("sweep.requeued", messages=len(ids))
    return len(ids)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _sweep_at_start(sender: Any = None, **_kwargs: Any) -> None:
    # A worker that crashed after a commit but before queuing: pick its messages up now.
    try:
        sweep(sender.app)
    except Exception as error:
        log.warning("sweep.failed", error=str(error))


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_connections_after_fork(**_kwargs: Any) -> None:
    # A forked pool process must not share the parent's database connections.
    if db.engine is not None:
        db.engine.dispose(close=False)
