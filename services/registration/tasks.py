"""Tasks the registration worker consumes (queue `registration`); thin wrappers over privacy.

The tasks are registered on this service's Celery app only (`register_tasks`, called by
`create_app`), never as shared tasks, so the web app, the worker and the tests have the same.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task

from services.registration import privacy
from services.registration.extensions import db
from services.registration.models import ProcessedEvent
from shared.consumer import handle_once
from shared.contracts import TaskNames


def register_tasks(celery_app: Celery) -> dict[str, Task]:
    """Define every task of the registration worker on its Celery app; return them by name."""

    @celery_app.task(name=TaskNames.ERASURE_CONFIRMED, shared=False)
    def erasure_confirmed(**kwargs: Any) -> None:
        handle_once(
            db,
            ProcessedEvent,
            TaskNames.ERASURE_CONFIRMED,
            kwargs,
            privacy.record_erasure_confirmation,
        )

    @celery_app.task(name=TaskNames.EXPORT_PART, shared=False)
    def export_part(**kwargs: Any) -> None:
        handle_once(db, ProcessedEvent, TaskNames.EXPORT_PART, kwargs, privacy.store_export_part)

    return {TaskNames.ERASURE_CONFIRMED: erasure_confirmed, TaskNames.EXPORT_PART: export_part}
