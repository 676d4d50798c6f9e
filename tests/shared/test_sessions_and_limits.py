"""The one organiser web sign-in of the three services: sessions kept in Redis and honoured by
every service (signing out anywhere, revoking the token or disabling the account ends them),
the one cookie, the other services sending organisers to the registration sign-in and back;
the limits on wrong organiser tokens (each service its own counters), personal API answers kept
out of caches, the SECRET_KEY check, and `next=` with control characters."""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import redis

from shared.accounts import LEGACY_ACCOUNT_ID
from shared.auth import SESSION_KEY_PREFIX, hash_token
from shared.config import DEVELOPMENT_SECRET_KEY, Settings, SettingsError, load_settings
from shared.pages import ORGANISER_COOKIE, REGISTRATION_SIGN_IN_PATH, safe_next
from tests.helpers import ORGANISER_TOKEN, bearer, migrated_database
from tests.organisers import account_state, add_account, apply_state, start_session, use_session

SERVICES = ("registration", "feedback", "notifier")
# Organisers sign in on the registration service (with a token here); the others send them there.
SIGN_IN = "/organiser/sign-in/token"
SIGN_IN_ELSEWHERE = {"feedback": "/organiser/sign-in", "notifier": "/sign-in"}
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


def sign_in(client: Any, token: str = ORGANISER_TOKEN, **environ: Any) -> Any:
    """The registration service's sign-in with a token."""
    return client.post(SIGN_IN, data={"token": token}, environ_base=environ)


def session_cookie(client: Any) -> str | None:
    cookie = client.get_cookie(ORGANISER_COOKIE)
    return None if cookie is None else str(cookie.value)


def signed_in(client: Any, service: str) -> bool:
    """Whether the organisers' page shows (rather than the sign-in form, or a redirect to it)."""
    response = client.get(ORGANISER_PAGE[service])
    return response.status_code == 200 and 'name="token"' not in response.get_data(as_text=True)


def stored_sessions(redis_url: str) -> set[bytes]:
    return set(redis.Redis.from_url(redis_url).keys(f"{SESSION_KEY_PREFIX}*"))


def session_key(session_id: str) -> bytes:
    return f"{SESSION_KEY_PREFIX}{hash_token(session_id)}".encode()


# --- sessions -----------------------------------------------------------------------------------


def test_one_sign_in_serves_every_service_and_signing_out_anywhere_ends_it(
    service, make_app, redis_url
):
    apps = {name: make_app(name) for name in SERVICES}
    browser = apps["registration"].test_client()
    assert sign_in(browser).status_code == 303
    session_id = session_cookie(browser)
    assert session_id and ORGANISER_TOKEN not in session_id
    assert session_key(session_id) in stored_sessions(redis_url)
    # The services share a host: the browser sends the one cookie to each of them.
    clients = {name: app.test_client() for name, app in apps.items()}
    for name, client in clients.items():
        use_session(client, session_id)
        assert signed_in(client, name), name

    response = clients[service].post(SIGN_OUT[service])
    assert response.status_code == 303
    assert session_cookie(clients[service]) is None
    assert session_key(session_id) not in stored_sessions(redis_url)
    for name, client in clients.items():
        assert not signed_in(client, name), name  # a copied cookie is worth nothing now


def test_revoking_a_token_ends_its_sessions_at_the_next_request(service, make_app, redis_url):
    app = make_app(service)
    runner = app.test_cli_runner()
    name = f"desk-{uuid.uuid4().hex[:8]}"
    token = runner.invoke(args=["organiser", "create-token", name]).output.strip()
    client = app.test_client()
    with app.app_context():
        session_id = start_session(app, LEGACY_ACCOUNT_ID, token)
    use_session(client, session_id)
    assert signed_in(client, service)

    assert "revoked 1 token" in runner.invoke(args=["organiser", "revoke-token", name]).output
    assert not signed_in(client, service)
    assert session_key(session_id) not in stored_sessions(redis_url)


def test_a_disabled_or_unknown_account_is_not_signed_in_on_any_service(make_app):
    apps = {name: make_app(name) for name in SERVICES}
    account_id = uuid.uuid4().hex
    for app in apps.values():
        add_account(app, [("*", "admin")], account_id=account_id)
    session_id = start_session(apps["registration"], account_id)
    clients = {name: app.test_client() for name, app in apps.items()}
    for name, client in clients.items():
        use_session(client, session_id)
        assert signed_in(client, name), name

    # The account is disabled (version 2): each service refuses it from its own copy.
    state, _token = account_state([("*", "admin")], account_id=account_id, version=2)
    for app in apps.values():
        apply_state(app, {**state, "disabled": True})
    for name, client in clients.items():
        assert not signed_in(client, name), name
    # A session of an account a service does not know signs nobody in there.
    stranger = start_session(apps["registration"], uuid.uuid4().hex)
    use_session(clients["feedback"], stranger)
    assert not signed_in(clients["feedback"], "feedback")


def test_disabling_an_account_ends_all_its_sessions(make_app, redis_url):
    app = make_app("registration")
    account = add_account(app, [("*", "admin")])
    sessions = app.extensions["organiser_sessions"]
    first, second = start_session(app, account.id), start_session(app, account.id)
    other = start_session(app, add_account(app, [("*", "viewer")]).id)
    assert sessions.end_all(account.id)
    assert sessions.account_id(first) is None and sessions.account_id(second) is None
    assert sessions.account_id(other) is not None
    assert {session_key(first), session_key(second)}.isdisjoint(stored_sessions(redis_url))


def test_a_forged_or_unknown_session_id_is_not_signed_in(service, make_app):
    client = make_app(service).test_client()
    use_session(client, "made-up")
    assert not signed_in(client, service)


def test_with_redis_down_sign_in_fails_cleanly_and_nobody_is_signed_in(service, make_app):
    from tests.helpers import free_port

    down = f"redis://127.0.0.1:{free_port()}/0"
    if service == "registration":
        response = sign_in(make_app(service, redis_url=down).test_client())
        assert response.status_code == 503
        assert "Signing in is not possible right now" in response.get_data(as_text=True)
        return
    client = make_app(service, redis_url=down).test_client()
    use_session(client, "some-session")
    assert not signed_in(client, service)


# --- the other services send organisers to the registration service's sign-in ----------------


@pytest.mark.parametrize("service", ["feedback", "notifier"])
def test_signing_in_elsewhere_leads_to_the_registration_sign_in_and_back(service, make_app):
    app = make_app(service)
    client = app.test_client()
    public = app.extensions["settings"]
    back = getattr(public, f"{service}_public_url")
    page = client.get(ORGANISER_PAGE[service])
    assert page.status_code == 302
    response = client.get(page.headers["Location"])
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == public.public_base_url
    assert target.path == REGISTRATION_SIGN_IN_PATH
    assert parse_qs(target.query)["next"] == [back + ORGANISER_PAGE[service]]


def test_the_registration_sign_in_leads_back_only_to_the_services_own_addresses(make_app):
    app = make_app("registration")
    settings = app.extensions["settings"]
    for target, allowed in [
        (settings.feedback_public_url + "/organiser/events/x", True),
        (settings.notifier_public_url + "/messages?status=failed", True),
        ("https://evil.example/organiser", False),
        (settings.feedback_public_url.replace("http://", "http://user@") + "/x", False),
        ("//evil.example/organiser", False),
    ]:
        client = app.test_client()
        response = client.post(SIGN_IN, data={"token": ORGANISER_TOKEN, "next": target})
        assert response.status_code == 303
        assert (response.headers["Location"] == target) is allowed, target


# --- cookies ------------------------------------------------------------------------------------


def set_cookies(response: Any) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_the_organiser_cookie_is_one_for_every_service(service, make_app):
    registration = make_app("registration")
    client = registration.test_client()
    cookie = set_cookies(sign_in(client))[ORGANISER_COOKIE]
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Secure" not in cookie  # served over plain HTTP here
    other = make_app(service).test_client()
    use_session(other, session_cookie(client))
    removed = set_cookies(other.post(SIGN_OUT[service]))[ORGANISER_COOKIE]
    assert "Expires=Thu, 01 Jan 1970" in removed and "Path=/" in removed


def test_cookies_are_secure_behind_https(service, make_app):
    client = make_app("registration", public_base_url="https://agora.example").test_client()
    cookies = set_cookies(sign_in(client))
    assert "Secure" in cookies[ORGANISER_COOKIE]
    flashed = set_cookies(client.post(SIGN_OUT["registration"]))
    assert "Secure" in flashed["registration_session"]
    app = make_app(service, public_base_url="https://agora.example")
    lang = set_cookies(app.test_client().get("/accessibility?lang=nl"))["lang"]
    assert "Secure" in lang and "HttpOnly" in lang


def test_a_secure_request_gets_secure_cookies(make_app):
    client = make_app("registration").test_client()
    response = client.post(SIGN_IN, data={"token": ORGANISER_TOKEN}, base_url="https://localhost")
    assert "Secure" in set_cookies(response)[ORGANISER_COOKIE]


# --- limits -------------------------------------------------------------------------------------


def test_the_sign_in_counts_wrong_tokens(make_app):
    app = make_app("registration", rate_limits_enabled=True)
    client = address()
    statuses = [
        sign_in(app.test_client(), "wrong", REMOTE_ADDR=client).status_code for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_signing_in_does_not_count_against_the_limit(make_app):
    app = make_app("registration", rate_limits_enabled=True)
    client = address()
    for _ in range(4):
        assert sign_in(app.test_client(), REMOTE_ADDR=client).status_code == 303
    assert sign_in(app.test_client(), "typo", REMOTE_ADDR=client).status_code == 401
    assert sign_in(app.test_client(), REMOTE_ADDR=client).status_code == 303


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


def test_a_valid_token_outside_its_roles_is_403_and_not_a_guess(service, make_app):
    app = make_app(service, rate_limits_enabled=True)
    viewer = add_account(app, [("none", "viewer")])
    client, attacker = app.test_client(), {"REMOTE_ADDR": address()}
    statuses = [
        client.get(ORGANISER_API[service], headers=viewer.headers, environ_base=attacker)
        for _ in range(22)
    ]
    assert {response.status_code for response in statuses} == {403}
    assert statuses[0].get_json()["code"] == 403


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
    app = make_app(service)
    client = app.test_client()
    use_session(client, start_session(app, "organiser-token", ORGANISER_TOKEN))
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
    if service != "registration":
        response = client.get(SIGN_IN_ELSEWHERE[service], query_string={"next": target})
        assert response.status_code == 302
        assert "\n" not in response.headers["Location"]
        assert "evil" not in unquote(response.headers["Location"])
        return
    page = client.get("/organiser/sign-in", query_string={"next": target})
    assert page.status_code == 200
    response = client.post(SIGN_IN, data={"token": ORGANISER_TOKEN, "next": target})
    assert response.status_code == 303
    assert "\n" not in response.headers["Location"] and "evil" not in response.headers["Location"]
