"""The registration worker, run for real: it records erasure confirmations once each."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import func, select

from services.registration.extensions import db
from services.registration.models import Erasure, Outbox, ProcessedEvent
from shared import contracts
from shared.celery_app import make_celery
from shared.contracts import Queues, TaskNames
from shared.db import new_id, utcnow
from tests.helpers import SECRET_KEY, start_worker


@pytest.fixture
def worker(settings: Any, registration_db: str) -> Any:
    redis_lib.Redis.from_url(settings.redis_url).delete(Queues.REGISTRATION)
    environment = {
        "REDIS_URL": settings.redis_url,
        "REGISTRATION_DATABASE_URL": registration_db,
        "SECRET_KEY": SECRET_KEY,
    }
    process = start_worker("registration", environment)
    yield process
    process.terminate()
    process.wait(timeout=20)


def confirmation(registration_id: str, service: str, event_id: str | None = None) -> dict:
    return contracts.dump(
        TaskNames.ERASURE_CONFIRMED,
        {
            "event_id": event_id or new_id(),
            "occurred_at": utcnow(),
            "registration_id": registration_id,
            "service": service,
        },
    )


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_erasure_completes_when_every_service_confirms_once(
    registration_app, settings, worker, registration_client, make_event, register
):
    event = make_event()
    token = register(event["slug"]).get_json()["manage_token"]
    erased = registration_client.post(
        "/api/v1/registrations/me/erase", headers={"Authorization": f"Bearer {token}"}
    )
    registration_id = erased.get_json()["erasure_id"]
    sender = make_celery("test-sender", settings)
    feedback = confirmation(registration_id, "feedback")

    def send(kwargs: dict) -> None:
        sender.send_task(TaskNames.ERASURE_CONFIRMED, kwargs=kwargs, queue=Queues.REGISTRATION)

    send(feedback)
    send(feedback)  # delivered twice
    send({"registration_id": registration_id, "service": "billing"})  # breaks the contract
    send(confirmation(registration_id, "notifier"))

    def completed() -> bool:
        with registration_app.app_context():
            record = db.session.get(Erasure, registration_id)
            return record is not None and record.completed_at is not None

    wait_for(completed)
    with registration_app.app_context():
        record = db.session.get(Erasure, registration_id)
        assert record.confirmed_by == ["feedback", "notifier"]
        handled = db.session.scalar(select(func.count()).select_from(ProcessedEvent))
        assert handled == 2
    assert worker.poll() is None, "a bad message must not stop the worker"


def test_erasure_status_lists_the_services_still_to_confirm(
    registration_client, make_event, register
):
    event = make_event()
    token = register(event["slug"]).get_json()["manage_token"]
    erased = registration_client.post(
        "/api/v1/registrations/me/erase", headers={"Authorization": f"Bearer {token}"}
    )
    status = registration_client.get(erased.get_json()["status_url"]).get_json()
    assert status["pending"] == ["feedback", "notifier"]
    assert status["completed_at"] is None
    assert "T" in status["requested_at"]
    assert registration_client.get("/api/v1/erasures/unknown").status_code == 404


def test_export_gathers_the_other_services_answers(
    registration_app, settings, worker, registration_client, make_event, register
):
    event = make_event()
    created = register(event["slug"], email="ana@example.org").get_json()
    auth = {"Authorization": f"Bearer {created['manage_token']}"}
    first = registration_client.get("/api/v1/registrations/me/export", headers=auth).get_json()
    assert first["services"]["registration"]["registration"]["email"] == "ana@example.org"
    assert first["pending"] == ["feedback", "notifier"] and first["complete"] is False
    with registration_app.app_context():
        request = db.session.scalar(
            select(Outbox).where(Outbox.task_name == TaskNames.EXPORT_REQUESTED)
        )
        request_id = request.payload["request_id"]
    sender = make_celery("test-sender", settings)
    for service in ("feedback", "notifier"):
        part = contracts.dump(
            TaskNames.EXPORT_PART,
            {
                "event_id": new_id(),
                "occurred_at": utcnow(),
                "registration_id": created["id"],
                "request_id": request_id,
                "service": service,
                "data": {"held_by": service},
            },
        )
        sender.send_task(TaskNames.EXPORT_PART, kwargs=part, queue=Queues.REGISTRATION)

    def complete() -> bool:
        return registration_client.get("/api/v1/registrations/me/export", headers=auth).get_json()[
            "complete"
        ]

    wait_for(complete)
    final = registration_client.get("/api/v1/registrations/me/export", headers=auth).get_json()
    assert final["services"]["notifier"]["data"] == {"held_by": "notifier"}
    with registration_app.app_context():  # asked once, not on every look
        requests = db.session.scalars(
            select(Outbox).where(Outbox.task_name == TaskNames.EXPORT_REQUESTED)
        ).all()
        assert len(requests) == 1
