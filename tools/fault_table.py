"""Email delivery under real faults, counted: what was lost and what was sent twice.

Each fault runs against real parts: an aiosmtpd server, the notifier's two Celery workers
(events on `notifier`, emails on `notifier.delivery`) as separate processes, Redis, and a
database. Registration events go to the `notifier` queue as the registration relay sends
them; every confirmation's Message-ID is known in advance, so the server's count of each
gives the lost ones (none arrived) and the doubles (more than one arrived).

- `smtp_down`: the SMTP server stopped (connections refused) for a while, then started again;
- `smtp_silent`: a server that accepts connections and never says a word, then a real one;
- `worker_kills`: both workers killed with SIGKILL twice during the burst, then restarted;
- `registration_kills`: the registrations sent to the registration service's API (gunicorn),
  its events published by its outbox relay (a process); the relay and both notifier workers
  killed with SIGKILL twice during the burst, then restarted;
- `database_unreachable`: the notifier's PostgreSQL database reached through a TCP proxy
  (`Proxy`) that is stopped, its port closed and every open connection cut, for longer than
  the connect and statement time-outs while registrations and an erasure arrive.

During the two SMTP outages a participant's erasure is sent too: it must be handled before
the server is back (the events worker never waits behind the mail server).

The tests (tests/notifier/test_faults.py) run each at a small scale and assert 0 lost;
`python -m tools.fault_table [--registrations N] [--outage S] [--postgres-url URL]` runs them
larger and prints the table. It uses fresh SQLite databases (PostgreSQL ones on the server at
`--postgres-url` when given) and Redis database 13 unless told otherwise; the database outage
needs PostgreSQL, the local server's unless `--postgres-url` names one, and is left out
without one.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import shutil
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

import redis
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from shared import contracts
from shared.config import ROOT
from shared.contracts import Queues, TaskNames
from shared.db import new_id, utcnow
from tools.bench import call, expect
from tools.notifier_bench import free_port, registered_message
from tools.run import relay as relay_command
from tools.run import web as web_command

FAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
LOCAL_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
SECRET_KEY = "fault-table-secret-key-0123456789abcdef"
ORGANISER_TOKEN = "fault-table-organiser-token-0123456789"
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


def launch_sweeper(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The notifier's sweeper, as `make run` starts it, sweeping every 10 s instead of 60."""
    command = [
        sys.executable, "-m", "flask", "--app", "services.notifier.app", "sweep",
        "--interval", "10",
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
        self.first_at: dict[str, float] = {}  # when each Message-ID first arrived (monotonic)
        self.silent_connections = 0
        self._controller: Controller | None = None
        self._silent: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._accepting = threading.Thread()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(envelope.original_content)
        key = str(headers["Message-ID"]).strip()
        with self._lock:
            self.counts[key] += 1
            self.first_at.setdefault(key, time.monotonic())
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


# --- a database out of reach ---------------------------------------------------------------------


class Proxy:
    """A TCP proxy on a fixed local port in front of `target` (a PostgreSQL server). `stop()`
    closes its port (connections refused) and cuts every open connection, as a network
    outage or a restarted server does; `start()` serves on the same port again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.cut = 0  # connections cut by stop(), in all
        self._listener: socket.socket | None = None
        self._accepting = threading.Thread()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def url(self, database_url: str) -> str:
        """`database_url` (on the target server) through the proxy."""
        proxied = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return proxied.render_as_string(hide_password=False)

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.close()
        self._accepting.join()
        with self._lock:
            cut = list(self._open)
        self.cut += len(cut) // 2  # a client's socket and its server's
        for sock in cut:
            self._shut(sock)  # the pumps see it and close both ends
        wait_until(lambda: not self._open, 10, "the proxy's connections to close")

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):  # one side gone: the connection is gone
            self._shut(sock)
            with self._lock:
                self._open.discard(sock)
            sock.close()

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


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
    facts: dict[str, int] = field(default_factory=dict)  # what the note says, for the tests


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
    return tally(rig, fault, len(events), expected_ids(events), note)


def tally(rig: Rig, fault: str, registrations: int, expected: set[str], note: str = "") -> Row:
    """The row of a fault: of the emails `expected` (Message-IDs), those the server never
    received and the extra copies it received."""
    counts = rig.server.counts
    lost = sum(1 for key in expected if counts[key] == 0)
    twice = sum(counts[key] - 1 for key in expected if counts[key] > 1)
    return Row(fault, registrations, len(expected), lost, twice, note)


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


def database_unreachable(rig: Rig, registrations: int, seconds: float, timeout: float) -> Row:
    """The notifier's PostgreSQL database out of reach for `seconds` (its port closed, every open
    connection cut) while registrations and an erasure arrive; then back. The workers and the
    sweeper connect through a `Proxy`, with 2 s connect and statement time-outs, which the
    outage outlasts."""
    server = make_url(rig.database_url)
    proxy = Proxy(server.host or "127.0.0.1", server.port or 5432)
    proxy.start()
    rig.environment.update(
        NOTIFIER_DATABASE_URL=proxy.url(rig.database_url),
        PGCONNECT_TIMEOUT="2",
        PGOPTIONS="-c statement_timeout=2000",
    )
    try:
        rig.start_workers()
        rig.workers.append(launch_sweeper(rig.worker_environment(), rig.work / "sweeper.log"))
        leaving = registered(-1)
        rig.send(TaskNames.REGISTERED, leaving)
        # Its email sent: the workers hold connections, which the outage cuts.
        wait_until(lambda: rig.sent() == 1, timeout, "the first email")
        proxy.stop()
        events = [registered(index) for index in range(registrations)]
        for event in events:
            rig.send(TaskNames.REGISTERED, event)
        registration_id = leaving["participant"]["registration_id"]
        rig.send(TaskNames.ERASED, erased(registration_id))
        time.sleep(seconds)
        acted_during = processed_events(rig) - 1
        proxy.start()
        back = time.monotonic()
        wait_until(lambda: processed_events(rig) == registrations + 2, timeout, "every event acted")
        acted_after = time.monotonic() - back
        wait_until(lambda: rig.sent() >= registrations, timeout, "every email")
        time.sleep(1.0)  # a late duplicate would arrive now
        rig.stop_workers()
    finally:
        proxy.stop()
    arrivals = sorted(rig.server.first_at.get(key, back) - back for key in expected_ids(events))
    late = sum(1 for delay in arrivals if delay > acted_after + 30)
    facts = {
        "cut": proxy.cut,
        "acted_during_outage": acted_during,
        "acted": processed_events(rig),
        "erased": int(rig.erased(registration_id)),
        "dead_letters": dead_letters(rig),
        "late_emails": late,
    }
    note = (
        f"{proxy.cut} open connection(s) cut; {acted_during} event(s) acted during it; "
        f"{facts['acted']} acted once each, the last {acted_after:.0f} s after it was back; "
        f"{facts['dead_letters']} dead letter(s); the last email {arrivals[-1]:.0f} s after, "
        f"{late} of them more than 30 s after the last event (re-queued by the sweeper)"
    )
    fault = f"the notifier's PostgreSQL unreachable for {seconds:.0f} s"
    return dataclasses.replace(count(rig, fault, events, note), facts=facts)


def processed_events(rig: Rig) -> int:
    from services.notifier.models import ProcessedEvent

    return int(rig.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)


def dead_letters(rig: Rig) -> int:
    from services.notifier.models import DeadLetter

    return int(rig.scalar(select(func.count()).select_from(DeadLetter)) or 0)


# --- the registration service --------------------------------------------------------------------


@dataclass
class Registration:
    """The registration service as `make run` starts it (tools/run.py): gunicorn serving its API
    and its outbox relay, each a process (group) of its own, on a database and Redis."""

    database_url: str
    redis_url: str
    work: Path
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": self.redis_url,
            "REGISTRATION_DATABASE_URL": self.database_url,
            "SECRET_KEY": SECRET_KEY,
            "ORGANISER_TOKEN": ORGANISER_TOKEN,
            "RATE_LIMITS_ENABLED": "false",  # one client sends everyone's registrations
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
        }

    def start(self, name: str) -> None:
        """Start `web` (gunicorn) or `relay` (`flask --app services.registration.app relay`)."""
        command = (
            web_command("registration", "127.0.0.1", self.port)
            if name == "web"
            else relay_command("registration")
        )
        with (self.work / f"registration-{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command, shell=True, env=self.environment(), cwd=ROOT, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its children: no shutdown of any kind."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes.clear()

    def healthy(self) -> bool:
        web = self.processes["web"]
        if web.poll() is not None:
            raise RuntimeError(f"gunicorn stopped; see {self.work / 'registration-web.log'}")
        try:
            return bool(call(self.port, "GET", "/healthz")[0] == 200)
        except OSError:
            return False

    def open_event(self) -> None:
        """An event open for registration, with one session without a seat limit."""
        now = datetime.now(UTC).replace(microsecond=0)
        starts = (now + timedelta(days=30)).replace(hour=8, minute=0, second=0)
        event = {
            "slug": EVENT["slug"],
            "title": EVENT["title"],
            "city": EVENT["city"],
            "timezone": EVENT["timezone"],
            "starts_on": starts.date().isoformat(),
            "ends_on": (starts + timedelta(days=2)).date().isoformat(),
            "languages": ["fr", "nl", "en"],
            "registration_opens_at": (now - timedelta(days=1)).isoformat(),
            "registration_closes_at": (now + timedelta(days=20)).isoformat(),
        }
        session = {
            **{key: SESSION[key] for key in ("code", "title", "kind", "theme")},
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "capacity": None,
        }
        for path, body in (("", event), (f"/{EVENT['slug']}/sessions", session)):
            status, answer = call(self.port, "POST", f"/api/v1/events{path}", body, ORGANISER_TOKEN)
            expect(status, answer, 201, f"POST /api/v1/events{path}")

    def register(self, index: int) -> str:
        """`POST /api/v1/events/{slug}/registrations` for participant `index`; their id."""
        body = {
            "name": f"Participant {index}",
            "email": f"participant{index}@example.org",
            "organisation": "City of Liège",
            "city": "Liège",
            "country": "BE",
            "role": "local_government",
            "language": ("fr", "nl", "en")[index % 3],
            "session_codes": [SESSION["code"]],
            "consent": True,
        }
        path = f"/api/v1/events/{EVENT['slug']}/registrations"
        status, created = call(self.port, "POST", path, body)
        return str(expect(status, created, 201, f"registration {index}")["id"])

    def confirmations(self, registration_ids: list[str]) -> set[str]:
        """The Message-ID of each registrant's confirmation, from the event their registration
        wrote to the outbox (a registration without one counts as lost under its own id)."""
        from services.notifier.emails import TEMPLATE_FOR_EVENT, message_id
        from services.registration.models import Outbox

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(Outbox.subject_id, Outbox.id).where(
                        Outbox.task_name == TaskNames.REGISTERED
                    )
                ).all()
        finally:
            engine.dispose()
        events = {str(subject): str(event_id) for subject, event_id in rows}
        template = TEMPLATE_FOR_EVENT[TaskNames.REGISTERED]
        return {
            message_id(f"{events[person]}:{template}", MAIL_FROM)
            if person in events
            else f"no event for {person}"
            for person in registration_ids
        }


class Burst(threading.Thread):
    """`count` registrations sent through the API over `seconds`, at an even pace, by four
    clients at once; the last fifth waits for `release` (so that what happens before it
    happens during the burst, however slow the machine). `accepted` holds the ids of those
    the service accepted, in order."""

    CLIENTS = 4

    def __init__(self, service: Registration, count: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.service, self.count, self.seconds = service, count, seconds
        self.release = threading.Event()
        self.accepted: list[str] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def run(self) -> None:
        started = time.monotonic()
        clients = [
            threading.Thread(target=self._client, args=(first, started))
            for first in range(self.CLIENTS)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join()

    def _client(self, first: int, started: float) -> None:
        for index in range(first, self.count, self.CLIENTS):
            time.sleep(max(0.0, started + index * self.seconds / self.count - time.monotonic()))
            if index >= self.count * 0.8:
                self.release.wait()
            try:
                registration_id = self.service.register(index)
            except Exception as error:
                self.errors.append(error)
                return
            with self._lock:
                self.accepted.append(registration_id)


def registration_kills(
    rig: Rig, registrations: int, timeout: float, burst_seconds: float = 30.0
) -> Row:
    """Registrations through the registration service's API, its outbox relay and both notifier
    workers killed with SIGKILL twice during the burst (after a fifth and after half of it,
    each time once the running workers had sent an email), then all restarted."""
    service = Registration(sibling_database(rig, "registration"), rig.redis_url, rig.work)
    service.start("web")
    service.start("relay")
    burst = Burst(service, registrations, burst_seconds)
    kills: list[tuple[int, int]] = []
    try:
        wait_until(service.healthy, 60, "the registration service")
        service.open_event()
        rig.start_workers()
        service.register(-1)  # the whole path is up: workers started, relay relaying
        wait_until(lambda: rig.server.received() >= 1, timeout, "the first confirmation")
        burst.start()
        for share in (0.2, 0.5):
            since = rig.server.received()
            wait_until(
                lambda s=share: len(burst.accepted) >= registrations * s or not burst.is_alive(),
                timeout,
                "the burst under way",
            )
            wait_until(lambda s=since: rig.server.received() > s, timeout, "an email")
            kills.append((len(burst.accepted), rig.server.received() - 1))
            service.kill("relay")
            rig.kill_workers()
            rig.restore_unacknowledged()
            rig.start_workers()
            service.start("relay")
        burst.release.set()
        burst.join()
        if burst.errors:
            raise burst.errors[0]
        expected = service.confirmations(burst.accepted)
        wait_until(
            lambda: sum(rig.server.counts[key] > 0 for key in expected) == len(expected),
            timeout,
            "every confirmation after the kills",
        )
        time.sleep(1.0)  # a late duplicate would arrive now
        rig.stop_workers()
    finally:
        burst.release.set()
        service.stop()
        redis.Redis.from_url(rig.redis_url).delete(Queues.FEEDBACK)  # nobody reads it here
    (first, sent_first), (second, sent_second) = kills
    note = (
        f"killed after registration {first} and {second} of {registrations} "
        f"({sent_first} and {sent_second} emails in), during a {burst_seconds:.0f} s burst"
    )
    fault = "registration relay and both notifier workers killed (SIGKILL) twice in the burst"
    facts = {"first_kill_after": first, "second_kill_after": second}
    return dataclasses.replace(tally(rig, fault, len(burst.accepted), expected, note), facts=facts)


def sibling_database(rig: Rig, service: str) -> str:
    """A fresh database for `service` on the rig's backend (beside its SQLite file, or on its
    PostgreSQL server)."""
    url = make_url(rig.database_url)
    if url.get_backend_name() == "postgresql":
        return fresh_database(service, rig.work, url.set(database=None).render_as_string(False))
    return fresh_database(service, rig.work)


def fresh_database(service: str, work: Path, postgres_url: str | None = None) -> str:
    """A new, migrated database for `service`: a SQLite file under `work`, or, given a
    PostgreSQL server's URL, `agora_faults_<service>` on it (dropped first)."""
    from shared.migrations import upgrade

    if postgres_url:
        name = f"agora_faults_{service}"
        admin = create_engine(f"{postgres_url.rstrip('/')}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"{postgres_url.rstrip('/')}/{name}"
    else:
        url = f"sqlite:///{work / f'{service}-{new_id()}.sqlite3'}"
    upgrade(service, url)
    return url


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


def fresh_rig(redis_url: str, work: Path, postgres_url: str | None = None) -> Rig:
    """A new database (SQLite, or PostgreSQL on the server at `postgres_url`), emptied queues
    and breaker, and an SMTP server that is up."""
    from services.notifier.breaker import KEY_PREFIX

    url = fresh_database("notifier", work, postgres_url)
    client = redis.Redis.from_url(redis_url)
    client.delete(*QUEUES, "unacked", "unacked_index")
    client.delete(*client.keys(f"{KEY_PREFIX}:*"), "unacked_mutex")
    server = Server(free_port())
    server.start()
    with create_engine(url).connect() as connection:
        connection.execute(text("SELECT 1"))
    return Rig(url, redis_url, server, work)


QUEUES = (Queues.NOTIFIER, Queues.NOTIFIER_DELIVERY, Queues.FEEDBACK, Queues.REGISTRATION)


def postgres_server(wanted: str | None) -> str | None:
    """The PostgreSQL server for the database outage: the one named, else the local one if it
    answers."""
    if wanted:
        return wanted
    url = make_url(LOCAL_POSTGRES_URL)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        answers = sock.connect_ex((url.host or "127.0.0.1", url.port or 5432)) == 0
    return LOCAL_POSTGRES_URL if answers else None


FAULTS = ("smtp_down", "smtp_silent", "worker_kills", "registration_kills", "database_unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds of each outage")
    parser.add_argument("--burst", type=float, default=30.0, help="seconds of the API burst")
    parser.add_argument("--redis-url", default=FAULT_REDIS_URL)
    parser.add_argument(
        "--postgres-url",
        help="a PostgreSQL server (postgresql+psycopg://user@host:port) for every database; "
        "SQLite files when not given",
    )
    parser.add_argument(
        "--only", choices=FAULTS, action="append", help="run this fault only (may be repeated)"
    )
    args = parser.parse_args()
    chosen = set(args.only or FAULTS)
    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    rows: list[Row] = []
    timings: list[str] = []

    def run(name: str, fault: Callable[[Rig], Row], postgres_url: str | None) -> None:
        if name not in chosen:
            return
        started = time.monotonic()
        rig = fresh_rig(args.redis_url, work, postgres_url)
        try:
            rows.append(fault(rig))
        finally:
            rig.stop_workers()
            rig.server.stop()
        timings.append(f"{name}: {time.monotonic() - started:.0f} s")

    n, outage_seconds = args.registrations, args.outage
    work = Path(tempfile.mkdtemp(prefix="fault-table-"))
    try:
        for silent in (False, True):
            run(
                "smtp_silent" if silent else "smtp_down",
                lambda rig, s=silent: outage(rig, n, outage_seconds, s, timeout=300),
                args.postgres_url,
            )
        run("worker_kills", lambda rig: worker_kills(rig, n, timeout=300), args.postgres_url)
        run(
            "registration_kills",
            lambda rig: registration_kills(rig, n, timeout=300, burst_seconds=args.burst),
            args.postgres_url,
        )
        server = postgres_server(args.postgres_url)
        if "database_unreachable" not in chosen:
            pass
        elif server is None:
            timings.append("database_unreachable: left out, no PostgreSQL server answers")
        else:
            run(
                "database_unreachable",
                lambda rig: database_unreachable(rig, n, outage_seconds, timeout=600),
                server,
            )
    except BaseException:
        print(f"fault table: the processes' logs are in {work}", file=sys.stderr)
        raise
    shutil.rmtree(work)
    databases = "PostgreSQL" if args.postgres_url else "SQLite (PostgreSQL for its outage)"
    print(table(rows))
    print(f"\nDatabases: {databases}. Time per fault: " + "; ".join(timings) + ".")
    if any(row.lost for row in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
