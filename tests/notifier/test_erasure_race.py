"""The notifier's two worker processes: a registration and its erasure handled at the same
moment never leave the person behind (PostgreSQL, where the two really run side by side)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.notifier import messages
from services.notifier.extensions import db
from services.notifier.models import ErasedRegistration, Message, Recipient
from shared.contracts import TaskNames
from tests.helpers import at_once, require_postgres
from tests.notifier.conftest import Messages

pytestmark = pytest.mark.postgres
ROUNDS = 50


@pytest.fixture
def backend() -> str:
    require_postgres()
    return "postgresql"


def held_on(app, registration_id: str) -> int:
    with app.app_context():
        recipients = db.session.scalar(
            select(func.count())
            .select_from(Recipient)
            .where(Recipient.registration_id == registration_id)
        )
        emails = db.session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.registration_id == registration_id)
        )
        erased = db.session.get(ErasedRegistration, registration_id) is not None
    assert erased
    return int(recipients) + int(emails)


def test_a_registration_and_its_erasure_at_once_never_leave_the_person(notifier_app):
    links = notifier_app.extensions["links"]
    mail_from = notifier_app.extensions["mailer"].config.mail_from

    def consume(name: str, body: dict) -> list[str]:
        with notifier_app.app_context():
            return messages.consume(db, name, body, None, links, mail_from)

    def one_round() -> tuple[bool, bool]:
        """(the person survived, the registration went first and queued its email)."""
        person = Messages()
        registered, erased = person.registered(), person.erased()
        queued: list[list[str]] = []
        at_once(
            lambda: queued.append(consume(TaskNames.REGISTERED, registered)),
            lambda: consume(TaskNames.ERASED, erased),
        )
        return held_on(notifier_app, person.registration_id) > 0, bool(queued[0])

    rounds = [one_round() for _ in range(ROUNDS)]
    registration_first = sum(first for _, first in rounds)
    assert not any(survived for survived, _ in rounds), f"registration first {registration_first}"
