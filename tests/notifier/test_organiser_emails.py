"""Organisers' one-time links (sign-in, password reset, invitation): the registration service
asks for them by event; the notifier writes each in the organiser's language, through the same
delivery log and SMTP path as participants' emails, once."""

from __future__ import annotations

from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from services.notifier.extensions import db
from services.notifier.models import SENT, Message
from shared import contracts
from shared.contracts import OwnTasks, TaskNames
from shared.db import new_id, utcnow

URL = "http://testserver/organiser/link/abc123-one-time"

EXPECTED = {
    ("sign_in", "fr"): ("Votre lien pour vous connecter à Agora", "30\u00a0minutes"),
    ("sign_in", "nl"): ("Uw link om aan te melden bij Agora", "30 minuten"),
    ("sign_in", "en"): ("Your link to sign in to Agora", "30 minutes"),
    ("password_reset", "fr"): ("Choisissez un nouveau mot de passe pour Agora", "30\u00a0minutes"),
    ("password_reset", "nl"): ("Kies een nieuw wachtwoord voor Agora", "30 minuten"),
    ("password_reset", "en"): ("Choose a new password for Agora", "30 minutes"),
    ("invitation", "fr"): ("Votre compte d’organisateur sur Agora", "7\u00a0jours"),
    ("invitation", "nl"): ("Uw organisatoraccount op Agora", "7 dagen"),
    ("invitation", "en"): ("Your organiser account on Agora", "7 days"),
}


def organiser_email(kind: str = "sign_in", language: str = "fr", **overrides: Any) -> dict:
    occurred = utcnow()
    lifetime = timedelta(days=7) if kind == "invitation" else timedelta(minutes=30)
    body = {
        "event_id": new_id(),
        "occurred_at": occurred,
        "kind": kind,
        "account_id": new_id(),
        "email": "Oscar.Organiser@Example.org",
        "name": "Oscar Organiser",
        "language": language,
        "url": URL,
        "expires_at": occurred + lifetime,
        **overrides,
    }
    return contracts.dump(TaskNames.ORGANISER_EMAIL, body)


def rows(app: Any) -> list[Message]:
    with app.app_context():
        return list(db.session.scalars(select(Message)).all())


@pytest.mark.parametrize(("kind", "language"), sorted(EXPECTED))
def test_an_organiser_link_is_emailed_once_in_the_organisers_language(
    notifier_app, run_task, smtp, kind, language
):
    message = organiser_email(kind, language)
    consume = notifier_app.extensions["tasks"][TaskNames.ORGANISER_EMAIL]  # (`name` is a field)
    consume(**message)
    consume(**message)  # delivered twice by the broker
    (row,) = rows(notifier_app)
    assert (row.template, row.language, row.registration_id) == (
        f"organiser_{kind}",
        language,
        None,
    )
    assert row.to_address == "oscar.organiser@example.org"
    run_task(OwnTasks.DELIVER, message_id=row.id)
    run_task(OwnTasks.DELIVER, message_id=row.id)
    (received,) = smtp.received
    assert received.rcpt_tos == ["oscar.organiser@example.org"]
    email = received.message
    subject, validity = EXPECTED[(kind, language)]
    assert email["Subject"] == subject
    text = email.get_body(("plain",)).get_content()
    html = unescape(email.get_body(("html",)).get_content())
    for body in (text, html):
        assert URL in body
        assert "Oscar Organiser" in body
        assert validity in body
    assert f'<html lang="{language}">' in html
    assert email["Content-Language"] == language
    (sent,) = rows(notifier_app)
    assert (sent.status, sent.mime) == (SENT, b"")  # the link is not kept once sent
