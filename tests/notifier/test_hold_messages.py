"""The worker picks the held-place emails for the seat events that call for them, keys them by
template like every email, and sends them with their confirmation link."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.notifier.extensions import db
from services.notifier.models import Message
from shared.auth import EmailConfirmationTokens
from shared.contracts import OwnTasks, TaskNames
from tests.helpers import SECRET_KEY
from tests.notifier.conftest import Messages

DEADLINE = "2024-03-10T16:00:00+00:00"


def seat_message(ana: Messages, name: str, **seat: Any) -> dict[str, Any]:
    body = ana.for_event(name)
    body["seat"].update(seat)
    return body


def templates(app: Any) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Message.template).order_by(Message.created_at)))


def test_each_hold_event_queues_its_own_email(notifier_app, run_task, ana):
    run_task(
        TaskNames.SEAT_PROMOTED,
        **seat_message(ana, TaskNames.SEAT_PROMOTED, status="held", hold_expires_at=DEADLINE),
    )
    run_task(
        TaskNames.SEAT_PROMOTED,
        **seat_message(ana, TaskNames.SEAT_PROMOTED, reason="email_confirmed"),
    )
    expired = seat_message(
        ana, TaskNames.SEAT_RELEASED, status="held", hold_expires_at=DEADLINE, reason="hold_expired"
    )
    run_task(TaskNames.SEAT_RELEASED, **expired)
    run_task(TaskNames.SEAT_RELEASED, **expired)  # delivered twice: one email
    assert templates(notifier_app) == ["seat_held", "email_confirmed", "hold_expired"]


def test_the_held_place_email_arrives_with_a_working_confirmation_link(
    notifier_app, notifier_client, organiser, run_task, smtp, ana
):
    run_task(
        TaskNames.SEAT_CONFIRMED,
        **seat_message(ana, TaskNames.SEAT_CONFIRMED, status="held", hold_expires_at=DEADLINE),
    )
    with notifier_app.app_context():
        row = db.session.scalars(select(Message)).one()
    run_task(OwnTasks.DELIVER, message_id=row.id)
    (received,) = smtp.wait_for(1)
    text = received.message.get_body(("plain",)).get_content()
    (link,) = [line for line in text.splitlines() if "/confirm-email/" in line]
    claim = EmailConfirmationTokens(SECRET_KEY).verify(link.rsplit("/", 1)[1])
    assert claim is not None and claim.registration_id == ana.registration_id
    listed = notifier_client.get("/api/v1/messages?template=seat_held", headers=organiser)
    assert listed.status_code == 200 and len(listed.get_json()) == 1
