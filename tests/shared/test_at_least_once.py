"""At least once, with a real Celery worker of the feedback service and real Redis: a locked,
lock-timed-out or unreachable database delays an event but loses nothing and acts once; what
cannot be handled (a broken contract, a handler that keeps failing, a message that kills its
worker) ends in the dead-letter table, visible through the API, and a replay acts once."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shared.celery_app import make_celery
from shared.config import ROOT
from shared.contracts import Queues, TaskNames
from shared.db import new_id
from shared.deadletters import MAX_ATTEMPTS
from tests.helpers import (
    ORGANISER_TOKEN,
    SECRET_KEY,
    bearer,
    empty_tables,
    migrated_database,
    now,
    start_worker,
)
from tools.fault_table import Proxy

pytestmark = pytest.mark.slow
# The feedback service's SQLite busy timeout is 30 s (shared/db.py): the lock outlasts it.
SQLITE_LOCK_SECONDS = 35
POSTGRES_LOCK_SECONDS = 4
# The worker's connect and statement time-outs; the outage outlasts both several times over.
POSTGRES_TIMEOUTS = {"PGCONNECT_TIMEOUT": "2", "PGOPTIONS": "-c statement_timeout=2000"}
OUTAGE_SECONDS = 8
FAST_RETRIES = "tests.shared.fast_retries"


# --- messages, as the registration service sends them -------------------------------------------


def event_published(title: str = "Security, Democracy & Cities") -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "occurred_at": now().isoformat(),
        "event": {
            "slug": "sdc",
            "title": title,
            "city": "Brussels",
            "timezone": "Europe/Brussels",
            "starts_on": "2027-03-10",
            "ends_on": "2027-03-12",
            "feedback_closes_at": "2027-04-01T00:00:00+00:00",
        },
    }


def session_published() -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "occurred_at": now().isoformat(),
        "event_slug": "sdc",
        "session": {
            "code": "TS01",
            "title": "Drugs and cities",
            "kind": "thematic",
            "theme": "Drugs",
            "starts_at": "2027-03-10T09:00:00+00:00",
            "ends_at": "2027-03-10T10:30:00+00:00",
        },
        "capacity": None,
    }


def registered(session: dict[str, Any], index: int) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "occurred_at": now().isoformat(),
        "event": event_published()["event"],
        "participant": {
            "registration_id": new_id(),
            "email": f"person{index}@example.org",
            "name": f"Person {index}",
            "language": "fr",
            "token_version": 1,
            "organisation": "City of Liège",
            "city": "Liège",
            "country": "BE",
            "role": "local_government",
        },
        "seats": [{"session": session["session"], "status": "confirmed"}],
    }


def erased(registration_id: str) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "occurred_at": now().isoformat(),
        "registration_id": registration_id,
        "event_slug": "sdc",
    }


# --- the parts ------------------------------------------------------------------------------------


@pytest.fixture
def feedback_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    from services.feedback.models import Base

    url = migrated_database(backend, "feedback", tmp_path_factory.getbasetemp())
    empty_tables(url, Base.metadata)
    return url


@pytest.fixture
def feedback_app(settings: Any, feedback_db: str) -> Any:
    from services.feedback.app import create_app

    settings = dataclasses.replace(settings, feedback_database_url=feedback_db)
    return create_app({"TESTING": True, "SETTINGS": settings, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def broker(redis_url: str) -> redis_lib.Redis:
    connection = redis_lib.Redis.from_url(redis_url)
    connection.delete(Queues.FEEDBACK, *connection.keys("agora:deliveries:*"))
    return connection


def worker_environment(settings: Any, feedback_db: str, **extra: str) -> dict[str, str]:
    return {
        "REDIS_URL": settings.redis_url,
        "FEEDBACK_DATABASE_URL": feedback_db,
        "SECRET_KEY": SECRET_KEY,
        "ORGANISER_TOKEN": ORGANISER_TOKEN,
        "CELERY_CONFIG_MODULE": FAST_RETRIES,
        **extra,
    }


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    """Start a feedback worker (its log in a file); every one is stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def run(environment: dict[str, str], prefork: bool = False) -> subprocess.Popen[bytes]:
        with (tmp_path / "worker.log").open("ab") as log:
            if prefork:  # a pool process that dies is replaced, and its task given back
                process = prefork_worker(environment, stdout=log, stderr=subprocess.STDOUT)
            else:
                process = start_worker(
                    "feedback", environment, stdout=log, stderr=subprocess.STDOUT
                )
        started.append(process)
        return process

    yield run
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def prefork_worker(environment: dict[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "celery", "-A", "services.feedback.worker", "worker",
        "-Q", Queues.FEEDBACK, "-P", "prefork", "-c", "1", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "-l", "info",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environment}
    return subprocess.Popen(command, env=env, cwd=ROOT, **popen)


def send(settings: Any, name: str, kwargs: dict[str, Any]) -> str:
    task_id = f"{kwargs.get('event_id', new_id())}.{Queues.FEEDBACK}"
    make_celery("test-sender", settings).send_task(
        name, kwargs=kwargs, queue=Queues.FEEDBACK, task_id=task_id
    )
    return task_id


def count(url: str, sql: str) -> Any:
    engine = create_engine(url)
    with engine.connect() as connection:
        value = connection.execute(text(sql)).scalar()
    engine.dispose()
    return value


def wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def dead_letters(client: Any, **query: str) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/dead-letters", query_string=query, headers=bearer(ORGANISER_TOKEN)
    )
    assert response.status_code == 200, response.get_json()
    return list(response.get_json())


# Faults that exist on one database only: the test runs on that one (not skipped on the other).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
POSTGRESQL_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


class SQLiteLock:
    """Another connection holding the database's write lock (BEGIN IMMEDIATE) until released."""

    def __init__(self, url: str) -> None:
        self.connection = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.connection.execute("ROLLBACK")
        self.connection.close()


# --- the tests -----------------------------------------------------------------------------------


@SQLITE_ONLY
def test_a_database_locked_longer_than_its_busy_timeout_loses_no_event(
    settings, feedback_db, broker, start, tmp_path
):
    start(worker_environment(settings, feedback_db))
    lock = SQLiteLock(feedback_db)
    locked_at = time.monotonic()
    send(settings, TaskNames.EVENT_PUBLISHED, message := event_published())
    send(settings, TaskNames.EVENT_PUBLISHED, message)  # delivered twice: acts once
    time.sleep(SQLITE_LOCK_SECONDS)
    lock.release()
    held = time.monotonic() - locked_at

    wait_for(lambda: count(feedback_db, "SELECT count(*) FROM processed_events") == 1)
    time.sleep(1)  # the duplicate, had it acted, would have by now
    assert held > 30
    assert count(feedback_db, "SELECT count(*) FROM events") == 1
    assert count(feedback_db, "SELECT count(*) FROM processed_events") == 1
    assert count(feedback_db, "SELECT count(*) FROM dead_letters") == 0
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "message.retry" in log and "OperationalError" in log


@POSTGRESQL_ONLY
def test_a_row_locked_beyond_the_lock_timeout_is_retried_and_acts_once(
    settings, feedback_db, broker, start, tmp_path
):
    start(worker_environment(settings, feedback_db, PGOPTIONS="-c lock_timeout=300"))
    send(settings, TaskNames.EVENT_PUBLISHED, event_published("Before"))
    wait_for(lambda: count(feedback_db, "SELECT count(*) FROM events") == 1)

    engine = create_engine(feedback_db)
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM events FOR UPDATE"))
        send(settings, TaskNames.EVENT_PUBLISHED, event_published("After"))
        log_path = tmp_path / "worker.log"
        wait_for(lambda: log_path.read_text(errors="replace").count("message.retry") >= 2)
        time.sleep(POSTGRES_LOCK_SECONDS)
        holder.rollback()
    engine.dispose()

    wait_for(lambda: count(feedback_db, "SELECT title FROM events") == "After")
    assert count(feedback_db, "SELECT count(*) FROM processed_events") == 2
    assert count(feedback_db, "SELECT count(*) FROM dead_letters") == 0
    assert "LockNotAvailable" in log_path.read_text(errors="replace")


@POSTGRESQL_ONLY
def test_a_database_unreachable_past_its_time_outs_loses_no_event_and_each_acts_once(
    settings, feedback_db, broker, start, tmp_path
):
    """The worker reaches PostgreSQL through a proxy, which is stopped: its port closed and the
    worker's open connection cut, for longer than the connect and statement time-outs, while
    20 registrations and an erasure arrive."""
    server = make_url(feedback_db)
    proxy = Proxy(server.host or "127.0.0.1", server.port or 5432)
    proxy.start()
    try:
        start(worker_environment(settings, proxy.url(feedback_db), **POSTGRES_TIMEOUTS))
        send(settings, TaskNames.EVENT_PUBLISHED, event_published())
        send(settings, TaskNames.SESSION_PUBLISHED, session := session_published())
        wait_for(lambda: count(feedback_db, "SELECT count(*) FROM processed_events") == 2)

        proxy.stop()
        people = [registered(session, index) for index in range(20)]
        for message in people:
            send(settings, TaskNames.REGISTERED, message)
        leaving = people[0]["participant"]["registration_id"]
        send(settings, TaskNames.ERASED, erased(leaving))
        time.sleep(OUTAGE_SECONDS)
        acted_during_outage = count(feedback_db, "SELECT count(*) FROM processed_events") - 2
        proxy.start()
        wait_for(lambda: count(feedback_db, "SELECT count(*) FROM processed_events") == 23)
        time.sleep(1)  # a duplicate, had it acted, would have by now
    finally:
        proxy.stop()

    assert proxy.cut >= 1 and acted_during_outage == 0
    assert count(feedback_db, "SELECT count(*) FROM processed_events") == 23
    # Acted once each: one participant and one seat per registration, the seats counted once.
    assert count(feedback_db, "SELECT count(*) FROM participants") == 19
    assert count(feedback_db, "SELECT count(*) FROM attendance") == 19
    assert count(feedback_db, "SELECT attendees FROM sessions") == 19
    held = f"SELECT count(*) FROM participants WHERE registration_id = '{leaving}'"
    assert count(feedback_db, held) == 0
    assert count(feedback_db, "SELECT count(*) FROM erased_registrations") == 1
    assert count(feedback_db, "SELECT count(*) FROM dead_letters") == 0
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "message.retry" in log and "OperationalError" in log


def test_a_broken_message_and_one_that_keeps_failing_are_dead_letters_and_replay_acts_once(
    settings, feedback_db, feedback_app, broker, start
):
    client = feedback_app.test_client()
    start(worker_environment(settings, feedback_db))
    broken = {**event_published(), "surprise": True}
    send(settings, TaskNames.EVENT_PUBLISHED, broken)
    # A session before its event: not ready, retried, then set aside after the last attempt.
    session_task = send(settings, TaskNames.SESSION_PUBLISHED, session_published())

    rows = wait_for(lambda: len(dead_letters(client)) == 2 and dead_letters(client))
    by_task = {row["task_name"]: row for row in rows}
    contract = by_task[TaskNames.EVENT_PUBLISHED]
    assert contract["error"].startswith("contract:") and "surprise" in contract["error"]
    assert contract["attempts"] == 1 and contract["message"] == broken
    not_ready = by_task[TaskNames.SESSION_PUBLISHED]
    assert not_ready["task_id"] == session_task
    assert not_ready["attempts"] == MAX_ATTEMPTS and "NotReady" in not_ready["error"]
    assert dead_letters(client, task=TaskNames.SESSION_PUBLISHED) == [not_ready]
    assert client.get("/api/v1/dead-letters").status_code == 401
    assert client.post(f"/api/v1/dead-letters/{not_ready['id']}/replay").status_code == 401

    # The event arrives; an organiser replays the session twice: it acts once.
    send(settings, TaskNames.EVENT_PUBLISHED, event_published())
    wait_for(lambda: count(feedback_db, "SELECT count(*) FROM events") == 1)
    for _ in range(2):
        replayed = client.post(
            f"/api/v1/dead-letters/{not_ready['id']}/replay", headers=bearer(ORGANISER_TOKEN)
        )
        assert replayed.status_code == 202 and replayed.get_json()["replayed_at"]
    wait_for(lambda: count(feedback_db, "SELECT count(*) FROM sessions") == 1)
    wait_for(lambda: count(feedback_db, "SELECT count(*) FROM processed_events") == 2)
    time.sleep(1)
    assert count(feedback_db, "SELECT count(*) FROM sessions") == 1
    assert count(feedback_db, "SELECT count(*) FROM processed_events") == 2
    unknown = client.post("/api/v1/dead-letters/nope/replay", headers=bearer(ORGANISER_TOKEN))
    assert unknown.status_code == 404
    assert (
        client.get("/api/v1/dead-letters?task=", headers=bearer(ORGANISER_TOKEN)).status_code == 422
    )


@SQLITE_ONLY
def test_a_message_that_kills_its_worker_is_a_dead_letter_after_five_deliveries(
    settings, feedback_db, feedback_app, broker, start
):
    worker = start(worker_environment(settings, feedback_db), prefork=True)
    lock = SQLiteLock(feedback_db)  # holds the handler still while its process is killed
    killer = send(settings, TaskNames.EVENT_PUBLISHED, event_published("Killer"))
    tally = f"agora:deliveries:{killer}"
    kills = 0
    for delivery in range(1, MAX_ATTEMPTS + 1):
        wait_for(lambda d=delivery: int(broker.hget(tally, "unfinished") or 0) == d)
        os.kill(pool_process(worker.pid), signal.SIGKILL)
        kills += 1
    lock.release()
    send(settings, TaskNames.EVENT_PUBLISHED, event_published("Next"))

    client = feedback_app.test_client()
    rows = wait_for(lambda: dead_letters(client))
    wait_for(lambda: count(feedback_db, "SELECT count(*) FROM events") == 1)
    assert kills == MAX_ATTEMPTS
    assert [row["task_id"] for row in rows] == [killer]
    assert rows[0]["error"] == f"delivered {MAX_ATTEMPTS} times without finishing"
    assert rows[0]["attempts"] == MAX_ATTEMPTS + 1
    assert count(feedback_db, "SELECT title FROM events") == "Next"  # the queue moved on
    assert not broker.exists(tally)


def pool_process(parent: int) -> int:
    """The worker's one pool process (prefork, concurrency 1), once it is up."""

    def child() -> int:
        path = Path(f"/proc/{parent}/task/{parent}/children")
        pids = [int(pid) for pid in path.read_text().split()]
        return pids[0] if pids else 0

    return int(wait_for(child))
