"""What tests share besides fixtures: the test servers and secrets, ports, fresh databases,
the clock and the organiser header."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shared.config import ROOT
from shared.migrations import upgrade

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER.startswith("gw"):  # parallel runs: each worker its own database, own queues
    REDIS_URL = f"{REDIS_URL.rsplit('/', 1)[0]}/{15 - int(_XDIST_WORKER[2:]) % 8}"
ORGANISER_TOKEN = "test-organiser-token-0123456789"
SECRET_KEY = "test-secret-key-0123456789abcdef"


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_available() -> bool:
    url = make_url(POSTGRES_URL)
    return port_open(url.host or "127.0.0.1", url.port or 5432)


def require_postgres() -> None:
    if not postgres_available():
        if IN_CI:
            pytest.fail("CI must test against PostgreSQL, but none answers at " + POSTGRES_URL)
        pytest.skip("PostgreSQL is not running here")


def create_postgres_database(name: str) -> str:
    """(Re)create an empty database on the PostgreSQL server and return its URL."""
    admin = create_engine(f"{POSTGRES_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{POSTGRES_URL}/{name}"


_migrated: dict[str, str] = {}


def migrated_database(backend: str, service: str, tmp_dir: Path) -> str:
    """A migrated database for this backend and service, created once per test run."""
    key = f"{backend}:{service}"
    if key not in _migrated:
        if backend == "postgresql":
            url = create_postgres_database(f"agora_test_{service}_{os.getpid()}")
        else:
            url = f"sqlite:///{tmp_dir / f'{service}.sqlite3'}"
        upgrade(service, url)
        _migrated[key] = url
    return _migrated[key]


def empty_tables(url: str, metadata: Any) -> None:
    engine = create_engine(url)
    names = [t.name for t in metadata.sorted_tables if t.name != "alembic_version"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(names):
                conn.execute(text(f"DELETE FROM {name}"))
    engine.dispose()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event_body(**overrides: Any) -> dict[str, Any]:
    """The body of `POST /api/v1/events` for a three-day event a month ahead, open now."""
    start = now() + timedelta(days=30)
    return {
        "slug": "sdc-2026",
        "title": "Security, Democracy & Cities",
        "city": "Brussels",
        "timezone": "Europe/Brussels",
        "starts_on": start.date().isoformat(),
        "ends_on": (start + timedelta(days=2)).date().isoformat(),
        "languages": ["fr", "nl", "en"],
        "registration_opens_at": (now() - timedelta(days=1)).isoformat(),
        "registration_closes_at": (now() + timedelta(days=20)).isoformat(),
        **overrides,
    }


def start_worker(service: str, environment: dict[str, str], **popen: Any) -> Any:
    """A real Celery worker of `service` on its queue, one process (solo pool), with the
    machine's environment plus `environment`; `popen` goes to subprocess.Popen (stdout=...)."""
    command = [
        sys.executable, "-m", "celery", "-A", f"services.{service}.worker", "worker",
        "-Q", service, "-P", "solo", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "-l", "info",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environment}
    return subprocess.Popen(command, env=env, cwd=ROOT, **popen)


def compile_catalogues() -> None:
    """Compile every catalogue whose .mo is missing or older than its .po (`make test` does this
    already; a bare `pytest` run then works too)."""
    directories = [ROOT / "shared" / "translations", *(ROOT / "services").glob("*/translations")]
    for po_path in (p for d in directories for p in d.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        handle, temporary = tempfile.mkstemp(dir=mo_path.parent)
        with os.fdopen(handle, "wb") as mo_file:
            write_mo(mo_file, catalog)
        os.replace(temporary, mo_path)


def at_once(*functions: Callable[[], object]) -> None:
    """Run the functions in threads of their own, released at the same moment; re-raise."""
    start = threading.Barrier(len(functions))
    errors: list[BaseException] = []

    def run(function: Callable[[], object]) -> None:
        try:
            start.wait()
            function()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(function,)) for function in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def queued_tasks(broker: Any, queue: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in a Redis queue (`broker`: a redis client), oldest first:
    each one's task name, task id and keyword arguments."""
    tasks = []
    for raw in reversed(broker.lrange(queue, 0, -1)):  # kombu LPUSHes, consumers BRPOP
        envelope = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        headers = envelope["headers"]
        tasks.append({"task": headers["task"], "id": headers["id"], "kwargs": kwargs})
    return tasks
