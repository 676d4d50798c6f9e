"""Settings validated at start (a bad value names its variable) and the per-client rate limits."""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
import uuid
from typing import Any

import pytest

from shared.config import Settings, SettingsError, load_settings
from tests.helpers import free_port

# --- settings ---------------------------------------------------------------------------------

BAD_VALUES = {
    "REGISTRATION_PORT": "abc",
    "FEEDBACK_PORT": "0",
    "NOTIFIER_PORT": "70000",
    "RATE_LIMITS_ENABLED": "maybe",
    "SMTP_STARTTLS": "sometimes",
    "REDIS_URL": "http://x",
    "REGISTRATION_DATABASE_URL": "mysql://db/agora",
    "FEEDBACK_DATABASE_URL": "not a url",
    "SECRET_KEY": "short",
    "ORGANISER_TOKEN": "tiny",
    "PUBLIC_BASE_URL": "ftp://example.org",
    "FEEDBACK_INVITE_DELAY_SECONDS": "-5",
    "SMTP_PORT": "smtp",
    "BIND_HOST": "   ",
    "NOTIFIER_RETRY_BASE_SECONDS": "soon",
    "NOTIFIER_RETRY_MAX_SECONDS": "-1",
    "NOTIFIER_GIVE_UP_SECONDS": "0",
    "NOTIFIER_SMTP_TIMEOUT_SECONDS": "fast",
    "NOTIFIER_MAILCATCHER_HOST": "  ",
    "NOTIFIER_MAILCATCHER_PORT": "0",
}


@pytest.mark.parametrize(("variable", "value"), list(BAD_VALUES.items()), ids=list(BAD_VALUES))
def test_a_bad_value_raises_a_settings_error_naming_the_variable(variable, value):
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: value})
    message = str(raised.value)
    assert variable in message
    assert value.strip() in message or "must" in message


def test_defaults_match_the_contract():
    settings = load_settings({})
    assert (settings.registration_port, settings.feedback_port, settings.notifier_port) == (
        8001,
        8002,
        8003,
    )
    assert settings.bind_host == "127.0.0.1"
    assert settings.public_base_url == "http://127.0.0.1:8001"
    assert settings.rate_limits_enabled is True
    assert settings.feedback_invite_delay_seconds == 600
    assert settings.max_request_bytes == 64 * 1024
    assert settings.registration_database_url.startswith("sqlite:///")
    assert settings.redis_is_embedded
    assert (
        settings.notifier_retry_base_seconds,
        settings.notifier_retry_max_seconds,
        settings.notifier_give_up_seconds,
        settings.notifier_smtp_timeout_seconds,
    ) == (30, 3600, 43200, 20)
    assert (settings.notifier_mailcatcher_host, settings.notifier_mailcatcher_port) == (
        "127.0.0.1",
        1025,
    )


def test_good_values_are_parsed():
    settings = load_settings(
        {
            "REGISTRATION_PORT": "9001",
            "RATE_LIMITS_ENABLED": "false",
            "REDIS_URL": "redis://cache:6379/2",
            "REGISTRATION_DATABASE_URL": "postgresql+psycopg://u:p@db/agora",
            "SECRET_KEY": "s" * 32,
            "ORGANISER_TOKEN": "t" * 32,
            "SMTP_STARTTLS": "yes",
            "FEEDBACK_INVITE_DELAY_SECONDS": "0",
            "SMTP_HOST": "",  # empty means unset
            "NOTIFIER_RETRY_BASE_SECONDS": "0.5",
            "NOTIFIER_GIVE_UP_SECONDS": "600",
            "NOTIFIER_MAILCATCHER_HOST": "mailcatcher",
            "NOTIFIER_MAILCATCHER_PORT": "2525",
        }
    )
    assert settings.registration_port == 9001
    assert settings.rate_limits_enabled is False
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.smtp_starttls is True
    assert settings.smtp_host is None
    assert settings.feedback_invite_delay_seconds == 0
    assert not settings.redis_is_embedded
    assert (settings.notifier_retry_base_seconds, settings.notifier_give_up_seconds) == (0.5, 600)
    assert (settings.notifier_mailcatcher_host, settings.notifier_mailcatcher_port) == (
        "mailcatcher",
        2525,
    )


@pytest.mark.parametrize("value", ["TRUE", " true ", "1", "on", "Yes"])
def test_booleans_are_forgiving_about_case_and_spaces(value):
    assert load_settings({"RATE_LIMITS_ENABLED": value}).rate_limits_enabled is True


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:p@db/agora", "postgres://u:p@db/agora", "postgresql+psycopg://u:p@db/agora"],
)
def test_a_plain_postgresql_url_uses_the_installed_driver(url):
    from sqlalchemy.engine import make_url

    settings = load_settings({"REGISTRATION_DATABASE_URL": url})
    assert make_url(settings.registration_database_url).drivername == "postgresql+psycopg"
    assert make_url(settings.registration_database_url).host == "db"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("REGISTRATION_PORT", "abc"), ("SECRET_KEY", "short"), ("REDIS_URL", "http://x")],
)
def test_create_app_with_a_bad_setting_exits_naming_the_variable(monkeypatch, variable, value):
    from services.registration.app import create_app

    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as raised:
        create_app({"TESTING": True})
    assert variable in str(raised.value.code)


# --- rate limits ------------------------------------------------------------------------------

_client_numbers = itertools.count(1)


def unique_address() -> str:
    """A client address no other test (nor an earlier run sharing this Redis) has used."""
    seed = uuid.uuid4().int
    n = next(_client_numbers)
    return f"10.{seed % 250 + 1}.{(seed >> 8) % 250 + 1}.{(os.getpid() + n) % 250 + 1}"


def limited_app(settings: Settings, registration_db: str, **changes: Any) -> Any:
    from services.registration.app import create_app

    changes = {"rate_limits_enabled": True, **changes}
    settings = dataclasses.replace(settings, registration_database_url=registration_db, **changes)
    return create_app({"TESTING": True, "SETTINGS": settings})


def registration_body(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "name": f"Rusher {n}",
        "email": f"rusher{n}-{uuid.uuid4().hex[:8]}@example.org",
        "country": "BE",
        "role": "researcher",
        "language": "en",
        "consent": True,
        **overrides,
    }


@pytest.fixture
def slug(make_event) -> str:
    return str(make_event()["slug"])


def test_the_31st_registration_in_a_minute_is_a_429(settings, registration_db, slug):
    app = limited_app(settings, registration_db)
    client = app.test_client()
    address = unique_address()
    path = f"/api/v1/events/{slug}/registrations"
    for n in range(30):
        response = client.post(
            path, json=registration_body(n), environ_base={"REMOTE_ADDR": address}
        )
        assert response.status_code == 201, (n, response.get_json())
    response = client.post(path, json=registration_body(30), environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 429
    body = response.get_json()
    assert body["code"] == 429 and "try again" in body["message"].lower()
    assert int(response.headers["Retry-After"]) > 0
    # Nothing was written for the refused one; another client is not affected.
    listing = client.get(
        path, headers={"Authorization": f"Bearer {settings.organiser_token}"}
    ).get_json()
    assert len(listing) == 30
    other = client.post(
        path, json=registration_body(31), environ_base={"REMOTE_ADDR": unique_address()}
    )
    assert other.status_code == 201


def test_resend_link_is_limited_per_address_not_per_venue(settings, registration_db, slug):
    app = limited_app(settings, registration_db)
    client = app.test_client()
    address = unique_address()  # one venue's Wi-Fi
    path = f"/api/v1/events/{slug}/registrations/resend-link"

    def resend(email: str) -> int:
        answer = client.post(path, json={"email": email}, environ_base={"REMOTE_ADDR": address})
        return int(answer.status_code)

    many = [resend(f"who-{uuid.uuid4().hex[:12]}@example.org") for _ in range(12)]
    assert many == [202] * 12  # twelve participants behind one address
    one = f"one-{uuid.uuid4().hex[:12]}@example.org"
    assert [resend(one) for _ in range(6)] == [202] * 5 + [429]  # one inbox: 5 an hour
    # The registration limit is a separate budget.
    response = client.post(
        f"/api/v1/events/{slug}/registrations",
        json=registration_body(1),
        environ_base={"REMOTE_ADDR": address},
    )
    assert response.status_code == 201


def test_rate_limits_disabled_means_no_429(settings, registration_db, slug):
    app = limited_app(settings, registration_db, rate_limits_enabled=False)
    assert app.extensions["settings"].rate_limits_enabled is False
    client = app.test_client()
    address = unique_address()
    for n in range(35):
        response = client.post(
            f"/api/v1/events/{slug}/registrations",
            json=registration_body(n),
            environ_base={"REMOTE_ADDR": address},
        )
        assert response.status_code == 201, (n, response.get_json())
    for n in range(8):
        response = client.post(
            f"/api/v1/events/{slug}/registrations/resend-link",
            json={"email": f"who{n}@example.org"},
            environ_base={"REMOTE_ADDR": address},
        )
        assert response.status_code == 202


def test_the_env_variable_turns_rate_limits_off(monkeypatch, settings, registration_db, slug):
    from services.registration.app import create_app

    monkeypatch.setenv("RATE_LIMITS_ENABLED", "false")
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("REGISTRATION_DATABASE_URL", registration_db)
    app = create_app({"TESTING": True})
    assert app.config["RATELIMIT_ENABLED"] is False
    client = app.test_client()
    address = unique_address()
    for n in range(7):
        response = client.post(
            f"/api/v1/events/{slug}/registrations/resend-link",
            json={"email": f"who{n}@example.org"},
            environ_base={"REMOTE_ADDR": address},
        )
        assert response.status_code == 202


def test_with_redis_unreachable_registration_still_answers(settings, registration_db, slug):
    closed = free_port()  # nothing listens there
    app = limited_app(settings, registration_db, redis_url=f"redis://127.0.0.1:{closed}/0")
    client = app.test_client()
    address = unique_address()
    path = f"/api/v1/events/{slug}/registrations"
    started = time.monotonic()
    first = client.post(path, json=registration_body(0), environ_base={"REMOTE_ADDR": address})
    assert first.status_code == 201, first.get_json()
    assert time.monotonic() - started < 3
    # The limits still hold, counted in memory.
    statuses = [
        client.post(
            path, json=registration_body(n), environ_base={"REMOTE_ADDR": address}
        ).status_code
        for n in range(1, 31)
    ]
    assert statuses == [201] * 29 + [429]
    assert time.monotonic() - started < 15
