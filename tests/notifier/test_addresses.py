"""Internationalised addresses: the domain always in IDNA form, a non-ASCII local part over
SMTPUTF8 when the server offers it, and a clear, immediate failure when it does not; never a
garbled To header."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.notifier.emails import UnusableAddress, wire_address
from services.notifier.extensions import db
from services.notifier.mailer import Mailer, NoSmtputf8, SmtpConfig
from services.notifier.models import FAILED, SENT, Message
from shared.contracts import OwnTasks, TaskNames
from tests.notifier.conftest import Messages, SmtpServer

RAW = b"From: a@example.org\r\nTo: someone\r\nSubject: hi\r\n\r\nhello\r\n"


def without_smtputf8(server: SmtpServer) -> SmtpServer:
    server.stop()
    server.smtputf8 = False
    server.start()
    return server


def test_the_domain_goes_in_idna_form_and_the_local_part_as_it_is():
    assert wire_address("jose@exämple.org") == "jose@xn--exmple-cua.org"
    assert wire_address("jösé@exämple.org") == "jösé@xn--exmple-cua.org"
    assert wire_address("ana@example.org") == "ana@example.org"
    with pytest.raises(UnusableAddress):
        wire_address("ana@exä..org")


def test_an_internationalised_address_arrives_over_smtputf8(smtp):
    mailer = Mailer(SmtpConfig("127.0.0.1", smtp.port, timeout=2.0))
    mailer.send(RAW, "jösé@exämple.org")
    mailer.close()
    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == ["jösé@xn--exmple-cua.org"]


def test_without_smtputf8_a_non_ascii_local_part_fails_at_once_and_the_session_goes_on(smtp):
    without_smtputf8(smtp)
    mailer = Mailer(SmtpConfig("127.0.0.1", smtp.port, timeout=2.0))
    with pytest.raises(NoSmtputf8, match="SMTPUTF8"):
        mailer.send(RAW, "jösé@example.org")
    connection = mailer._smtp
    mailer.send(RAW, "jose@exämple.org")  # an IDNA domain needs nothing of the server
    assert mailer._smtp is connection
    mailer.close()
    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == ["jose@xn--exmple-cua.org"]


def delivered(notifier_app: Any, run_task: Any, email: str) -> Message:
    person = Messages(email=email)
    run_task(TaskNames.REGISTERED, **person.registered())
    with notifier_app.app_context():
        row = db.session.scalars(select(Message)).one()
    run_task(OwnTasks.DELIVER, message_id=row.id)
    with notifier_app.app_context():
        return db.session.scalars(select(Message)).one()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_confirmation_to_a_non_ascii_local_part_arrives_with_its_to_header_intact(
    notifier_app, run_task, smtp
):
    row = delivered(notifier_app, run_task, "jösé@exämple.org")
    assert row.status == SENT
    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == ["jösé@xn--exmple-cua.org"]
    assert "To: jösé@xn--exmple-cua.org\r\n".encode() in received.raw
    assert str(received.message["To"]) == "jösé@xn--exmple-cua.org"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_confirmation_to_an_idna_domain_is_sent_with_an_ascii_to_header(
    notifier_app, run_task, smtp
):
    row = delivered(notifier_app, run_task, "jose@exämple.org")
    assert row.status == SENT
    (received,) = smtp.wait_for(1)
    assert b"To: jose@xn--exmple-cua.org\r\n" in received.raw
    assert b"=?utf-8?" not in received.raw.split(b"\r\nTo: ", 1)[1].split(b"\r\n", 1)[0]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_non_ascii_local_part_without_smtputf8_is_failed_at_once_with_the_reason(
    notifier_app, run_task, smtp
):
    without_smtputf8(smtp)
    row = delivered(notifier_app, run_task, "jösé@example.org")
    assert (row.status, row.attempts) == (FAILED, 1)
    assert "SMTPUTF8" in (row.last_error or "")
    assert smtp.received == []
