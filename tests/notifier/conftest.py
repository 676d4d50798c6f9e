"""Fixtures for the notifier: its database on both backends, a real SMTP server, messages."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from sqlalchemy import select

from services.notifier.breaker import KEY_PREFIX
from shared import contracts
from shared.config import Settings
from shared.contracts import Queues, TaskNames
from shared.db import new_id, utcnow
from tests.helpers import empty_tables, free_port, migrated_database, port_open

# Short delays so a retry happens within a test; the shape of the policy is the real one.
FAST_RETRIES = {
    "notifier_retry_base_seconds": 0.2,
    "notifier_retry_max_seconds": 1.0,
    "notifier_give_up_seconds": 3600.0,
    "notifier_smtp_timeout_seconds": 5.0,
}
FEEDBACK_URL = "http://feedback.test"


# --- a real SMTP server --------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    """aiosmtpd on a free port that records what it accepts; it can refuse, defer or be down."""

    port: int
    mode: str = "accept"  # or "refuse" (550), "defer" (451)
    smtputf8: bool = True  # offers SMTPUTF8 (aiosmtpd's default), which non-ASCII local parts need
    received: list[Received] = field(default_factory=list)
    controller: Controller | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.mode == "refuse":
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        if self.mode == "defer":
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 Message accepted"

    def start(self) -> None:
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.smtputf8
        )
        self.controller.start()

    def stop(self) -> None:
        """Down: the port refuses connections until start() again."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        deadline = time.monotonic() + 5
        while port_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} emails arrived"
            time.sleep(0.05)
        return list(self.received)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port())
    server.start()
    yield server
    server.stop()


# --- the notifier app ----------------------------------------------------------------------------


@pytest.fixture
def notifier_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    from services.notifier.models import Base

    url = migrated_database(backend, "notifier", tmp_path_factory.getbasetemp())
    empty_tables(url, Base.metadata)
    return url


QUEUES = (Queues.NOTIFIER, Queues.NOTIFIER_DELIVERY, Queues.REGISTRATION, Queues.FEEDBACK)


def empty_broker(client: redis_lib.Redis) -> None:
    """The queues emptied, and the SMTP circuit breaker closed (its state is in Redis)."""
    breaker = client.keys(f"{KEY_PREFIX}:*")
    client.delete(*QUEUES, *breaker)


@pytest.fixture
def broker(redis_url: str) -> Iterator[redis_lib.Redis]:
    """The test Redis, with the notifier's queues emptied and its circuit breaker closed."""
    client = redis_lib.Redis.from_url(redis_url)
    empty_broker(client)
    yield client
    empty_broker(client)


def queued(broker: redis_lib.Redis, queue: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in a queue: task name, task id and kwargs, oldest first."""
    messages = []
    for raw in reversed(broker.lrange(queue, 0, -1)):  # kombu LPUSHes, consumers BRPOP
        envelope = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        messages.append({"task": envelope["headers"]["task"], "id": envelope["headers"]["id"],
                         "kwargs": kwargs})  # fmt: skip
    return messages


def all_text(app: Any) -> str:
    """Every value of every row of every table of the notifier's database, as one string."""
    from services.notifier.extensions import db
    from services.notifier.models import Base

    dump = []
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                for value in row:
                    dump.append(value.decode("latin-1") if isinstance(value, bytes) else value)
    return json.dumps(dump, default=str, ensure_ascii=False)


@pytest.fixture
def notifier_settings(settings: Settings, notifier_db: str, smtp: SmtpServer) -> Settings:
    return dataclasses.replace(
        settings,
        notifier_database_url=notifier_db,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        feedback_public_url=FEEDBACK_URL,
        mail_from="Security, Democracy & Cities <no-reply@agora.test>",
    )


@pytest.fixture
def notifier_app(notifier_settings: Settings, broker: redis_lib.Redis) -> Iterator[Any]:
    from services.notifier.app import create_app

    app = create_app(
        {
            "TESTING": True,
            "SETTINGS": dataclasses.replace(notifier_settings, **FAST_RETRIES),
            "WTF_CSRF_ENABLED": False,
        }
    )
    yield app
    app.extensions["mailer"].close()


@pytest.fixture
def notifier_client(notifier_app: Any) -> Any:
    return notifier_app.test_client()


@pytest.fixture
def run_task(notifier_app: Any) -> Callable[..., Any]:
    """Run one of the notifier's tasks in this process, as the worker would."""

    def run(name: str, **kwargs: Any) -> Any:
        return notifier_app.extensions["tasks"][name](**kwargs)

    return run


# --- messages as the registration service sends them ----------------------------------------------

EVENT = {
    "slug": "sdc-brussels",
    "title": "Security, Democracy & Cities",
    "title_translations": {
        "fr": "Sécurité, démocratie et villes",
        "nl": "Veiligheid, democratie en steden",
    },
    "city": "Brussels",
    "city_translations": {"fr": "Bruxelles", "nl": "Brussel", "en": "Brussels"},
    "timezone": "Europe/Brussels",
    "starts_on": date(2024, 3, 20),
    "ends_on": date(2024, 3, 22),
    "feedback_closes_at": datetime(2024, 4, 5, 22, 0, tzinfo=UTC),
}
DRUGS = {
    "code": "T1",
    "title": "Organised crime and drug trafficking",
    "title_translations": {
        "fr": "Criminalité organisée et trafic de drogue",
        "nl": "Georganiseerde misdaad en drugshandel",
    },
    "kind": "thematic",
    "theme": "Drugs and organised crime",
    "theme_translations": {
        "fr": "Drogues et criminalité organisée",
        "nl": "Drugs en georganiseerde misdaad",
    },
    # 09:30-11:00 in Brussels (CET, UTC+1).
    "starts_at": datetime(2024, 3, 20, 8, 30, tzinfo=UTC),
    "ends_at": datetime(2024, 3, 20, 10, 0, tzinfo=UTC),
    "room": "Plenary hall",
    "room_translations": {"fr": "Salle plénière", "nl": "Plenaire zaal"},
    "language": "fr",
}
CRISIS_CENTRE = {
    "code": "FV1",
    "title": "Visit: the Regional Crisis Centre",
    "title_translations": {
        "fr": "Visite : le Centre régional de crise",
        "nl": "Bezoek: het Gewestelijk Crisiscentrum",
    },
    "kind": "field_visit",
    "theme": "Crises at local level",
    "starts_at": datetime(2024, 3, 21, 13, 0, tzinfo=UTC),
    "ends_at": datetime(2024, 3, 21, 15, 0, tzinfo=UTC),
    "room": "Meeting point: main hall",
    "language": "fr",
}


@dataclass
class Messages:
    """Builds contract-valid messages about one participant (dumped as the sender does)."""

    registration_id: str = field(default_factory=new_id)
    email: str = "ana.dupont@example.org"
    name: str = "Ana Dupont"
    language: str = "fr"
    counter: Any = field(default_factory=lambda: itertools.count(1))

    def participant(self) -> dict[str, Any]:
        return {
            "registration_id": self.registration_id,
            "email": self.email,
            "name": self.name,
            "language": self.language,
            "token_version": 1,
            "organisation": "Ville de Liège",
            "city": "Liège",
            "country": "BE",
            "role": "local_government",
        }

    def _dump(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        # Later messages happen later: the read model keeps the newest description.
        occurred = utcnow() + timedelta(milliseconds=next(self.counter))
        return contracts.dump(name, {"event_id": new_id(), "occurred_at": occurred, **body})

    def registered(
        self, confirmed: tuple[dict[str, Any], ...] = (DRUGS,), waitlisted: int | None = 4
    ) -> dict[str, Any]:
        seats = [
            {"session": s, "status": "confirmed", "waitlist_position": None} for s in confirmed
        ]
        if waitlisted:
            seats.append(
                {"session": CRISIS_CENTRE, "status": "waitlisted", "waitlist_position": waitlisted}
            )
        return self._dump(
            TaskNames.REGISTERED,
            {"event": EVENT, "participant": self.participant(), "seats": seats},
        )

    def seat(self, name: str, session: dict[str, Any] = CRISIS_CENTRE) -> dict[str, Any]:
        status = "waitlisted" if name == TaskNames.SEAT_WAITLISTED else "confirmed"
        position = 3 if status == "waitlisted" else None
        return self._dump(
            name,
            {
                "event": EVENT,
                "participant": self.participant(),
                "seat": {"session": session, "status": status, "waitlist_position": position},
            },
        )

    def cancelled(self, released: tuple[str, ...] = ("T1", "FV1")) -> dict[str, Any]:
        return self._dump(
            TaskNames.CANCELLED,
            {"event": EVENT, "participant": self.participant(), "released": list(released)},
        )

    def link_requested(self) -> dict[str, Any]:
        return self._dump(
            TaskNames.LINK_REQUESTED, {"event": EVENT, "participant": self.participant()}
        )

    def details_changed(self) -> dict[str, Any]:
        """The participant as they are now (change `email`, `language`... first)."""
        return self._dump(
            TaskNames.DETAILS_CHANGED, {"event": EVENT, "participant": self.participant()}
        )

    def feedback_invitation(self, session: dict[str, Any] = DRUGS) -> dict[str, Any]:
        return self._dump(
            TaskNames.FEEDBACK_INVITATION,
            {"registration_id": self.registration_id, "event": EVENT, "session": session},
        )

    def erased(self) -> dict[str, Any]:
        return self._dump(
            TaskNames.ERASED,
            {"registration_id": self.registration_id, "event_slug": EVENT["slug"]},
        )

    def export_requested(self, request_id: str = "r" * 32) -> dict[str, Any]:
        return self._dump(
            TaskNames.EXPORT_REQUESTED,
            {"registration_id": self.registration_id, "request_id": request_id},
        )

    def for_event(self, name: str) -> dict[str, Any]:
        """A message for any task the notifier consumes."""
        builders: dict[str, Callable[[], dict[str, Any]]] = {
            TaskNames.REGISTERED: self.registered,
            TaskNames.CANCELLED: self.cancelled,
            TaskNames.LINK_REQUESTED: self.link_requested,
            TaskNames.DETAILS_CHANGED: self.details_changed,
            TaskNames.FEEDBACK_INVITATION: self.feedback_invitation,
            TaskNames.ERASED: self.erased,
            TaskNames.EXPORT_REQUESTED: self.export_requested,
        }
        return builders[name]() if name in builders else self.seat(name)


@pytest.fixture
def ana() -> Messages:
    return Messages()
