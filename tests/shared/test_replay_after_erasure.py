"""A dead letter about a person erased since it was buried brings no one back when an organiser
replays it, in the feedback service and the notifier: the erasure forgets the person's dead
letters (a replay afterwards finds none), and a replay sent before the erasure but handled
after it meets the tombstone (`shared.consumer.is_erased`)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import func, select

from shared import contracts, deadletters
from shared.contracts import OWN_TASK_QUEUES, OwnTasks, TaskNames
from shared.db import new_id, utcnow
from tests.helpers import (
    ORGANISER_TOKEN,
    bearer,
    empty_tables,
    migrated_database,
    queued_tasks,
)
from tools.fault_table import EVENT, SESSION

DELIVERIES = OWN_TASK_QUEUES[OwnTasks.DELIVER]


@dataclasses.dataclass
class Service:
    """One consuming service in this process: its app, models and queue on the test Redis."""

    name: str
    app: Any
    models: ModuleType
    broker: redis_lib.Redis

    @property
    def db(self) -> Any:
        return importlib.import_module(f"services.{self.name}.extensions").db

    def consume(self, name: str, kwargs: dict[str, Any]) -> None:
        """Run the service's consumer task here, as its worker would."""
        self.app.extensions["tasks"][name](**kwargs)

    def held(self, registration_id: str) -> int:
        """Rows about the person: feedback's participant and seats, the notifier's recipient
        and emails."""
        tables = {"feedback": ("Participant", "Attendance"), "notifier": ("Recipient", "Message")}
        with self.app.app_context():
            return sum(
                int(
                    self.db.session.scalar(
                        select(func.count())
                        .select_from(model)
                        .where(model.registration_id == registration_id)
                    )
                )
                for model in (getattr(self.models, table) for table in tables[self.name])
            )

    def bury(self, message: dict[str, Any], name: str) -> str:
        """Keep the message as a dead letter, as the consumer does after its last attempt."""
        failure = deadletters.Failure("OperationalError: server closed the connection", 5, utcnow())
        task_id = f"{message['event_id']}.{self.name}"
        with self.app.app_context():
            row = deadletters.bury(
                self.db.session, self.models.DeadLetter, task_id, name, message, failure
            )
            self.db.session.commit()
            return str(row.id)

    def replay(self, dead_letter_id: str) -> Any:
        return self.app.test_client().post(
            f"/api/v1/dead-letters/{dead_letter_id}/replay", headers=bearer(ORGANISER_TOKEN)
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        listed = self.app.test_client().get("/api/v1/dead-letters", headers=bearer(ORGANISER_TOKEN))
        assert listed.status_code == 200, listed.get_json()
        return list(listed.get_json())


@pytest.fixture(params=["feedback", "notifier"])
def service(
    request: pytest.FixtureRequest,
    backend: str,
    settings: Any,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    name = str(request.param)
    models = importlib.import_module(f"services.{name}.models")
    url = migrated_database(backend, name, tmp_path_factory.getbasetemp())
    empty_tables(url, models.Base.metadata)
    settings = dataclasses.replace(settings, **{f"{name}_database_url": url})
    create_app = importlib.import_module(f"services.{name}.app").create_app
    app = create_app({"TESTING": True, "SETTINGS": settings, "WTF_CSRF_ENABLED": False})
    broker = redis_lib.Redis.from_url(redis_url)
    broker.delete(name, DELIVERIES)
    yield Service(name, app, models, broker)
    broker.delete(name, DELIVERIES)
    if "mailer" in app.extensions:
        app.extensions["mailer"].close()


def participant() -> dict[str, Any]:
    return {
        "registration_id": new_id(),
        "email": "ana.dupont@example.org",
        "name": "Ana Dupont",
        "language": "fr",
        "token_version": 1,
        "organisation": "Ville de Liège",
        "city": "Liège",
        "country": "BE",
        "role": "local_government",
    }


def message(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return contracts.dump(name, {"event_id": new_id(), "occurred_at": utcnow(), **body})


def registered(person: dict[str, Any]) -> dict[str, Any]:
    seat = {"session": SESSION, "status": "waitlisted", "waitlist_position": 1}
    return message(TaskNames.REGISTERED, {"event": EVENT, "participant": person, "seats": [seat]})


def promoted(person: dict[str, Any]) -> dict[str, Any]:
    seat = {"session": SESSION, "status": "confirmed", "waitlist_position": None}
    return message(TaskNames.SEAT_PROMOTED, {"event": EVENT, "participant": person, "seat": seat})


def erased(person: dict[str, Any]) -> dict[str, Any]:
    body = {"registration_id": person["registration_id"], "event_slug": EVENT["slug"]}
    return message(TaskNames.ERASED, body)


def test_a_dead_letter_is_forgotten_by_the_erasure_and_its_replay_finds_nothing(service):
    person = participant()
    service.consume(TaskNames.REGISTERED, registered(person))
    assert service.held(person["registration_id"]) > 0
    dead = service.bury(promoted(person), TaskNames.SEAT_PROMOTED)
    assert [row["id"] for row in service.dead_letters()] == [dead]

    service.consume(TaskNames.ERASED, erased(person))
    assert service.dead_letters() == []
    assert service.replay(dead).status_code == 404
    assert queued_tasks(service.broker, service.name) == []
    assert service.held(person["registration_id"]) == 0


def test_a_replay_handled_after_the_erasure_brings_no_one_back(service):
    person = participant()
    service.consume(TaskNames.REGISTERED, registered(person))
    dead = service.bury(promoted(person), TaskNames.SEAT_PROMOTED)
    assert service.replay(dead).status_code == 202
    [replayed] = queued_tasks(service.broker, service.name)
    assert replayed["task"] == TaskNames.SEAT_PROMOTED

    service.consume(TaskNames.ERASED, erased(person))
    service.broker.delete(DELIVERIES)  # the confirmation's delivery, erased with the rest
    service.consume(replayed["task"], replayed["kwargs"])  # the replay arrives late

    assert service.held(person["registration_id"]) == 0
    assert service.dead_letters() == []
    assert queued_tasks(service.broker, DELIVERIES) == []  # no email to send them
