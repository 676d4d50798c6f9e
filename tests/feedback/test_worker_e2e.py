"""End to end with a real Celery worker (`-Q feedback`) and the registration service's relay:
a registration makes the participant eligible here; a session that is over produces one
invitation per attendee for the notifier; feedback triggers a report rebuild; export requests
and erasures are answered to the registration service."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import select

from services.feedback.extensions import db as feedback_db_handle
from services.feedback.models import Attendance, Participant, ProgrammeSession, Report
from services.feedback.models import Outbox as FeedbackOutbox
from services.registration.extensions import db as registration_db_handle
from services.registration.models import Outbox as RegistrationOutbox
from shared import contracts
from shared.celery_app import make_celery
from shared.contracts import OwnTasks, Queues, TaskNames
from shared.outbox import relay_batch
from tests.feedback.helpers import feedback_url
from tests.helpers import ORGANISER_TOKEN, SECRET_KEY, bearer, start_worker

pytestmark = pytest.mark.slow
QUEUES = (Queues.FEEDBACK, Queues.NOTIFIER, Queues.REGISTRATION)


def queued(broker: redis_lib.Redis, queue: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in a queue: task name, task id and kwargs."""
    messages = []
    for raw in reversed(broker.lrange(queue, 0, -1)):  # kombu LPUSHes, consumers BRPOP
        envelope = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        messages.append({"task": envelope["headers"]["task"], "kwargs": kwargs})
    return messages


def wait_for(predicate: Any, timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture
def broker(redis_url: str) -> redis_lib.Redis:
    connection = redis_lib.Redis.from_url(redis_url)
    connection.delete(*QUEUES)
    return connection


@pytest.fixture
def worker(settings: Any, feedback_db: str, broker: redis_lib.Redis) -> Any:
    environment = {
        "REDIS_URL": settings.redis_url,
        "FEEDBACK_DATABASE_URL": feedback_db,
        "SECRET_KEY": SECRET_KEY,
        "ORGANISER_TOKEN": ORGANISER_TOKEN,
        "FEEDBACK_INVITE_DELAY_SECONDS": "0",
    }
    process = start_worker("feedback", environment)
    yield process
    process.terminate()
    process.wait(timeout=30)


def test_registration_to_feedback_to_invitation_through_real_workers(
    registration_app,
    registration_client,
    make_event,
    make_session,
    register,
    settings,
    feedback_app,
    feedback_client,
    worker,
    broker,
):
    celery = make_celery("test-relay", settings)

    def relay_registration() -> int:
        with registration_app.app_context():
            return relay_batch(registration_db_handle, RegistrationOutbox, celery)

    def relay_feedback() -> int:
        with feedback_app.app_context():
            return relay_batch(feedback_db_handle, FeedbackOutbox, celery)

    event = make_event()
    session = make_session(event["slug"], code="TS01", theme="Drugs and organised crime")
    registered = register(event["slug"], ["TS01"], language="nl", country="BE", city="Gent")
    assert registered.status_code == 201
    token = registered.get_json()["manage_token"]
    relay_registration()

    def eligible() -> bool:
        with feedback_app.app_context():
            seat = feedback_db_handle.session.scalar(select(Attendance))
            feedback_db_handle.session.rollback()
            return seat is not None and seat.status == "confirmed"

    wait_for(eligible)
    with feedback_app.app_context():
        participant = feedback_db_handle.session.scalar(select(Participant))
        assert (participant.language, participant.city) == ("nl", "Gent")
    url = feedback_url(event, session)
    not_yet = feedback_client.post(url, json={"rating": 5}, headers=bearer(token))
    assert not_yet.status_code == 409  # the session has not started

    # The organisers move the session into the past: the feedback service hears of it.
    past = datetime.now(UTC) - timedelta(hours=2)
    moved = registration_client.patch(
        f"/api/v1/events/{event['slug']}/sessions/TS01",
        json={"starts_at": past.isoformat(), "ends_at": (past + timedelta(hours=1)).isoformat()},
        headers=bearer(ORGANISER_TOKEN),
    )
    assert moved.status_code == 200, moved.get_json()
    relay_registration()

    def started() -> bool:
        with feedback_app.app_context():
            row = feedback_db_handle.session.scalar(select(ProgrammeSession))
            feedback_db_handle.session.rollback()
            return row.starts_at < datetime.now(UTC)

    wait_for(started)
    rated = feedback_client.post(
        url, json={"rating": 5, "comment": "Zeer nuttig"}, headers=bearer(token)
    )
    assert rated.status_code == 201, rated.get_json()

    # The worker rebuilds the report a few seconds after the burst of feedback.
    def report_built() -> bool:
        with feedback_app.app_context():
            row = feedback_db_handle.session.scalar(select(Report))
            feedback_db_handle.session.rollback()
            return bool(row.data) and row.data["headline"]["responses"] == 1

    wait_for(report_built)

    # The periodic job, run by the worker: one invitation, relayed to the notifier's queue.
    for _ in range(2):
        celery.send_task(OwnTasks.SEND_INVITATIONS, queue=Queues.FEEDBACK)
    wait_for(relay_feedback)
    time.sleep(1.0)  # the second run has finished too (solo pool, in order)
    relay_feedback()
    invitations = [
        m for m in queued(broker, Queues.NOTIFIER) if m["task"] == TaskNames.FEEDBACK_INVITATION
    ]
    assert len(invitations) == 1
    message = contracts.load(TaskNames.FEEDBACK_INVITATION, invitations[0]["kwargs"])
    assert message["registration_id"] == registered.get_json()["id"]
    assert (message["event"]["slug"], message["session"]["code"]) == (event["slug"], "TS01")

    # Export: the registration service asks every service for its part; ours answers.
    assert (
        registration_client.get(
            "/api/v1/registrations/me/export", headers=bearer(token)
        ).status_code
        == 200
    )
    relay_registration()

    def exported() -> list[dict[str, Any]]:
        relay_feedback()
        return [
            m for m in queued(broker, Queues.REGISTRATION) if m["task"] == TaskNames.EXPORT_PART
        ]

    (part,) = wait_for(exported)
    assert part["kwargs"]["service"] == "feedback"
    assert part["kwargs"]["data"]["feedback"][0]["comment"] == "Zeer nuttig"

    # Erasure: the participant leaves; the feedback service erases and confirms.
    erased = registration_client.post("/api/v1/registrations/me/erase", headers=bearer(token))
    assert erased.status_code == 202
    relay_registration()

    def confirmed() -> list[dict[str, Any]]:
        relay_feedback()
        return [
            m
            for m in queued(broker, Queues.REGISTRATION)
            if m["task"] == TaskNames.ERASURE_CONFIRMED
        ]

    (confirmation,) = wait_for(confirmed)
    assert confirmation["kwargs"]["service"] == "feedback"
    with feedback_app.app_context():
        assert feedback_db_handle.session.scalar(select(Participant)) is None
    assert worker.poll() is None
