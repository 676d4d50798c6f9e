"""SMTP for real: send a message, and sort failures into retry later or give up.

One connection per worker process is kept open between messages (a new TCP connection,
greeting and EHLO for every email would cost more than the email), and reopened when the
server has closed it. With SMTP_HOST unset, mail goes to the local mail catcher.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from services.notifier.emails import parse_mail_from
from shared.config import Settings

# Servers drop idle clients after a few minutes (RFC 5321 asks for at least 5); reconnect sooner.
IDLE_SECONDS = 60.0
AUTHENTICATION_REQUIRED = 530


class DeliveryError(Exception):
    """A delivery attempt failed; `permanent` says whether trying again can help."""

    permanent = False

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TemporaryFailure(DeliveryError):
    """The server is down, slow or says 4xx: try again later."""


class PermanentFailure(DeliveryError):
    """The server refuses this message for good (5xx): record it, do not retry."""

    permanent = True


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 20.0
    mail_from: str = "Agora <no-reply@localhost>"

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """The SMTP server of the settings; the local mail catcher when SMTP_HOST is unset."""
        timeout = settings.notifier_smtp_timeout_seconds
        if settings.smtp_host is None:
            host, port = settings.notifier_mailcatcher_host, settings.notifier_mailcatcher_port
            return cls(host, port, timeout=timeout, mail_from=settings.mail_from)
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=timeout,
            mail_from=settings.mail_from,
        )

    @property
    def sender(self) -> str:
        """The envelope sender: the address part of MAIL_FROM."""
        return parse_mail_from(self.mail_from).addr_spec


def classify(error: BaseException) -> DeliveryError:
    """Temporary (retry later) or permanent (give up) for an exception raised while sending."""
    if isinstance(error, DeliveryError):
        return error
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in error.recipients.values()]
        texts = "; ".join(_text_of(text) for _code, text in error.recipients.values())
        reason = f"recipient refused: {' '.join(map(str, codes))} {texts}".strip()
        if codes and all(code >= 500 for code in codes):
            return PermanentFailure(reason, codes[0])
        return TemporaryFailure(reason, codes[0] if codes else None)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        # Wrong credentials are the operator's to fix; the messages wait for them meanwhile.
        return TemporaryFailure(f"authentication failed: {error.smtp_code}", error.smtp_code)
    if isinstance(error, smtplib.SMTPResponseException):
        code, text = error.smtp_code, _text_of(error.smtp_error)
        reason = f"{type(error).__name__}: {code} {text}"
        if isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
            return TemporaryFailure(reason, code)  # the server is unwell, not the message
        if code == AUTHENTICATION_REQUIRED:
            return TemporaryFailure(reason, code)  # SMTP_USER missing: the operator's to fix
        if 500 <= code < 600:
            return PermanentFailure(reason, code)
        return TemporaryFailure(reason, code)
    if isinstance(error, smtplib.SMTPException | OSError | ssl.SSLError | socket.timeout):
        # Refused or reset connections, timeouts, disconnects, STARTTLS trouble.
        return TemporaryFailure(f"{type(error).__name__}: {error}")
    return TemporaryFailure(f"{type(error).__name__}: {error}")


def _text_of(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())


# smtplib resets the session after these, so the connection stays usable.
_REFUSALS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


class Mailer:
    """Sends messages over one reused SMTP connection; thread-safe, one send at a time."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = threading.Lock()

    def send(self, message: bytes, to: str) -> None:
        """Send one message (MIME, as built) to one address; raise Temporary/PermanentFailure."""
        with self._lock:
            try:
                self._send(message, to)
            except Exception as error:
                failure = classify(error)
                if not isinstance(error, _REFUSALS):
                    self._drop(polite=False)  # after anything but a refusal the session is unknown
                raise failure from error

    def _send(self, message: bytes, to: str) -> None:
        fresh = False
        if self._smtp is None or time.monotonic() - self._last_used > IDLE_SECONDS:
            self._drop()
            self._smtp, fresh = self._connect(), True
        try:
            self._smtp.sendmail(self.config.sender, [to], message)
        except smtplib.SMTPServerDisconnected:
            self._drop(polite=False)
            if fresh:
                raise
            # The server closed our idle connection before reading a word: one fresh try.
            self._smtp = self._connect()
            self._smtp.sendmail(self.config.sender, [to], message)
        self._last_used = time.monotonic()

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        try:
            smtp.ehlo()
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _drop(self, polite: bool = True) -> None:
        """Close the connection; `polite` says QUIT first (not to a server that just failed)."""
        if self._smtp is None:
            return
        try:
            if polite:
                self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._smtp.close()
            self._smtp = None

    def close(self) -> None:
        with self._lock:
            self._drop()
