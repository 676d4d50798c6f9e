"""The SMTP client against real servers: login, STARTTLS refused, timeouts, reconnection, and
how each failure is sorted (retry later, or give up)."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.notifier.mailer import (
    Mailer,
    PermanentFailure,
    SmtpConfig,
    TemporaryFailure,
    classify,
)
from tests.helpers import free_port
from tests.notifier.conftest import SmtpServer

RAW = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


def config(port: int, **overrides: Any) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=port, timeout=2.0, **overrides)


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"b@x.org": (550, b"5.1.1 no such user")}), True),
        (smtplib.SMTPRecipientsRefused({"b@x.org": (452, b"4.2.2 mailbox full")}), False),
        (smtplib.SMTPDataError(554, b"5.7.1 rejected as spam"), True),
        (smtplib.SMTPDataError(451, b"4.3.0 try later"), False),
        (smtplib.SMTPSenderRefused(553, b"5.7.1 not allowed", "a@x.org"), True),
        (smtplib.SMTPConnectError(554, b"no service"), False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), False),
        (ConnectionRefusedError(111, "Connection refused"), False),
        (TimeoutError("timed out"), False),
    ],
)
def test_failures_are_sorted_into_temporary_and_permanent(error, permanent):
    failure = classify(error)
    assert failure.permanent is permanent
    assert isinstance(failure, PermanentFailure if permanent else TemporaryFailure)


@pytest.fixture
def auth_server() -> Iterator[tuple[SmtpServer, int]]:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"u", b"secret")
        return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

    handler, port = SmtpServer(port=0), free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield handler, port
    controller.stop()


# Plain-text AUTH on localhost is what this test is about; aiosmtpd warns at each connection.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_the_mailer_logs_in_when_a_user_is_configured(auth_server):
    handler, port = auth_server
    mailer = Mailer(config(port, user="u", password="secret"))
    mailer.send(RAW, "b@example.org")
    mailer.close()
    assert [r.rcpt_tos for r in handler.received] == [["b@example.org"]]
    refused = Mailer(config(port, user="u", password="wrong"))
    with pytest.raises(TemporaryFailure, match="authentication failed: 535"):
        refused.send(RAW, "b@example.org")
    refused.close()
    anonymous = Mailer(config(port))
    with pytest.raises(TemporaryFailure, match="530"):
        anonymous.send(RAW, "b@example.org")  # the server wants AUTH first: ours to fix
    anonymous.close()
    assert len(handler.received) == 1


def test_starttls_configured_but_not_offered_sends_nothing_in_clear(smtp):
    mailer = Mailer(config(smtp.port, starttls=True))
    with pytest.raises(TemporaryFailure, match="STARTTLS"):
        mailer.send(RAW, "b@example.org")
    mailer.close()
    assert smtp.received == []


def test_a_server_that_never_answers_times_out_as_a_temporary_failure():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections are accepted by the kernel; no greeting ever comes
        mailer = Mailer(SmtpConfig("127.0.0.1", silent.getsockname()[1], timeout=0.5))
        with pytest.raises(TemporaryFailure, match="timed out|TimeoutError"):
            mailer.send(RAW, "b@example.org")
        mailer.close()


def test_one_connection_serves_many_messages_and_is_reopened_after_the_server_drops_it(smtp):
    mailer = Mailer(config(smtp.port))
    for _ in range(3):
        mailer.send(RAW, "b@example.org")
    first_connection = mailer._smtp
    smtp.stop()
    smtp.start()  # the restart closed our idle connection
    mailer.send(RAW, "b@example.org")
    assert mailer._smtp is not first_connection
    mailer.close()
    assert len(smtp.wait_for(4)) == 4
