"""Tasks the registration worker consumes (queue `registration`); thin wrappers over privacy.

Each is consumed at least once and acts once (`shared.consumer.consumer_task`); what cannot be
handled is kept in the dead-letter table (`DeadLetter`).

The tasks are registered on this service's Celery app only (`register_tasks`, called by
`create_app`), never as shared tasks, so the web app, the worker and the tests have the same.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task

from services.registration import privacy
from services.registration.extensions import db
from services.registration.models import DeadLetter, ProcessedEvent
from shared.consumer import Handler, consumer_task, handle_once
from shared.contracts import TaskNames

HANDLERS: dict[str, Handler] = {
    TaskNames.ERASURE_CONFIRMED: privacy.record_erasure_confirmation,
    TaskNames.EXPORT_PART: privacy.store_export_part,
}


def register_tasks(celery_app: Celery) -> dict[str, Task]:
    """Define every task of the registration worker on its Celery app; return them by name."""

    def consumer(name: str, handler: Handler) -> Task:
        def run(kwargs: dict[str, Any], _task_id: str | None) -> None:
            handle_once(db, ProcessedEvent, name, kwargs, handler)

        return consumer_task(celery_app, name, db, DeadLetter, run)

    return {name: consumer(name, handler) for name, handler in HANDLERS.items()}
