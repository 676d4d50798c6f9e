"""SMTP for real: send a message, and sort failures into retry later or give up.

One connection per worker process is kept open between messages (a new TCP connection,
greeting and EHLO for every email would cost more than the email), and reopened when the
server has closed it. Opening it has its own short time-out: a server that is down or
silent is known within seconds (`Unreachable`, which the circuit breaker counts), while a
slow answer to a message in progress gets the longer send time-out. An address with a
non-ASCII local part goes only to a server that offers SMTPUTF8. With SMTP_HOST unset, mail
goes to the local mail catcher.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from services.notifier.breaker import Breaker, BreakerPolicy
from services.notifier.emails import needs_smtputf8, parse_mail_from, wire_address
from shared.config import Settings

# Servers drop idle clients after a few minutes (RFC 5321 asks for at least 5); reconnect sooner.
IDLE_SECONDS = 60.0
AUTHENTICATION_REQUIRED = 530
CONNECT_TIMEOUT_SECONDS = 5.0


class DeliveryError(Exception):
    """A delivery attempt failed; `permanent` says whether trying again can help."""

    permanent = False

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TemporaryFailure(DeliveryError):
    """The server is down, slow or says 4xx: try again later."""


class Unreachable(TemporaryFailure):
    """No SMTP session could be opened (refused, no greeting in time, dropped): the server is
    down or silent, whatever the message."""


class PutOff(TemporaryFailure):
    """The circuit breaker is open: no connection was tried; try again in `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the mail server is unreachable; trying again in {seconds:.0f} s")
        self.seconds = seconds


class PermanentFailure(DeliveryError):
    """The server refuses this message for good (5xx): record it, do not retry."""

    permanent = True


class NoSmtputf8(PermanentFailure):
    """The address needs SMTPUTF8 and the server does not offer it: no server change is coming
    for this message, so it fails at once, with the reason in the delivery log."""


NO_SMTPUTF8 = (
    "the mail server does not offer SMTPUTF8, which an address with non-ASCII characters "
    "before the @ needs: this address cannot be reached through it"
)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 20.0
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    mail_from: str = "Agora <no-reply@localhost>"
    # Where the circuit breaker keeps its state (the broker); None: no breaker.
    breaker_redis_url: str | None = None
    breaker: BreakerPolicy = BreakerPolicy()

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """The SMTP server of the settings; the local mail catcher when SMTP_HOST is unset."""
        timeouts = {
            "timeout": settings.notifier_smtp_timeout_seconds,
            "connect_timeout": settings.notifier_smtp_connect_timeout_seconds,
            "mail_from": settings.mail_from,
            "breaker_redis_url": settings.redis_url,
            "breaker": BreakerPolicy.from_settings(settings),
        }
        if settings.smtp_host is None:
            host, port = settings.notifier_mailcatcher_host, settings.notifier_mailcatcher_port
            return cls(host, port, **timeouts)
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            **timeouts,
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


# smtplib resets the session after these, so the connection stays usable (NoSmtputf8 comes
# before MAIL FROM).
_REFUSALS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    NoSmtputf8,
)


class Mailer:
    """Sends messages over one reused SMTP connection; thread-safe, one send at a time."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.breaker = (
            Breaker(config.breaker_redis_url, config.breaker) if config.breaker_redis_url else None
        )
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
        recipient = wire_address(to)
        options = ["SMTPUTF8", "BODY=8BITMIME"] if needs_smtputf8(recipient) else []
        fresh = False
        if self._smtp is None or time.monotonic() - self._last_used > IDLE_SECONDS:
            self._drop()
            self._smtp, fresh = self._connect(), True
            self._last_used = time.monotonic()
        if options and not self._smtp.has_extn("smtputf8"):
            raise NoSmtputf8(NO_SMTPUTF8)
        try:
            self._smtp.sendmail(self.config.sender, [recipient], message, options)
        except smtplib.SMTPServerDisconnected:
            self._drop(polite=False)
            if fresh:
                raise
            # The server closed our idle connection before reading a word: one fresh try.
            self._smtp = self._connect()
            self._smtp.sendmail(self.config.sender, [recipient], message, options)
        self._last_used = time.monotonic()

    def _connect(self) -> smtplib.SMTP:
        """A new session, unless the circuit breaker says the server is down (PutOff); the
        breaker learns whether it could be opened."""
        if self.breaker is None:
            return self._open()
        wait = self.breaker.wait()
        if wait > 0:
            raise PutOff(wait)
        try:
            smtp = self._open()
        except Unreachable:
            self.breaker.unreachable()
            raise
        self.breaker.reachable()
        return smtp

    def _open(self) -> smtplib.SMTP:
        """A ready session (greeted, EHLO, STARTTLS, login) within the connect time-out, then
        the send time-out for what follows; Unreachable when the server is down or silent."""
        config = self.config
        smtp = smtplib.SMTP(timeout=config.connect_timeout)
        try:
            code, greeting = smtp.connect(config.host, config.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
        except OSError as error:  # refused, no greeting in time, a greeting other than 220
            smtp.close()
            raise Unreachable(f"{type(error).__name__}: {error}") from error
        try:
            smtp.ehlo()
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password or "")
            if smtp.sock is not None:
                smtp.sock.settimeout(config.timeout)
        except (TimeoutError, ConnectionError, smtplib.SMTPServerDisconnected) as error:
            smtp.close()
            raise Unreachable(f"{type(error).__name__}: {error}") from error
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
