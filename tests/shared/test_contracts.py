"""The contracts module: every event has a schema and subscribers; receivers refuse strays."""

from __future__ import annotations

import importlib

import pytest

from shared import contracts
from shared.contracts import SCHEMAS, SUBSCRIBERS, ContractError, Queues, TaskNames
from shared.db import new_id, utcnow

ALL_NAMES = [value for key, value in vars(TaskNames).items() if key.isupper()]
ALL_QUEUES = {value for key, value in vars(Queues).items() if key.isupper()}


def erased() -> dict:
    return {
        "event_id": new_id(),
        "occurred_at": utcnow(),
        "registration_id": "r1",
        "event_slug": "e",
    }


def test_every_task_name_has_a_schema_and_subscribers():
    assert sorted(ALL_NAMES) == sorted(SCHEMAS) == sorted(SUBSCRIBERS)
    assert len(set(ALL_NAMES)) == len(ALL_NAMES)
    for queues in SUBSCRIBERS.values():
        assert queues and set(queues) <= ALL_QUEUES


def test_dump_then_load_round_trips():
    body = contracts.dump(TaskNames.ERASED, erased())
    assert isinstance(body["occurred_at"], str)
    assert contracts.load(TaskNames.ERASED, body)["registration_id"] == "r1"


def test_receiver_refuses_unknown_fields_and_missing_ones():
    body = contracts.dump(TaskNames.ERASED, erased())
    with pytest.raises(ContractError, match="Unknown field"):
        contracts.load(TaskNames.ERASED, {**body, "email": "someone@example.org"})
    del body["registration_id"]
    with pytest.raises(ContractError, match="registration_id"):
        contracts.load(TaskNames.ERASED, body)


def test_sender_refuses_a_message_that_breaks_its_schema():
    with pytest.raises(ContractError):
        contracts.dump(
            TaskNames.ERASURE_CONFIRMED, {**erased(), "service": "billing"}, full_check=True
        )
    with pytest.raises(ContractError, match="missing event_slug, registration_id"):
        contracts.dump(TaskNames.ERASED, {"event_id": "e", "occurred_at": utcnow()})
    with pytest.raises(ContractError, match="unknown task"):
        contracts.dump("registration.typo", erased())


def test_erasure_message_carries_no_personal_data():
    fields = set(SCHEMAS[TaskNames.ERASED]().fields)
    assert fields == {"event_id", "occurred_at", "registration_id", "event_slug"}


@pytest.mark.parametrize("service", ["registration", "feedback", "notifier"])
def test_each_worker_consumes_every_event_its_queue_receives(service):
    from celery import Celery

    tasks = importlib.import_module(f"services.{service}.tasks")
    registered = tasks.register_tasks(Celery(f"test-{service}"))
    assert set(contracts.subscribed(service)) <= set(registered)
    assert set(registered) <= set(vars(contracts.TaskNames).values()) | set(
        vars(contracts.OwnTasks).values()
    )
