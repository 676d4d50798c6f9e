"""Events leave through the transactional outbox: committed with the change, published once."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import select

from services.registration.extensions import db
from services.registration.models import Outbox
from shared import contracts
from shared.celery_app import make_celery
from shared.contracts import Queues, TaskNames
from shared.outbox import relay_batch
from tests.helpers import free_port

QUEUES = (Queues.NOTIFIER, Queues.FEEDBACK)


@pytest.fixture
def broker(redis_url: str) -> redis_lib.Redis:
    registration_client = redis_lib.Redis.from_url(redis_url)
    registration_client.delete(*QUEUES)
    return registration_client


def queued(broker: redis_lib.Redis, queue: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in a queue: task name, task id and kwargs."""
    messages = []
    for raw in reversed(broker.lrange(queue, 0, -1)):  # kombu LPUSHes, consumers BRPOP
        envelope = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        headers = envelope["headers"]
        messages.append({"task": headers["task"], "id": headers["id"], "kwargs": kwargs})
    return messages


def outbox_rows(registration_app: Any) -> list[Outbox]:
    with registration_app.app_context():
        return list(db.session.scalars(select(Outbox).order_by(Outbox.seq)).all())


def test_a_state_change_and_its_event_commit_together(
    registration_app, make_event, make_session, register
):
    event = make_event()
    make_session(event["slug"], code="FV1", capacity=1)
    register(event["slug"], ["FV1"], email="ana@example.org")
    names = [row.task_name for row in outbox_rows(registration_app)]
    assert names == [TaskNames.EVENT_PUBLISHED, TaskNames.SESSION_PUBLISHED, TaskNames.REGISTERED]
    payload = outbox_rows(registration_app)[-1].payload
    assert (
        contracts.load(TaskNames.REGISTERED, payload)["participant"]["email"] == "ana@example.org"
    )


def test_a_refused_registration_leaves_no_event(registration_app, make_event, register):
    event = make_event()
    register(event["slug"], email="ana@example.org")
    before = len(outbox_rows(registration_app))
    assert register(event["slug"], email="ana@example.org").status_code == 409
    assert len(outbox_rows(registration_app)) == before


def test_broker_down_registration_succeeds_and_event_goes_out_once_it_is_back(
    registration_app, settings, broker, make_event, register
):
    down = make_celery(
        "test", dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    )
    up = make_celery("test", settings)
    event = make_event()
    response = register(event["slug"], email="ana@example.org")
    assert response.status_code == 201

    with registration_app.app_context():
        assert relay_batch(db, Outbox, down) == 0
    rows = outbox_rows(registration_app)
    assert all(row.published_at is None for row in rows)
    assert rows[0].attempts == 1 and "Error" in (rows[0].last_error or "")
    assert broker.llen(Queues.NOTIFIER) == 0

    with registration_app.app_context():
        assert relay_batch(db, Outbox, up) == len(rows)
        assert relay_batch(db, Outbox, up) == 0  # nothing goes out twice
    registered = [m for m in queued(broker, Queues.NOTIFIER) if m["task"] == TaskNames.REGISTERED]
    assert len(registered) == 1
    assert registered[0]["kwargs"]["participant"]["email"] == "ana@example.org"
    assert registered[0]["id"] == f"{registered[0]['kwargs']['event_id']}.{Queues.NOTIFIER}"
    feedback_tasks = [m["task"] for m in queued(broker, Queues.FEEDBACK)]
    assert feedback_tasks == [
        TaskNames.EVENT_PUBLISHED,
        TaskNames.REGISTERED,
    ]


def test_each_event_goes_to_the_queues_that_subscribe_to_it(
    registration_app, settings, broker, make_event, register
):
    event = make_event()
    register(event["slug"], email="ana@example.org")
    registration_client = registration_app.test_client()
    registration_client.post(
        f"/api/v1/events/{event['slug']}/registrations/resend-link",
        json={"email": "ana@example.org"},
    )
    with registration_app.app_context():
        relay_batch(db, Outbox, make_celery("test", settings))
    notifier = [m["task"] for m in queued(broker, Queues.NOTIFIER)]
    feedback = [m["task"] for m in queued(broker, Queues.FEEDBACK)]
    assert notifier == [TaskNames.REGISTERED, TaskNames.LINK_REQUESTED]
    assert feedback == [TaskNames.EVENT_PUBLISHED, TaskNames.REGISTERED]


def test_every_message_in_the_outbox_matches_its_contract(
    registration_app, make_event, make_session, register
):
    event = make_event()
    make_session(event["slug"], code="FV1", capacity=1)
    first = register(event["slug"], ["FV1"]).get_json()
    register(event["slug"], ["FV1"])
    registration_client = registration_app.test_client()
    auth = {"Authorization": f"Bearer {first['manage_token']}"}
    registration_client.delete("/api/v1/registrations/me/sessions/FV1", headers=auth)
    registration_client.delete("/api/v1/registrations/me", headers=auth)
    rows = outbox_rows(registration_app)
    registration_client.post("/api/v1/registrations/me/erase", headers=auth)
    rows += outbox_rows(registration_app)[-1:]
    names = {row.task_name for row in rows}
    assert {
        TaskNames.SEAT_RELEASED,
        TaskNames.SEAT_PROMOTED,
        TaskNames.CANCELLED,
        TaskNames.ERASED,
    } <= names
    for row in rows:
        contracts.load(row.task_name, row.payload)  # raises on any mismatch


def test_erasure_deletes_earlier_events_that_name_the_person(
    registration_app, make_event, register
):
    event = make_event()
    token = register(event["slug"], email="ana@example.org").get_json()["manage_token"]
    register(event["slug"], email="ben@example.org")
    registration_client = registration_app.test_client()
    registration_client.post(
        f"/api/v1/events/{event['slug']}/registrations/resend-link",
        json={"email": "ana@example.org"},
    )
    registration_client.post(
        "/api/v1/registrations/me/erase", headers={"Authorization": f"Bearer {token}"}
    )
    payloads = json.dumps([row.payload for row in outbox_rows(registration_app)])
    assert "ana@example.org" not in payloads
    assert "ben@example.org" in payloads
    assert outbox_rows(registration_app)[-1].task_name == TaskNames.ERASED


def test_published_events_are_purged_after_their_retention(
    registration_app, settings, broker, make_event
):
    from datetime import timedelta

    from shared.outbox import purge_published

    make_event()
    with registration_app.app_context():
        assert relay_batch(db, Outbox, make_celery("test", settings)) == 1
        assert purge_published(db, Outbox, timedelta(days=7)) == 0
        assert purge_published(db, Outbox, timedelta(seconds=-1)) == 1
    assert outbox_rows(registration_app) == []
