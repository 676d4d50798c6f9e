"""Email delivery under real faults, counted: what was lost and what was sent twice.

Each fault runs against real parts: an aiosmtpd server, the notifier's two Celery workers
(events on `notifier`, emails on `notifier.delivery`) as separate processes, Redis, and a
database. Registration events go to the `notifier` queue as the registration relay sends
them; every confirmation's Message-ID is known in advance, so the server's count of each
gives the lost ones (none arrived) and the doubles (more than one arrived).

- `smtp_down`: the SMTP server stopped (connections refused) for a while, then started again;
- `smtp_silent`: a server that accepts connections and never says a word, then a real one;
- `worker_kills`: both workers killed with SIGKILL twice during the burst, then restarted.

During the two outages a participant's erasure is sent too: it must be handled before the
server is back (the events worker never waits behind the mail server).

The tests (tests/notifier/test_faults.py) run each at a small scale and assert 0 lost;
`python -m tools.fault_table [--registrations N] [--outage S]` runs them larger and prints
the table. It uses a fresh SQLite database and Redis database 13 unless told otherwise.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, func, select, text, update

from shared import contracts
from shared.config import ROOT
from shared.contracts import Queues, TaskNames
from shared.db import new_id, utcnow
from tools.notifier_bench import free_port, registered_message

FAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET_KEY = "fault-table-secret-key-0123456789abcdef"
MAIL_FROM = "Agora <no-reply@agora.test>"
# Short delays so that a fault and its recovery fit in a test; the policy's shape is the real one.
FAST_ENVIRONMENT = {
    "NOTIFIER_RETRY_BASE_SECONDS": "0.5",
    "NOTIFIER_RETRY_MAX_SECONDS": "2",
    "NOTIFIER_SMTP_TIMEOUT_SECONDS": "5",
    "NOTIFIER_SMTP_CONNECT_TIMEOUT_SECONDS": "1",
    "NOTIFIER_BREAKER_COOLDOWN_SECONDS": "3",
    "NOTIFIER_BREAKER_MAX_COOLDOWN_SECONDS": "6",
}

# Starts one notifier worker consuming `queue`, its output going to `log`.
Launch = Callable[[str, dict[str, str], Path], "subprocess.Popen[bytes]"]


def launch_worker(queue: str, environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`celery -A services.notifier.worker worker -Q <queue>`, one process (solo pool)."""
    command = [
        sys.executable, "-m", "celery", "-A", "services.notifier.worker", "worker", "-Q", queue,
        "-n", f"{queue}@%h", "-P", "solo", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "-l", "info",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environment}
    with log.open("ab") as output:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output)


# --- the SMTP server: up, down or silent ---------------------------------------------------------


class Server:
    """aiosmtpd on a fixed port that counts each Message-ID it accepts; it can be stopped
    (refused connections) or replaced by a silent listener (accepted, never answered)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.counts: collections.Counter[str] = collections.Counter()
        self.silent_connections = 0
        self._controller: Controller | None = None
        self._silent: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._accepting = threading.Thread()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(envelope.original_content)
        with self._lock:
            self.counts[str(headers["Message-ID"]).strip()] += 1
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._silent is not None:
            self._silent.close()  # the accepting thread sees it within its time-out
            self._silent = None
            self._accepting.join()
            for held in self._held:
                held.close()
            self._held.clear()

    def go_silent(self) -> None:
        """Accept every connection and say nothing (a hung server, a black-holing firewall)."""
        self.stop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._silent = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._silent is listener:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            self._held.append(connection)
            self.silent_connections += 1

    def received(self) -> int:
        return sum(self.counts.values())


# --- the notifier, its workers and its database -------------------------------------------------


@dataclass
class Rig:
    """The notifier's two workers on one database and Redis, and the SMTP server they use."""

    database_url: str
    redis_url: str
    server: Server
    work: Path
    launch: Launch = launch_worker
    environment: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def worker_environment(self) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis_url,
            "NOTIFIER_DATABASE_URL": self.database_url,
            "SECRET_KEY": SECRET_KEY,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.server.port),
            "MAIL_FROM": MAIL_FROM,
            **FAST_ENVIRONMENT,
            **self.environment,
        }

    def start_workers(self) -> None:
        for queue in (Queues.NOTIFIER, Queues.NOTIFIER_DELIVERY):
            self.workers.append(self.launch(queue, self.worker_environment(), self.work / "w.log"))

    def kill_workers(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgement, whatever they were doing."""
        for worker in self.workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        self.workers.clear()

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.wait(timeout=30)
        self.workers.clear()

    def send(self, name: str, kwargs: dict[str, Any]) -> None:
        from shared.celery_app import make_celery
        from shared.config import Settings

        sender = make_celery("fault-sender", Settings(redis_url=self.redis_url))
        sender.send_task(name, kwargs=kwargs, queue=Queues.NOTIFIER)

    def scalar(self, query: Any) -> Any:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return connection.execute(query).scalar()
        finally:
            engine.dispose()

    def sent(self) -> int:
        from services.notifier.models import SENT, Message

        return int(self.scalar(select(func.count()).where(Message.status == SENT)) or 0)

    def erased(self, registration_id: str) -> bool:
        from services.notifier.models import ProcessedEvent, Recipient

        known = self.scalar(
            select(func.count()).where(Recipient.registration_id == registration_id)
        )
        erasures = self.scalar(
            select(func.count()).where(ProcessedEvent.task_name == TaskNames.ERASED)
        )
        return known == 0 and erasures == 1

    def restore_unacknowledged(self) -> None:
        """What the broker does for a killed worker's tasks once the visibility timeout (five
        minutes) has passed, and what the claim lease (five minutes) does for its email: done
        now, with no worker running, so that a test need not wait ten minutes."""
        from kombu import Connection

        with Connection(self.redis_url, transport_options={"visibility_timeout": 0}) as broker:
            broker.default_channel.qos.restore_visible(num=100_000)
        from services.notifier.models import Message

        engine = create_engine(self.database_url)
        with engine.begin() as connection:
            connection.execute(
                update(Message)
                .where(Message.claimed_until.is_not(None))
                .values(claimed_until=utcnow() - timedelta(seconds=1))
            )
            connection.execute(
                update(Message)
                .where(Message.status.in_(("queued", "retrying")))
                .values(next_attempt_at=utcnow() - timedelta(minutes=5))
            )
        engine.dispose()


@dataclass(frozen=True)
class Row:
    fault: str
    registrations: int
    emails: int
    lost: int
    twice: int
    note: str = ""


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- the registrations ---------------------------------------------------------------------------

EVENT = {
    "slug": "faults",
    "title": "Security, Democracy & Cities",
    "city": "Brussels",
    "timezone": "Europe/Brussels",
    "starts_on": date(2024, 3, 20),
    "ends_on": date(2024, 3, 22),
    "feedback_closes_at": datetime(2024, 4, 5, tzinfo=UTC),
}
SESSION = {
    "code": "FV1",
    "title": "Field visit",
    "kind": "field_visit",
    "theme": "Crises",
    "starts_at": datetime(2024, 3, 20, 8, 30, tzinfo=UTC),
    "ends_at": datetime(2024, 3, 20, 10, 30, tzinfo=UTC),
}


def registered(index: int) -> dict[str, Any]:
    return registered_message(index, EVENT, SESSION)


def erased(registration_id: str) -> dict[str, Any]:
    body = {"registration_id": registration_id, "event_slug": EVENT["slug"]}
    return contracts.dump(TaskNames.ERASED, {"event_id": new_id(), "occurred_at": utcnow(), **body})


def expected_ids(events: list[dict[str, Any]]) -> set[str]:
    """The Message-ID of each registration's confirmation (derived from its key)."""
    from services.notifier.emails import CONFIRMATION, message_id

    return {message_id(f"{event['event_id']}:{CONFIRMATION}", MAIL_FROM) for event in events}


def count(rig: Rig, fault: str, events: list[dict[str, Any]], note: str = "") -> Row:
    expected = expected_ids(events)
    counts = rig.server.counts
    lost = sum(1 for key in expected if counts[key] == 0)
    twice = sum(counts[key] - 1 for key in expected if counts[key] > 1)
    return Row(fault, len(events), len(expected), lost, twice, note)


# --- the faults ----------------------------------------------------------------------------------


def outage(rig: Rig, registrations: int, seconds: float, silent: bool, timeout: float) -> Row:
    """The server down (or silent) for `seconds` while registrations and an erasure arrive."""
    rig.start_workers()
    if silent:
        rig.server.go_silent()
    else:
        rig.server.stop()
    started = time.monotonic()
    leaving = registered(-1)
    rig.send(TaskNames.REGISTERED, leaving)
    events = [registered(index) for index in range(registrations)]
    for event in events:
        rig.send(TaskNames.REGISTERED, event)
    registration_id = leaving["participant"]["registration_id"]
    rig.send(TaskNames.ERASED, erased(registration_id))
    wait_until(lambda: rig.erased(registration_id), seconds, "the erasure during the outage")
    erased_after = time.monotonic() - started
    time.sleep(max(0.0, seconds - erased_after))
    rig.server.stop()
    rig.server.start()
    wait_until(lambda: rig.sent() >= registrations, timeout, "every email after the outage")
    time.sleep(1.0)  # a late duplicate would arrive now
    rig.stop_workers()
    kind = "silent (accepts, never answers)" if silent else "stopped (connections refused)"
    note = f"erasure handled {erased_after:.1f} s into the outage"
    if silent:
        note += f"; {rig.server.silent_connections} connection(s) tried in {seconds:.0f} s"
    return count(rig, f"SMTP server {kind} for {seconds:.0f} s", events, note)


def worker_kills(rig: Rig, registrations: int, timeout: float) -> Row:
    """Both workers killed with SIGKILL twice during a burst of registrations."""
    rig.start_workers()
    events = [registered(index) for index in range(registrations)]
    for event in events:
        rig.send(TaskNames.REGISTERED, event)
    for share in (0.25, 0.6):
        target = int(registrations * share)
        wait_until(lambda t=target: rig.server.received() >= t, timeout, "the burst under way")
        rig.kill_workers()
        rig.restore_unacknowledged()
        rig.start_workers()
    wait_until(lambda: rig.sent() >= registrations, timeout, "every email after the kills")
    time.sleep(1.0)
    rig.stop_workers()
    return count(rig, "both notifier workers killed (SIGKILL) twice in the burst", events)


# --- the table -----------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    header = ("fault injected", "registrations", "emails", "lost", "sent twice")
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        fault = f"{row.fault} ({row.note})" if row.note else row.fault
        cells = (fault, row.registrations, row.emails, row.lost, row.twice)
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def fresh_rig(redis_url: str, work: Path) -> Rig:
    """A new SQLite database, emptied queues and breaker, and an SMTP server that is up."""
    import redis

    from services.notifier.breaker import KEY_PREFIX
    from shared.migrations import upgrade

    database = work / f"notifier-{new_id()}.sqlite3"
    url = f"sqlite:///{database}"
    upgrade("notifier", url)
    client = redis.Redis.from_url(redis_url)
    client.delete(Queues.NOTIFIER, Queues.NOTIFIER_DELIVERY, "unacked", "unacked_index")
    client.delete(*client.keys(f"{KEY_PREFIX}:*"), "unacked_mutex")
    server = Server(free_port())
    server.start()
    with create_engine(url).connect() as connection:
        connection.execute(text("SELECT 1"))
    return Rig(url, redis_url, server, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds of each outage")
    parser.add_argument("--redis-url", default=FAULT_REDIS_URL)
    args = parser.parse_args()
    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fault-table-") as folder:
        work = Path(folder)
        for silent in (False, True):
            rig = fresh_rig(args.redis_url, work)
            try:
                rows.append(outage(rig, args.registrations, args.outage, silent, timeout=300))
            finally:
                rig.stop_workers()
                rig.server.stop()
        rig = fresh_rig(args.redis_url, work)
        try:
            rows.append(worker_kills(rig, args.registrations, timeout=300))
        finally:
            rig.stop_workers()
            rig.server.stop()
    print(table(rows))
    if any(row.lost for row in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
