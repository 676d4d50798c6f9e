"""End to end through a real Celery worker, Redis and an SMTP server: register through the
registration API, relay its outbox, and the participant's email arrives, once."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select, update

from services.notifier.extensions import db as notifier_db_handle
from services.notifier.models import FAILED, RETRYING, SENT, DeadLetter, Message, Recipient
from services.notifier.models import Outbox as NotifierOutbox
from services.registration.extensions import db as registration_db_handle
from services.registration.models import Outbox as RegistrationOutbox
from shared.auth import ParticipantTokens
from shared.celery_app import make_celery
from shared.contracts import Queues, TaskNames
from shared.db import utcnow
from shared.outbox import relay_batch
from tests.helpers import SECRET_KEY, now, start_worker
from tests.notifier.conftest import FEEDBACK_URL, all_text, queued
from tools.fault_table import launch_worker

pytestmark = pytest.mark.slow
BRUSSELS = ZoneInfo("Europe/Brussels")
ANA = {"email": "ana.dupont@example.org", "name": "Ana Dupont", "language": "fr"}


def start_notifier_worker(
    settings: Any, smtp: Any, log_path: Path, queue: str = Queues.NOTIFIER
) -> subprocess.Popen[bytes]:
    """`celery -A services.notifier.worker worker -Q <queue>`, its log kept in a file."""
    environment = {
        "REDIS_URL": settings.redis_url,
        "NOTIFIER_DATABASE_URL": settings.notifier_database_url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "MAIL_FROM": settings.mail_from,
        "PUBLIC_BASE_URL": "http://testserver",
        "FEEDBACK_PUBLIC_URL": FEEDBACK_URL,
        "NOTIFIER_RETRY_BASE_SECONDS": "0.5",
        "NOTIFIER_RETRY_MAX_SECONDS": "1",
    }
    if queue == Queues.NOTIFIER_DELIVERY:
        return launch_worker(queue, environment, log_path)
    with log_path.open("wb") as log:
        return start_worker("notifier", environment, stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def notifier_worker(
    notifier_settings: Any, smtp: Any, broker: Any, tmp_path: Path
) -> Iterator[Any]:
    process = start_notifier_worker(notifier_settings, smtp, tmp_path / "worker.log")
    process.log_path = tmp_path / "worker.log"  # type: ignore[attr-defined]
    deliveries = start_notifier_worker(
        notifier_settings, smtp, tmp_path / "delivery.log", Queues.NOTIFIER_DELIVERY
    )
    yield process
    stop(process)
    stop(deliveries)


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def messages(notifier_app: Any) -> list[Message]:
    with notifier_app.app_context():
        query = select(Message).order_by(Message.created_at)
        return list(notifier_db_handle.session.scalars(query).all())


def relay_registration(registration_app: Any, settings: Any) -> int:
    """Run the registration service's outbox relay once, as its relay process would."""
    with registration_app.app_context():
        return relay_batch(registration_db_handle, RegistrationOutbox, make_celery("t", settings))


def worker_log(worker: Any) -> str:
    """What the events worker and the delivery worker beside it have logged."""
    logs = sorted(worker.log_path.parent.glob("*.log"))
    return "".join(path.read_text(errors="replace") for path in logs)


def send(settings: Any, name: str, kwargs: dict[str, Any]) -> None:
    make_celery("test-sender", settings).send_task(name, kwargs=kwargs, queue=Queues.NOTIFIER)


def test_a_registration_is_confirmed_by_email_in_french_with_its_link_and_calendar(
    registration_app,
    settings,
    registration_client,
    make_event,
    make_session,
    register,
    notifier_app,
    notifier_worker,
    smtp,
):
    event = make_event()
    starts = now().replace(hour=8, minute=30) + timedelta(days=40)
    session = make_session(
        event["slug"],
        code="T1",
        title="Organised crime and drug trafficking",
        title_translations={"fr": "Criminalité organisée et trafic de drogue"},
        starts_at=starts.isoformat(),
        ends_at=starts.replace(hour=10, minute=0).isoformat(),
    )
    created = register(event["slug"], ["T1"], **ANA)
    assert created.status_code == 201
    assert relay_registration(registration_app, settings) >= 1

    (received,) = smtp.wait_for(1)
    email = received.message
    assert received.rcpt_tos == [ANA["email"]]
    assert email["Subject"] == "Votre inscription à Security, Democracy & Cities"
    text = email.get_body(("plain",)).get_content()
    assert "Bonjour Ana Dupont," in text
    assert "Criminalité organisée et trafic de drogue" in text
    token = created.get_json()["manage_token"]
    assert f"http://testserver/manage/{token}" in text
    claim = ParticipantTokens(SECRET_KEY).verify(token)
    assert claim is not None and claim.registration_id == created.get_json()["id"]

    (attachment,) = list(email.iter_attachments())
    calendar = Calendar.from_ical(attachment.get_content())
    (vevent,) = calendar.walk("VEVENT")
    assert vevent["dtstart"].params["TZID"] == "Europe/Brussels"
    assert vevent.decoded("dtstart") == datetime.fromisoformat(session["starts_at"])
    assert vevent.decoded("dtstart").utcoffset() == starts.astimezone(BRUSSELS).utcoffset()
    assert vevent.decoded("dtend") == datetime.fromisoformat(session["ends_at"])

    wait_for(lambda: [m.status for m in messages(notifier_app)] == [SENT])
    log = worker_log(notifier_worker)
    assert "message.sent" in log
    assert ANA["email"] not in log and ANA["name"] not in log  # ids only in the logs


def test_the_same_task_delivered_twice_sends_one_email(
    settings, notifier_app, notifier_worker, smtp, ana
):
    message = ana.registered()
    send(settings, TaskNames.REGISTERED, message)
    send(settings, TaskNames.REGISTERED, message)
    smtp.wait_for(1)
    (row,) = messages(notifier_app)
    send(settings, "notifier.deliver", {"message_id": row.id})
    send(settings, "notifier.deliver", {"message_id": row.id})
    send(settings, TaskNames.LINK_REQUESTED, ana.link_requested())  # a marker, sent last
    smtp.wait_for(2)
    wait_for(lambda: {m.status for m in messages(notifier_app)} == {SENT})
    assert [r.message["Subject"] for r in smtp.received].count(row.subject) == 1
    assert len(messages(notifier_app)) == 2


def test_smtp_down_the_message_is_retrying_then_delivered_when_it_is_back(
    settings, notifier_app, notifier_worker, smtp, ana
):
    smtp.stop()
    send(settings, TaskNames.REGISTERED, ana.registered())
    wait_for(lambda: [m.status for m in messages(notifier_app)] == [RETRYING])
    assert "Connection refused" in messages(notifier_app)[0].last_error
    smtp.start()
    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == [ana.email]
    wait_for(lambda: [m.status for m in messages(notifier_app)] == [SENT])
    assert messages(notifier_app)[0].attempts >= 2
    time.sleep(1.5)  # later retries, had any been left queued, would have sent it again
    assert len(smtp.received) == 1


def test_a_recipient_refused_with_550_is_failed_and_not_retried(
    settings, notifier_app, notifier_worker, smtp, ana
):
    smtp.mode = "refuse"
    send(settings, TaskNames.REGISTERED, ana.registered())
    wait_for(lambda: [m.status for m in messages(notifier_app)] == [FAILED])
    smtp.mode = "accept"
    time.sleep(2)  # longer than any backoff here
    (row,) = messages(notifier_app)
    assert (row.status, row.attempts) == (FAILED, 1)
    assert smtp.received == []


def test_a_message_breaking_its_contract_is_a_dead_letter_and_the_worker_goes_on(
    settings, notifier_app, notifier_worker, smtp, ana
):
    send(settings, TaskNames.REGISTERED, {"registration_id": "x", "surprise": True})
    send(settings, TaskNames.LINK_REQUESTED, ana.link_requested())
    smtp.wait_for(1)

    def letters() -> list[DeadLetter]:
        with notifier_app.app_context():
            return list(notifier_db_handle.session.scalars(select(DeadLetter)).all())

    wait_for(lambda: len(letters()) == 1)
    assert letters()[0].error.startswith("contract: registration.registered")
    # The server accepts the email a moment before the delivery log records it as sent.
    wait_for(lambda: [m.status for m in messages(notifier_app)] == [SENT])
    assert notifier_worker.poll() is None


def test_erasure_through_the_registration_api_forgets_the_person_and_is_confirmed(
    registration_app,
    settings,
    registration_client,
    make_event,
    register,
    notifier_app,
    notifier_worker,
    smtp,
    broker,
):
    event = make_event()
    token = register(event["slug"], **ANA).get_json()["manage_token"]
    relay_registration(registration_app, settings)
    smtp.wait_for(1)
    erased = registration_client.post(
        "/api/v1/registrations/me/erase", headers={"Authorization": f"Bearer {token}"}
    )
    registration_id = erased.get_json()["erasure_id"]
    relay_registration(registration_app, settings)

    def forgotten() -> bool:
        with notifier_app.app_context():
            return notifier_db_handle.session.get(Recipient, registration_id) is None and not (
                notifier_db_handle.session.scalars(select(NotifierOutbox)).all() == []
            )

    wait_for(forgotten)
    assert messages(notifier_app) == []
    assert ANA["email"] not in all_text(notifier_app) and "Ana Dupont" not in all_text(notifier_app)
    with notifier_app.app_context():
        published = relay_batch(
            notifier_db_handle, NotifierOutbox, make_celery("notifier-relay", settings)
        )
    assert published == 1
    (confirmation,) = queued(broker, Queues.REGISTRATION)
    assert confirmation["task"] == TaskNames.ERASURE_CONFIRMED
    assert confirmation["kwargs"]["registration_id"] == registration_id
    assert confirmation["kwargs"]["service"] == "notifier"
    assert ANA["email"] not in worker_log(notifier_worker)


def test_a_worker_starting_up_sends_what_a_crashed_one_left_queued(
    notifier_settings, notifier_app, run_task, smtp, broker, tmp_path, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    broker.delete(Queues.NOTIFIER_DELIVERY)  # the delivery task was lost with the worker that died
    with notifier_db_handle.transaction() as session:
        session.execute(update(Message).values(next_attempt_at=utcnow() - timedelta(minutes=5)))
    process = start_notifier_worker(
        notifier_settings, smtp, tmp_path / "worker.log", Queues.NOTIFIER_DELIVERY
    )
    try:
        (received,) = smtp.wait_for(1)
    finally:
        stop(process)
    assert received.rcpt_tos == [ana.email]
