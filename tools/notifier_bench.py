"""Notifier benchmark: emails per second from the worker to a local SMTP sink, against a plain
smtplib loop over one connection, and how long a 700-person rush takes to be confirmed.

`run_bench(n)` is meant to be called from tools/bench.py (`make bench`); it starts its own
SMTP sink and Celery worker, uses a fresh database and a Redis queue nobody else reads, and
stops everything on the way out. Run alone: `python -m tools.notifier_bench [N]`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from shared import contracts
from shared.config import ROOT, Settings
from shared.contracts import OwnTasks, Queues, TaskNames
from shared.db import new_id, utcnow

BENCH_REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
TARGET_RATIO = 0.5
TARGET_RUSH_SECONDS = 30.0


class Sink:
    """An SMTP server that counts what it accepts and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0
        self.last_at = 0.0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.count += 1
            self.last_at = time.monotonic()
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> float:
        """Wait until `count` messages arrived; return when the last one did."""
        deadline = time.monotonic() + timeout
        while self.count < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count} of {count} emails arrived in {timeout:.0f} s")
            time.sleep(0.01)
        return self.last_at


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def registered_message(
    index: int, event: dict[str, Any], session: dict[str, Any]
) -> dict[str, Any]:
    """A `registration.registered` message for participant `index`, confirmed in `session`."""
    participant = {
        "registration_id": new_id(),
        "email": f"participant{index}@example.org",
        "name": f"Participant {index}",
        "language": ("fr", "nl", "en")[index % 3],
        "token_version": 1,
    }
    seat = {"session": session, "status": "confirmed", "waitlist_position": None}
    body = {"event": event, "participant": participant, "seats": [seat]}
    return contracts.dump(
        TaskNames.REGISTERED, {"event_id": new_id(), "occurred_at": utcnow(), **body}
    )


def _sample() -> tuple[dict[str, Any], dict[str, Any]]:
    event = {
        "slug": "bench",
        "title": "Security, Democracy & Cities",
        "city": "Brussels",
        "timezone": "Europe/Brussels",
        "starts_on": date(2024, 3, 20),
        "ends_on": date(2024, 3, 22),
        "feedback_closes_at": datetime(2024, 4, 5, tzinfo=UTC),
    }
    starts = datetime(2024, 3, 20, 8, 30, tzinfo=UTC)
    session = {
        "code": "FV1",
        "title": "Field visit",
        "kind": "field_visit",
        "theme": "Crises",
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
    }
    return event, session


@contextmanager
def _worker(env: dict[str, str], concurrency: int, pool: str, log_path: Path) -> Iterator[None]:
    command = [
        sys.executable, "-m", "celery", "-A", "services.notifier.worker", "worker",
        "-Q", f"{Queues.NOTIFIER},{Queues.NOTIFIER_DELIVERY}", "-P", pool, "-c", str(concurrency),
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)


def run_bench(
    n: int = 500,
    rush: int = 700,
    database_url: str | None = None,
    redis_url: str | None = None,
    concurrency: int = 2,
    pool: str = "prefork",
) -> dict[str, float]:
    """Measure and return the figures (also printed): rates in emails/s, times in seconds."""
    import redis

    from services.notifier import messages
    from services.notifier.app import create_app
    from services.notifier.extensions import db
    from services.notifier.models import Message
    from shared.celery_app import make_celery
    from shared.migrations import upgrade

    # aiosmtpd logs every command at INFO: that would measure the terminal, not the mail.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="notifier-bench-"))
    database_url = database_url or f"sqlite:///{work / 'notifier.sqlite3'}"
    redis_url = redis_url or BENCH_REDIS_URL
    redis.Redis.from_url(redis_url).delete(Queues.NOTIFIER, Queues.NOTIFIER_DELIVERY)
    upgrade("notifier", database_url)
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings = dataclasses.replace(
        Settings(),
        notifier_database_url=database_url,
        redis_url=redis_url,
        secret_key=SECRET_KEY,
        smtp_host="127.0.0.1",
        smtp_port=port,
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NOTIFIER_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
    }
    figures: dict[str, float] = {}
    try:
        app = create_app({"SETTINGS": settings})
        event, visit = _sample()
        links = app.extensions["links"]
        # The same emails for both: rendered and stored once, as the worker would find them.
        with app.app_context(), db.transaction() as session:
            ids = [
                messages.handle_event(
                    session,
                    TaskNames.REGISTERED,
                    contracts.load(TaskNames.REGISTERED, registered_message(i, event, visit)),
                    links,
                    settings.mail_from,
                )[0]
                for i in range(n)
            ]
            rows = [session.get(Message, message_id) for message_id in ids]
            emails = [(row.to_address, row.mime) for row in rows if row is not None]
            sender_address = app.extensions["mailer"].config.sender

        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            for to, email in emails:
                smtp.sendmail(sender_address, [to], email)
        figures["smtplib_per_second"] = n / (time.monotonic() - started)

        sender = make_celery("bench-sender", settings)
        with _worker(env, concurrency, pool, work / "worker.log"):
            warm = warm_up(event, visit, sender, sink)  # the worker is up
            base = sink.count
            started = time.monotonic()
            for message_id in ids:
                sender.send_task(
                    OwnTasks.DELIVER,
                    kwargs={"message_id": message_id},
                    queue=Queues.NOTIFIER_DELIVERY,
                )
            last = sink.wait_for(base + n, timeout=300)
            figures["worker_per_second"] = n / (last - started)
            figures["ratio"] = figures["worker_per_second"] / figures["smtplib_per_second"]

            base = sink.count
            started = time.monotonic()
            for i in range(rush):
                sender.send_task(
                    TaskNames.REGISTERED,
                    kwargs=registered_message(n + i, event, visit),
                    queue=Queues.NOTIFIER,
                )
            rush_end = time.monotonic()
            last = sink.wait_for(base + rush, timeout=600)
            figures["rush_events"] = float(rush)
            figures["rush_seconds_after_last_event"] = last - rush_end
            figures["rush_total_seconds"] = last - started
            figures["warm_up_seconds"] = warm
        app.extensions["mailer"].close()
    finally:
        controller.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(report(figures, n, f"{concurrency} x {pool}"))
    return figures


def warm_up(event: Any, session: Any, sender: Any, sink: Sink) -> float:
    """Send one confirmation through the worker and wait for it: the worker is then ready."""
    started = time.monotonic()
    before = sink.count
    sender.send_task(
        TaskNames.REGISTERED,
        kwargs=registered_message(10**6, event, session),
        queue=Queues.NOTIFIER,
    )
    sink.wait_for(before + 1, timeout=120)
    return time.monotonic() - started


def report(figures: dict[str, float], n: int, worker: str) -> str:
    ratio_ok = figures["ratio"] >= TARGET_RATIO
    rush_ok = figures["rush_seconds_after_last_event"] <= TARGET_RUSH_SECONDS
    return "\n".join(
        [
            f"notifier: {n} emails to a local aiosmtpd sink (worker: -c {worker})",
            f"  plain smtplib loop, one connection  {figures['smtplib_per_second']:8.0f} emails/s",
            f"  notifier worker (notifier.deliver)  {figures['worker_per_second']:8.0f} emails/s",
            f"  ratio                               {figures['ratio']:8.2f}"
            f"   (target >= {TARGET_RATIO}: {'ok' if ratio_ok else 'MISSED'})",
            f"  rush: {figures['rush_events']:.0f} registrations -> confirmations delivered "
            f"{figures['rush_seconds_after_last_event']:.1f} s after the last one "
            f"({figures['rush_total_seconds']:.1f} s in all; target <= {TARGET_RUSH_SECONDS:.0f} s:"
            f" {'ok' if rush_ok else 'MISSED'})",
        ]
    )


if __name__ == "__main__":
    run_bench(
        int(sys.argv[1]) if len(sys.argv) > 1 else 500,
        database_url=os.environ.get("BENCH_NOTIFIER_DATABASE_URL"),
        concurrency=int(os.environ.get("BENCH_NOTIFIER_CONCURRENCY", "2")),
        pool=os.environ.get("BENCH_NOTIFIER_POOL", "prefork"),
    )
