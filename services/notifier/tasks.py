"""Tasks the notifier worker consumes (queue `notifier`): thin wrappers over messages and
delivery.

Each registration event becomes a delivery-log row in the transaction that records the
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

from services.notifier import delivery, messages
from services.notifier.extensions import db
from services.notifier.models import DeadLetter
from shared.consumer import consumer_task
from shared.contracts import OwnTasks, Queues, subscribed

log = structlog.get_logger(__name__)


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

    for name in subscribed(Queues.NOTIFIER):
        consumer(name)

    @celery_app.task(name=OwnTasks.DELIVER, shared=False)
    def deliver(message_id: str) -> None:
        """Send one email; queued on `notifier.delivery` (OWN_TASK_QUEUES), which a worker of
        its own consumes, so the events on `notifier` never wait behind the mail server."""
        mailer, policy = current_app.extensions["mailer"], current_app.extensions["retry_policy"]
        outcome = delivery.deliver(db, mailer, policy, message_id)
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
