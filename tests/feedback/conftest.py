"""Fixtures for the feedback service: its own migrated database (SQLite and PostgreSQL), its
app, and a `world` that publishes events, sessions and participants as the registration
service would: contract messages, consumed by the service's real handlers (`tasks.consume`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared import contracts
from shared.auth import ParticipantTokens
from shared.config import Settings
from shared.contracts import TaskNames
from shared.db import new_id
from tests.feedback.helpers import THEME
from tests.helpers import SECRET_KEY, bearer, empty_tables, migrated_database, now


@pytest.fixture
def feedback_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    from services.feedback.models import Base

    url = migrated_database(backend, "feedback", tmp_path_factory.getbasetemp())
    empty_tables(url, Base.metadata)
    return url


@pytest.fixture
def feedback_settings(settings: Settings, feedback_db: str) -> Settings:
    return dataclasses.replace(
        settings, feedback_database_url=feedback_db, feedback_invite_delay_seconds=600
    )


@pytest.fixture
def feedback_app(feedback_settings: Settings) -> Iterator[Any]:
    from services.feedback.app import create_app

    app = create_app({"TESTING": True, "SETTINGS": feedback_settings, "WTF_CSRF_ENABLED": False})
    yield app


@pytest.fixture
def feedback_client(feedback_app: Any) -> Any:
    """A test client of the feedback app."""
    return feedback_app.test_client()


@dataclasses.dataclass
class Person:
    registration_id: str
    token: str
    info: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)


class World:
    """Publishes what the registration service would, through the feedback service's handlers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tokens = ParticipantTokens(SECRET_KEY)
        self._n = itertools.count(1)

    def deliver(self, name: str, payload: dict[str, Any], event_id: str | None = None) -> bool:
        from services.feedback import tasks

        body = contracts.dump(
            name, {"event_id": event_id or new_id(), "occurred_at": now(), **payload}
        )
        with self.app.app_context():
            return tasks.consume(name, body)

    def event(self, **overrides: Any) -> dict[str, Any]:
        start = now() - timedelta(days=1)
        info = {
            "slug": f"event-{next(self._n)}",
            "title": "Security, Democracy & Cities",
            "title_translations": {"fr": "Sécurité, démocratie et villes"},
            "city": "Brussels",
            "timezone": "Europe/Brussels",
            "starts_on": start.date(),
            "ends_on": (start + timedelta(days=2)).date(),
            "feedback_closes_at": now() + timedelta(days=14),
            **overrides,
        }
        self.deliver(TaskNames.EVENT_PUBLISHED, {"event": info})
        return info

    def session(self, event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        """A session that started two hours ago and ended half an hour ago, unless told."""
        n = next(self._n)
        starts = overrides.pop("starts_at", now() - timedelta(hours=2))
        info = {
            "code": f"S{n}",
            "title": f"Session {n}",
            "title_translations": {"fr": f"Séance {n}"},
            "kind": "thematic",
            "theme": THEME,
            "starts_at": starts,
            "ends_at": overrides.pop("ends_at", starts + timedelta(minutes=90)),
            "room": "Room Horta",
            "language": "en",
            **overrides,
        }
        self.deliver(
            TaskNames.SESSION_PUBLISHED,
            {"event_slug": event["slug"], "session": info, "capacity": 25},
        )
        return info

    def person(
        self,
        event: dict[str, Any],
        confirmed: list[dict[str, Any]] = (),  # type: ignore[assignment]
        waitlisted: list[dict[str, Any]] = (),  # type: ignore[assignment]
        **overrides: Any,
    ) -> Person:
        n = next(self._n)
        info = {
            "registration_id": new_id(),
            "email": f"person{n}@example.org",
            "name": f"Person {n}",
            "language": "en",
            "token_version": 1,
            "organisation": "City of Liège",
            "city": "Liège",
            "country": "BE",
            "role": "local_government",
            **overrides,
        }
        seats = [{"session": s, "status": "confirmed"} for s in confirmed]
        seats += [
            {"session": s, "status": "waitlisted", "waitlist_position": i + 1}
            for i, s in enumerate(waitlisted)
        ]
        self.deliver(TaskNames.REGISTERED, {"event": event, "participant": info, "seats": seats})
        token = self.tokens.sign(info["registration_id"], info["token_version"])
        return Person(info["registration_id"], token, info)

    def seat(
        self, name: str, event: dict[str, Any], person: Person, session: dict[str, Any], status: str
    ) -> None:
        self.deliver(
            name,
            {
                "event": event,
                "participant": person.info,
                "seat": {"session": session, "status": status, "waitlist_position": None},
            },
        )


@pytest.fixture
def world(feedback_app: Any) -> World:
    return World(feedback_app)
