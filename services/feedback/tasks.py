"""Tasks the feedback worker runs (queue `feedback`); thin wrappers over logic and report.

The registration events are consumed once each (`handle_once`); the service's own tasks
(report rebuild, the periodic jobs) are safe to run twice by construction.

The tasks are registered on this service's Celery app only (`register_tasks`, called by the
worker entry point), never as shared tasks: the notifier consumes the same contract names,
and a shared task would be registered on every Celery app of a process that imports both.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery, Task
from flask import current_app

from services.feedback import logic, report
from services.feedback.extensions import db
from services.feedback.models import ProcessedEvent
from shared.consumer import handle_once


class FeedbackTasks:
    """This service's own task names (the contract's names live in shared.contracts)."""

    REBUILD_REPORT = "feedback.rebuild_report"
    SEND_INVITATIONS = "feedback.send_invitations"
    REBUILD_STALE_REPORTS = "feedback.rebuild_stale_reports"


PERIOD_SECONDS = 60.0
# For `celery -A services.feedback.worker beat`, if a deployment prefers beat to invite-loop.
BEAT_SCHEDULE = {
    "invitations": {"task": FeedbackTasks.SEND_INVITATIONS, "schedule": PERIOD_SECONDS},
    "stale-reports": {"task": FeedbackTasks.REBUILD_STALE_REPORTS, "schedule": PERIOD_SECONDS},
}
# A session event may overtake its event's: retry for about a minute, then give up (logged).
NOT_READY_RETRIES = 12
NOT_READY_COUNTDOWN = 5


def consume(name: str, kwargs: dict[str, Any]) -> bool:
    """Apply one registration event to the read model, once per event id."""
    return handle_once(db, ProcessedEvent, name, kwargs, logic.HANDLERS[name])


def send_invitations() -> int:
    delay = current_app.extensions["settings"].feedback_invite_delay_seconds
    return logic.send_due_invitations(db, timedelta(seconds=delay))


def register_tasks(celery_app: Celery) -> dict[str, Task]:
    """Define every task of the feedback worker on its Celery app; return them by name."""
    registered: dict[str, Task] = {}

    def consumer(name: str) -> None:
        @celery_app.task(name=name, bind=True, shared=False, max_retries=NOT_READY_RETRIES)
        def consume_event(self: Task, **kwargs: Any) -> None:
            try:
                consume(name, kwargs)
            except logic.NotReady as error:
                raise self.retry(countdown=NOT_READY_COUNTDOWN, exc=error) from None

        registered[name] = consume_event

    for name in logic.HANDLERS:
        consumer(name)

    @celery_app.task(name=FeedbackTasks.REBUILD_REPORT, shared=False)
    def rebuild_report(event_slug: str) -> None:
        report.rebuild(db, event_slug)

    @celery_app.task(name=FeedbackTasks.SEND_INVITATIONS, shared=False)
    def invitations() -> None:
        send_invitations()

    @celery_app.task(name=FeedbackTasks.REBUILD_STALE_REPORTS, shared=False)
    def stale_reports() -> None:
        report.rebuild_stale(db)

    registered.update(
        {
            FeedbackTasks.REBUILD_REPORT: rebuild_report,
            FeedbackTasks.SEND_INVITATIONS: invitations,
            FeedbackTasks.REBUILD_STALE_REPORTS: stale_reports,
        }
    )
    return registered
