"""Tasks the feedback worker runs (queue `feedback`): thin wrappers over the domain modules.

The registration events and the organiser-account events (this service's copy of the
accounts, `apply_account`) are consumed at least once and act once each
(`shared.consumer.consumer_task`, `handle_once`): an event that overtook the one it depends on
(`readmodel.NotReady`) is retried with back-off like any failure, and kept in the dead-letter
table (`DeadLetter`) if it is still not ready after the last attempt. The service's own tasks
(report rebuild, the periodic jobs) are safe to run twice by construction.

The tasks are registered on this service's Celery app only (`register_tasks`, called by the
app factory), never as shared tasks: the notifier consumes the same contract names, and a
shared task would be registered on every Celery app of a process that imports both.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery, Task
from flask import current_app
from sqlalchemy.orm import Session

from services.feedback import invitations, privacy, readmodel
from services.feedback.extensions import db
from services.feedback.models import (
    DeadLetter,
    OrganiserAccount,
    OrganiserRole,
    OrganiserToken,
    ProcessedEvent,
)
from services.feedback.report import store
from shared.accounts import apply_snapshot
from shared.consumer import Handler, consumer_task, handle_once
from shared.contracts import ORGANISER_EVENTS, OwnTasks

PERIOD_SECONDS = 60.0
# For `celery -A services.feedback.worker beat`, if a deployment prefers beat to invite-loop.
BEAT_SCHEDULE = {
    "invitations": {"task": OwnTasks.SEND_INVITATIONS, "schedule": PERIOD_SECONDS},
    "stale-reports": {"task": OwnTasks.REBUILD_STALE_REPORTS, "schedule": PERIOD_SECONDS},
}


def apply_account(session: Session, message: dict[str, Any]) -> None:
    """An `organiser.*` event: this service's copy of the account becomes the state it carries,
    unless the copy is newer already (events may come late, twice or out of order)."""
    apply_snapshot(session, OrganiserAccount, OrganiserRole, OrganiserToken, message["account"])


# Each event this service consumes (registration, privacy, organiser accounts), and the
# function that applies it.
HANDLERS: dict[str, Handler] = {
    **readmodel.HANDLERS,
    **privacy.HANDLERS,
    **dict.fromkeys(ORGANISER_EVENTS, apply_account),
}


def consume(name: str, kwargs: dict[str, Any]) -> bool:
    """Apply one registration event (read model or privacy), once per event id."""
    return handle_once(db, ProcessedEvent, name, kwargs, HANDLERS[name])


def send_invitations() -> int:
    delay = current_app.extensions["settings"].feedback_invite_delay_seconds
    return invitations.send_due_invitations(db, timedelta(seconds=delay))


def register_tasks(celery_app: Celery) -> dict[str, Task]:
    """Define every task of the feedback worker on its Celery app; return them by name."""
    registered: dict[str, Task] = {}

    def consumer(name: str) -> None:
        def run(kwargs: dict[str, Any], _task_id: str | None) -> None:
            consume(name, kwargs)

        registered[name] = consumer_task(celery_app, name, db, DeadLetter, run)

    for name in HANDLERS:
        consumer(name)

    @celery_app.task(name=OwnTasks.REBUILD_REPORT, shared=False)
    def rebuild_report(event_slug: str) -> None:
        store.rebuild(db, event_slug)

    @celery_app.task(name=OwnTasks.SEND_INVITATIONS, shared=False)
    def invite() -> None:
        send_invitations()

    @celery_app.task(name=OwnTasks.REBUILD_STALE_REPORTS, shared=False)
    def stale_reports() -> None:
        store.rebuild_stale(db)

    registered.update(
        {
            OwnTasks.REBUILD_REPORT: rebuild_report,
            OwnTasks.SEND_INVITATIONS: invite,
            OwnTasks.REBUILD_STALE_REPORTS: stale_reports,
        }
    )
    return registered
