"""Settings read from the environment and validated once, at start."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_REDIS_PORT = 6390


class SettingsError(ValueError):
    """A setting has a value the project cannot run with; the message names the variable."""


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        scheme = urlparse(raw).scheme
        if not any(scheme == s or scheme.startswith(s + "+") for s in schemes):
            raise ValueError(
                f"must be a URL starting with one of {', '.join(schemes)}; got {raw!r}"
            )
        return raw

    return parse


def _database_url(raw: str) -> str:
    """An SQLAlchemy URL for SQLite or PostgreSQL; plain `postgresql://` / `postgres://` (as
    hosting platforms write them) get the installed driver, psycopg 3."""
    for plain in ("postgres://", "postgresql://"):
        if raw.startswith(plain):
            raw = "postgresql+psycopg://" + raw[len(plain) :]
    return _url("sqlite", "postgresql")(raw)


def _positive_number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a positive number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"must be a positive number, got {raw!r}")
    return value


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw


def _secret(raw: str) -> str:
    if len(raw) < 16:
        raise ValueError("must be at least 16 characters long")
    return raw


DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"
SECRET_KEY_MIN_LENGTH = 32


def _sqlite_default(service: str) -> str:
    return f"sqlite:///{ROOT / 'var' / f'{service}.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    registration_port: int = 8001
    feedback_port: int = 8002
    notifier_port: int = 8003
    bind_host: str = "127.0.0.1"
    redis_url: str = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    registration_database_url: str = _sqlite_default("registration")
    feedback_database_url: str = _sqlite_default("feedback")
    notifier_database_url: str = _sqlite_default("notifier")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Security, Democracy & Cities <no-reply@localhost>"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    # Only on a developer's machine: accepts the default or a short SECRET_KEY.
    development_mode: bool = False
    organiser_token: str | None = None
    public_base_url: str = "http://127.0.0.1:8001"
    feedback_public_url: str = "http://127.0.0.1:8002"
    notifier_public_url: str = "http://127.0.0.1:8003"
    rate_limits_enabled: bool = True
    feedback_invite_delay_seconds: int = 600
    max_request_bytes: int = 64 * 1024
    # The notifier's email delivery: retry back-off, SMTP time-out, the local mail catcher.
    notifier_retry_base_seconds: float = 30.0
    notifier_retry_max_seconds: float = 3600.0
    notifier_give_up_seconds: float = 12 * 3600.0
    notifier_smtp_timeout_seconds: float = 20.0
    notifier_smtp_connect_timeout_seconds: float = 5.0
    notifier_breaker_failures: int = 3
    notifier_breaker_cooldown_seconds: float = 30.0
    notifier_breaker_max_cooldown_seconds: float = 300.0
    notifier_mailcatcher_host: str = "127.0.0.1"
    notifier_mailcatcher_port: int = 1025
    # How long each service keeps its audit trail.
    audit_retention_days: int = 730

    @property
    def secure_cookies(self) -> bool:
        """Served over HTTPS: cookies get the Secure flag."""
        return self.public_base_url.startswith("https://")

    @property
    def redis_is_embedded(self) -> bool:
        return self.redis_url.endswith(f":{EMBEDDED_REDIS_PORT}/0")

    def database_url(self, service: str) -> str:
        return str(getattr(self, f"{service}_database_url"))


_PARSERS: dict[str, Callable[[str], Any]] = {
    "registration_port": _int_in(1, 65535),
    "feedback_port": _int_in(1, 65535),
    "notifier_port": _int_in(1, 65535),
    "bind_host": _text,
    "redis_url": _url("redis", "rediss", "unix", "memory"),
    "registration_database_url": _database_url,
    "feedback_database_url": _database_url,
    "notifier_database_url": _database_url,
    "smtp_host": _text,
    "smtp_port": _int_in(1, 65535),
    "smtp_user": _text,
    "smtp_password": str,
    "smtp_starttls": _bool,
    "mail_from": _text,
    "secret_key": _secret,
    "development_mode": _bool,
    "organiser_token": _secret,
    "public_base_url": _url("http", "https"),
    "feedback_public_url": _url("http", "https"),
    "notifier_public_url": _url("http", "https"),
    "rate_limits_enabled": _bool,
    "feedback_invite_delay_seconds": _int_in(0, 30 * 24 * 3600),
    "max_request_bytes": _int_in(1024, 100 * 1024 * 1024),
    "notifier_retry_base_seconds": _positive_number,
    "notifier_retry_max_seconds": _positive_number,
    "notifier_give_up_seconds": _positive_number,
    "notifier_smtp_timeout_seconds": _positive_number,
    "notifier_smtp_connect_timeout_seconds": _positive_number,
    "notifier_breaker_failures": _int_in(1, 100),
    "notifier_breaker_cooldown_seconds": _positive_number,
    "notifier_breaker_max_cooldown_seconds": _positive_number,
    "notifier_mailcatcher_host": _text,
    "notifier_mailcatcher_port": _int_in(1, 65535),
    "audit_retention_days": _int_in(1, 36500),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from environment variables (upper-case field names)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in fields(Settings):
        variable = field.name.upper()
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            values[field.name] = _PARSERS[field.name](raw)
        except ValueError as error:
            raise SettingsError(f"{variable}: {error}") from None
    return Settings(**values)


def check_secret_key(settings: Settings) -> None:
    """A service refuses to start with a guessable SECRET_KEY, which would let anyone forge
    participant links and organiser cookies, unless DEVELOPMENT_MODE says it is a developer's
    machine."""
    if settings.development_mode:
        return
    if settings.secret_key == DEVELOPMENT_SECRET_KEY:
        raise SettingsError(
            "SECRET_KEY: the development default cannot be used outside development; set a "
            f"random key of at least {SECRET_KEY_MIN_LENGTH} characters (or DEVELOPMENT_MODE=true "
            "on a developer's machine)"
        )
    if len(settings.secret_key) < SECRET_KEY_MIN_LENGTH:
        raise SettingsError(
            f"SECRET_KEY: must be at least {SECRET_KEY_MIN_LENGTH} characters long outside "
            "development (DEVELOPMENT_MODE=true)"
        )
