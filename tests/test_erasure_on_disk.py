"""Erasure erases: after it, no file under var/ (databases, their WAL, the broker's append-only
file) and no log holds the person's name or address, in any form they were written.

The end-to-end test runs everything `make run` starts (SQLite, the embedded Redis with its
append-only file, the mail catcher): a person registers, receives their emails, rates a session
and is erased; then every byte on disk is searched.
"""

from __future__ import annotations

import base64
import logging
import shlex
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shared.db import Database, forget_deleted_rows, make_engine, new_id
from tests.browser.stack import Stack, running_stack
from tests.helpers import POSTGRES_URL, bearer, free_port, now, port_open
from tools.run import embedded_redis

SLUG = "erasure-on-disk"
WAIT_SECONDS = 120


# --- what the person leaves behind, and where ----------------------------------------------------


def base64_forms(needle: bytes) -> list[bytes]:
    """The needle as it reads inside base64 text, whatever its offset there (0, 1 or 2 bytes)."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + needle)
        forms.append(encoded[4 if offset else 0 : (offset + len(needle)) // 3 * 4])
    return forms


def traces(name: str, email: str, marker: str) -> list[bytes]:
    """Every way the person can be written: as text (UTF-8), in JSON, in an email's encodings."""
    texts = [email, name, name.split()[-1], marker]
    raw = [value.encode() for value in texts]
    return raw + [form for value in raw for form in base64_forms(value)]


def found_in(folder: Path, needles: list[bytes]) -> dict[str, list[bytes]]:
    """The files under `folder` holding any of the needles, and which."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [needle for needle in needles if needle in data]
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found


# --- the services, as `make run` starts them ---------------------------------------------------


@pytest.fixture
def embedded_broker(tmp_path: Path) -> Iterator[str]:
    """The embedded Redis exactly as `make run` starts it (append-only file in var/redis), on a
    port of its own so that a running `make run` is no obstacle."""
    (tmp_path / "var").mkdir()
    command = shlex.split(embedded_redis(tmp_path / "var"))
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        assert time.monotonic() < deadline, "the embedded redis-server did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def stack(tmp_path: Path, embedded_broker: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("FEEDBACK_INVITE_DELAY_SECONDS", "0")  # invited as soon as it is over
    with running_stack(tmp_path, embedded_broker) as running:
        yield running


def wait_for(what: str, check, timeout: float = WAIT_SECONDS, stack: Stack | None = None):
    deadline = time.monotonic() + timeout
    while True:
        if stack is not None:
            stack.check_alive()
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.5)


def ok(answer: httpx.Response) -> httpx.Response:
    assert answer.is_success, f"{answer.request.method} {answer.request.url}: {answer.text}"
    return answer


def sent_templates(stack: Stack, email: str) -> set[str]:
    with stack.api("notifier") as api:
        rows = ok(api.get("/api/v1/messages", params={"to": email})).json()
    return {row["template"] for row in rows if row["status"] == "sent"}


def a_session_under_way(stack: Stack) -> str:
    """An event on now and a session that has started (created, then moved into the past)."""
    today = now().date()
    with stack.api() as api:
        ok(
            api.post(
                "/api/v1/events",
                json={
                    "slug": SLUG,
                    "title": "Security, Democracy & Cities",
                    "city": "Brussels",
                    "timezone": "Europe/Brussels",
                    "starts_on": (today - timedelta(days=1)).isoformat(),
                    "ends_on": (today + timedelta(days=2)).isoformat(),
                    "languages": ["fr", "nl", "en"],
                    "registration_opens_at": (now() - timedelta(days=2)).isoformat(),
                    "registration_closes_at": (now() + timedelta(days=1)).isoformat(),
                },
            )
        )
        later = now() + timedelta(days=1)
        ok(
            api.post(
                f"/api/v1/events/{SLUG}/sessions",
                json={
                    "code": "E1",
                    "title": "Night-time economy and safety",
                    "kind": "thematic",
                    "theme": "Public spaces",
                    "starts_at": later.isoformat(),
                    "ends_at": (later + timedelta(hours=1)).isoformat(),
                    "room": "Room Horta",
                    "capacity": 30,
                    "speakers": ["A. Speaker"],
                    "language": "en",
                },
            )
        )
    return "E1"


def over(stack: Stack, code: str) -> None:
    with stack.api() as api:
        ok(
            api.patch(
                f"/api/v1/events/{SLUG}/sessions/{code}",
                json={
                    "starts_at": (now() - timedelta(hours=2)).isoformat(),
                    "ends_at": (now() - timedelta(hours=1)).isoformat(),
                },
            )
        )


@pytest.mark.slow
def test_an_erased_person_is_nowhere_on_disk(stack: Stack, tmp_path: Path, embedded_broker: str):
    marker = new_id()[:12]
    name, email = f"Zéphyrine Quaglioni{marker}", f"zephyrine.{marker}@example.org"
    code = a_session_under_way(stack)
    with httpx.Client(base_url=stack.registration) as client:
        answer = client.post(
            f"/api/v1/events/{SLUG}/registrations",
            json={
                "name": name,
                "email": email,
                "organisation": "Ville de Liège",
                "city": "Liège",
                "country": "BE",
                "role": "local_government",
                "language": "fr",
                "session_codes": [code],
                "consent": True,
            },
        )
    token = ok(answer).json()["manage_token"]
    over(stack, code)
    wait_for(
        "the confirmation", lambda: "confirmation" in sent_templates(stack, email), stack=stack
    )

    rate = f"{stack.feedback}/api/v1/events/{SLUG}/sessions/{code}/feedback"
    body = {"rating": 5, "comment": f"Signed {name}, {email}: very useful."}
    wait_for(
        "the rating",
        lambda: httpx.post(rate, json=body, headers=bearer(token)).status_code == 201,
        stack=stack,
    )
    wait_for("the invitation", lambda: len(sent_templates(stack, email)) >= 2, stack=stack)

    needles = traces(name, email, marker)
    assert found_in(tmp_path, needles), "the person should be on disk before the erasure"

    with httpx.Client(base_url=stack.registration) as client:
        erasure = ok(client.post("/api/v1/registrations/me/erase", headers=bearer(token))).json()
        wait_for(
            "the erasure everywhere",
            lambda: ok(client.get(f"/api/v1/erasures/{erasure['erasure_id']}")).json()[
                "completed_at"
            ],
            stack=stack,
        )
    # The broker's rewrite and the checkpoints run as each service commits: give them a moment.
    broker = redis.Redis.from_url(embedded_broker)
    deadline = time.monotonic() + 30
    while True:
        persistence = broker.info("persistence")
        rewriting = persistence["aof_rewrite_in_progress"] or persistence["aof_rewrite_scheduled"]
        left = found_in(tmp_path, needles)
        if not (rewriting or left) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"files still holding the person after the erasure: {left}"


# --- below the services ------------------------------------------------------------------------


def test_a_failing_insert_logs_no_value(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """The error (raised, then logged by a worker or a web process) names no person: no bound
    parameter, and not PostgreSQL's DETAIL quoting the duplicate key."""
    url = f"sqlite:///{tmp_path / 'people.sqlite3'}"
    if backend == "postgresql":
        url = f"{POSTGRES_URL}/postgres"
    engine = make_engine(url)
    person = {"email": "-".join(["zoe", "secret@example.org"])}  # not in the traceback's source
    insert = text("INSERT INTO people VALUES (:email)")
    with engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE people (email TEXT PRIMARY KEY)"))
        connection.execute(insert, person)
        with pytest.raises(IntegrityError) as raised:
            connection.execute(insert, person)
    engine.dispose()
    logging.getLogger("test").exception("insert failed", exc_info=raised.value)
    assert "zoe-secret" not in str(raised.value)
    assert "zoe-secret" not in caplog.text
    assert "unique" in caplog.text.lower()  # the error itself is still told


def test_an_erasure_leaves_no_old_page_in_the_wal(tmp_path: Path):
    """secure_delete clears the database file; the WAL is checkpointed and emptied on commit."""
    path = tmp_path / "people.sqlite3"
    database = Database()
    database.configure(f"sqlite:///{path}")
    # Another process's connection: while it is open, closing ours leaves the WAL in place.
    other = sqlite3.connect(path)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("SELECT count(*) FROM sqlite_master").fetchall()
    with database.transaction() as session:
        session.execute(text("CREATE TABLE people (email TEXT)"))
        session.execute(text("INSERT INTO people VALUES ('zoe.secret@example.org')"))
    wal = Path(f"{path}-wal")
    assert b"zoe.secret" in wal.read_bytes() + path.read_bytes()

    with database.transaction() as session:
        session.execute(text("DELETE FROM people"))
        forget_deleted_rows(session)
    assert wal.stat().st_size == 0
    assert b"zoe.secret" not in path.read_bytes()
    other.close()
