"""On each of the three services: organiser web sessions kept in Redis (signing out and revoking
the token end them), their cookies, the limits on wrong organiser tokens (each service its own
counters), personal API answers kept out of caches, the SECRET_KEY check, and `next=` with
control characters."""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from shared.auth import hash_token
from shared.config import DEVELOPMENT_SECRET_KEY, Settings, SettingsError, load_settings
from shared.pages import safe_next
from tests.helpers import ORGANISER_TOKEN, bearer, migrated_database

SERVICES = ("registration", "feedback", "notifier")
SIGN_IN = {"registration": "/organiser", "feedback": "/organiser", "notifier": "/sign-in"}
SIGN_OUT = {
    "registration": "/organiser/sign-out",
    "feedback": "/organiser/sign-out",
    "notifier": "/sign-out",
}
# A page of each service only a signed-in organiser sees, and an organiser API.
ORGANISER_PAGE = {"registration": "/organiser", "feedback": "/organiser", "notifier": "/messages"}
ORGANISER_API = {
    "registration": "/api/v1/events/none/registrations",
    "feedback": "/api/v1/events/none/summary",
    "notifier": "/api/v1/messages",
}


def address() -> str:
    """A client address no other test (nor an earlier run sharing this Redis) has used."""
    seed = uuid.uuid4().int
    return f"10.{seed % 250 + 1}.{(seed >> 8) % 250 + 1}.{(seed >> 16) % 250 + 1}"


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_app(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Any]]:
    """A service's app on its migrated SQLite database, with settings changed as a test asks."""
    apps = []

    def make(service: str, **changes: Any) -> Any:
        url = migrated_database("sqlite", service, tmp_path_factory.getbasetemp())
        changed = dataclasses.replace(settings, **{f"{service}_database_url": url, **changes})
        create_app = importlib.import_module(f"services.{service}.app").create_app
        apps.append(create_app({"TESTING": True, "SETTINGS": changed, "WTF_CSRF_ENABLED": False}))
        return apps[-1]

    yield make
    for app in apps:
        if "mailer" in app.extensions:
            app.extensions["mailer"].close()


def sign_in(client: Any, service: str, token: str = ORGANISER_TOKEN, **environ: Any) -> Any:
    return client.post(SIGN_IN[service], data={"token": token}, environ_base=environ)


def session_cookie(client: Any, service: str) -> str | None:
    cookie = client.get_cookie(f"{service}_organiser")
    return None if cookie is None else str(cookie.value)


def signed_in(client: Any, service: str) -> bool:
    """Whether the organisers' page shows (rather than the sign-in form, or a redirect to it)."""
    response = client.get(ORGANISER_PAGE[service])
    return response.status_code == 200 and 'name="token"' not in response.get_data(as_text=True)


def stored_sessions(redis_url: str, service: str) -> set[bytes]:
    return set(redis.Redis.from_url(redis_url).keys(f"agora:{service}:organiser-session:*"))


# --- sessions -----------------------------------------------------------------------------------


def test_signing_out_ends_the_session_even_for_a_copied_cookie(service, make_app, redis_url):
    client = make_app(service).test_client()
    assert sign_in(client, service).status_code == 303
    session_id = session_cookie(client, service)
    assert session_id and ORGANISER_TOKEN not in session_id
    key = f"agora:{service}:organiser-session:{hash_token(session_id)}".encode()
    assert key in stored_sessions(redis_url, service)
    assert signed_in(client, service)

    thief = make_app(service).test_client()
    thief.set_cookie(f"{service}_organiser", session_id)
    assert signed_in(thief, service)
    assert client.post(SIGN_OUT[service]).status_code == 303
    assert session_cookie(client, service) is None
    assert key not in stored_sessions(redis_url, service)
    assert not signed_in(thief, service)


def test_revoking_a_token_ends_its_sessions_at_the_next_request(service, make_app, redis_url):
    app = make_app(service)
    runner = app.test_cli_runner()
    name = f"desk-{uuid.uuid4().hex[:8]}"
    token = runner.invoke(args=["organiser", "create-token", name]).output.strip()
    client = app.test_client()
    assert sign_in(client, service, token).status_code == 303
    assert signed_in(client, service)

    assert "revoked 1 token" in runner.invoke(args=["organiser", "revoke-token", name]).output
    assert not signed_in(client, service)
    key = f"agora:{service}:organiser-session:{hash_token(session_cookie(client, service))}"
    assert key.encode() not in stored_sessions(redis_url, service)


def test_a_forged_or_unknown_session_id_is_not_signed_in(service, make_app):
    client = make_app(service).test_client()
    client.set_cookie(f"{service}_organiser", "made-up")
    assert not signed_in(client, service)


def test_with_redis_down_sign_in_fails_cleanly(service, make_app):
    from tests.helpers import free_port

    client = make_app(service, redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()
    response = sign_in(client, service)
    assert response.status_code == 503
    assert "Signing in is not possible right now" in response.get_data(as_text=True)


# --- cookies ------------------------------------------------------------------------------------


def set_cookies(response: Any) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_cookies_have_one_name_per_service_and_purpose(service, make_app):
    client = make_app(service).test_client()
    cookies = set_cookies(sign_in(client, service))
    organiser = cookies[f"{service}_organiser"]
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in organiser
    assert "Secure" not in organiser  # served over plain HTTP here
    flashed = set_cookies(client.post(SIGN_OUT[service]))
    assert f"{service}_session" in flashed and "session" not in flashed
    assert "SameSite=Lax" in flashed[f"{service}_session"]


def test_cookies_are_secure_behind_https(service, make_app):
    client = make_app(service, public_base_url="https://agora.example").test_client()
    cookies = set_cookies(sign_in(client, service))
    assert "Secure" in cookies[f"{service}_organiser"]
    flashed = set_cookies(client.post(SIGN_OUT[service]))
    assert "Secure" in flashed[f"{service}_session"]
    lang = set_cookies(client.get(SIGN_IN[service] + "?lang=nl"))["lang"]
    assert "Secure" in lang and "HttpOnly" in lang


def test_a_secure_request_gets_secure_cookies(service, make_app):
    client = make_app(service).test_client()
    response = client.post(
        SIGN_IN[service], data={"token": ORGANISER_TOKEN}, base_url="https://localhost"
    )
    assert "Secure" in set_cookies(response)[f"{service}_organiser"]


# --- limits -------------------------------------------------------------------------------------


def test_each_service_counts_its_own_sign_in_failures(make_app):
    apps = {service: make_app(service, rate_limits_enabled=True) for service in SERVICES}
    client = address()
    for service in SERVICES:
        statuses = [
            sign_in(apps[service].test_client(), service, "wrong", REMOTE_ADDR=client).status_code
            for _ in range(6)
        ]
        assert statuses == [401] * 5 + [429], service


def test_signing_in_does_not_count_against_the_limit(make_app):
    app = make_app("registration", rate_limits_enabled=True)
    client = address()
    for _ in range(4):
        assert sign_in(app.test_client(), "registration", REMOTE_ADDR=client).status_code == 303
    assert sign_in(app.test_client(), "registration", "typo", REMOTE_ADDR=client).status_code == 401
    assert sign_in(app.test_client(), "registration", REMOTE_ADDR=client).status_code == 303


def test_wrong_bearer_tokens_get_429_on_every_organiser_api(service, make_app):
    app = make_app(service, rate_limits_enabled=True)
    client, path = app.test_client(), ORGANISER_API[service]
    attacker = {"REMOTE_ADDR": address()}
    statuses = [
        client.get(path, headers=bearer(f"org_guess{n}"), environ_base=attacker).status_code
        for n in range(21)
    ]
    assert statuses == [401] * 20 + [429]
    # Blocked whatever it sends, the right token too, until the window passes ...
    refused = client.get(path, headers=bearer(ORGANISER_TOKEN), environ_base=attacker)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert refused.get_json()["code"] == 429
    # ... while other clients are not concerned; a missing token is no guess.
    ok = client.get(path, headers=bearer(ORGANISER_TOKEN), environ_base={"REMOTE_ADDR": address()})
    assert ok.status_code in (200, 404)
    fresh = {"REMOTE_ADDR": address()}
    assert [client.get(path, environ_base=fresh).status_code for _ in range(25)] == [401] * 25


def test_wrong_bearer_tokens_on_one_service_do_not_block_another(make_app):
    registration = make_app("registration", rate_limits_enabled=True)
    notifier = make_app("notifier", rate_limits_enabled=True)
    attacker = {"REMOTE_ADDR": address()}
    for n in range(21):
        registration.test_client().get(
            ORGANISER_API["registration"], headers=bearer(f"guess{n}"), environ_base=attacker
        )
    response = notifier.test_client().get(
        ORGANISER_API["notifier"], headers=bearer(ORGANISER_TOKEN), environ_base=attacker
    )
    assert response.status_code == 200


# --- no-store -----------------------------------------------------------------------------------


def test_organiser_api_answers_are_kept_out_of_caches(service, make_app):
    client = make_app(service).test_client()
    response = client.get(ORGANISER_API[service], headers=bearer(ORGANISER_TOKEN))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    refused = client.get(ORGANISER_API[service], headers=bearer("wrong"))
    assert refused.headers["Cache-Control"] == "no-store"


def test_organiser_pages_are_kept_out_of_caches(service, make_app):
    client = make_app(service).test_client()
    sign_in(client, service)
    assert signed_in(client, service)
    response = client.get(ORGANISER_PAGE[service])
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- SECRET_KEY ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret_key", [DEVELOPMENT_SECRET_KEY, "s" * 31], ids=["the default", "31 characters"]
)
def test_a_service_refuses_to_start_with_a_weak_secret_key(service, make_app, secret_key):
    with pytest.raises(SystemExit) as raised:
        make_app(service, secret_key=secret_key)
    message = str(raised.value.code)
    assert "SECRET_KEY" in message and "32" in message and "DEVELOPMENT_MODE" in message


def test_development_mode_accepts_the_default_secret_key(service, make_app):
    app = make_app(service, secret_key=DEVELOPMENT_SECRET_KEY, development_mode=True)
    assert app.config["SECRET_KEY"] == DEVELOPMENT_SECRET_KEY


def test_the_environment_sets_development_mode(monkeypatch, settings):
    from services.registration.app import create_app

    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SystemExit):
        create_app({"TESTING": True})
    monkeypatch.setenv("DEVELOPMENT_MODE", "true")
    assert create_app({"TESTING": True}).extensions["settings"].development_mode is True
    with pytest.raises(SettingsError, match="DEVELOPMENT_MODE"):
        load_settings({"DEVELOPMENT_MODE": "perhaps"})


# --- next= --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["/organiser/x\r\nSet-Cookie: a=b", "/organiser/\nx", "/organiser/\x00", "/\x7f"]
)
def test_next_with_a_control_character_is_refused(target):
    assert safe_next(target) is None


def test_sign_in_with_cr_lf_in_next_goes_to_the_landing_page(service, make_app):
    client = make_app(service).test_client()
    target = "/organiser/events/x\r\nSet-Cookie: evil=1"
    page = client.get(SIGN_IN[service], query_string={"next": target})
    assert page.status_code == 200
    response = client.post(SIGN_IN[service], data={"token": ORGANISER_TOKEN, "next": target})
    assert response.status_code == 303
    assert "\n" not in response.headers["Location"] and "evil" not in response.headers["Location"]
