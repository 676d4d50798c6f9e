"""Tasks the registration worker consumes (queue `registration`); thin wrappers over logic."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from services.registration import logic
from services.registration.extensions import db
from services.registration.models import ProcessedEvent
from shared.consumer import handle_once
from shared.contracts import TaskNames


@shared_task(name=TaskNames.ERASURE_CONFIRMED)
def erasure_confirmed(**kwargs: Any) -> None:
    handle_once(
        db, ProcessedEvent, TaskNames.ERASURE_CONFIRMED, kwargs, logic.record_erasure_confirmation
    )


@shared_task(name=TaskNames.EXPORT_PART)
def export_part(**kwargs: Any) -> None:
    handle_once(db, ProcessedEvent, TaskNames.EXPORT_PART, kwargs, logic.store_export_part)
