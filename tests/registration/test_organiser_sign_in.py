"""Signing organisers in on the web: password, second factor (TOTP), emailed one-time links
(single use, expiry), password reset, invitation, the limits on wrong tries, "my account" and
the admins' account pages."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from services.registration import organisers
from services.registration.extensions import db
from services.registration.models import OrganiserAccount, OrganiserLink, Outbox
from shared.auth import OrganiserSessions
from shared.contracts import TaskNames
from shared.db import utcnow
from shared.pages import ORGANISER_COOKIE
from tests.helpers import bearer
from tests.registration.helpers import page

PASSWORD = "correct horse battery staple"
FEEDBACK = "http://127.0.0.1:8002"


def make_account(
    app: Any,
    email: str = "oscar@example.org",
    password: str | None = PASSWORD,
    roles: tuple[tuple[str, str], ...] = (("*", "admin"),),
    totp: bool = False,
) -> tuple[str, str | None]:
    """An account made as the API and pages make it; its id and TOTP secret (if on)."""
    with app.app_context():
        account = organisers.create_account(db.session, email, "Oscar Organiser", "en")
        organisers.set_roles(db.session, account, [{"event": e, "role": r} for e, r in roles])
        if password is not None:
            organisers.set_password(db.session, account, password)
        secret = None
        if totp:
            secret = organisers.begin_totp(db.session, account)
            account.totp_confirmed_at = utcnow()
        db.session.commit()
        return account.id, secret


def sign_in(client: Any, email: str = "oscar@example.org", password: str = PASSWORD, **more: Any):
    return client.post("/organiser/sign-in", data={"email": email, "password": password, **more})


def session_of(client: Any, redis_url: str) -> str | None:
    """The account the browser's organiser session is for (None: not signed in)."""
    cookie = client.get_cookie(ORGANISER_COOKIE)
    return OrganiserSessions(redis_url).account_id(cookie.value) if cookie else None


def emailed(app: Any, kind: str) -> list[str]:
    """The one-time links the notifier was asked to email, of this kind, as paths."""
    with app.app_context():
        rows = db.session.scalars(
            select(Outbox).where(Outbox.task_name == TaskNames.ORGANISER_EMAIL).order_by(Outbox.seq)
        ).all()
        urls = [row.payload["url"] for row in rows if row.payload["kind"] == kind]
    return [url.removeprefix("http://testserver") for url in urls]


def following_code(secret: str) -> str:
    """The code of the next time step (accepted: one step either side counts)."""
    return str(pyotp.TOTP(secret).at(time.time() + 30))


# --- password ------------------------------------------------------------------------------------


def test_a_right_password_signs_in_on_every_service_and_a_wrong_one_does_not(
    registration_app, registration_client, redis_url
):
    account, _secret = make_account(registration_app)
    wrong = sign_in(registration_client, password="not the password at all")
    assert wrong.status_code == 401
    assert "not right" in page(wrong)
    unknown = sign_in(registration_client, email="nobody@example.org")
    assert unknown.status_code == 401
    assert session_of(registration_client, redis_url) is None
    missing = registration_client.post("/organiser/sign-in", data={"email": ""})
    assert missing.status_code == 422

    right = sign_in(registration_client, email=" OSCAR@example.org")
    assert right.status_code == 303
    assert right.headers["Location"] == "/organiser"
    assert session_of(registration_client, redis_url) == account
    cookie = right.headers["Set-Cookie"]
    assert cookie.startswith(f"{ORGANISER_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert registration_client.get("/organiser/account").status_code == 200
    with registration_app.app_context():
        assert db.session.get(OrganiserAccount, account).last_sign_in_at is not None


def test_signing_in_leads_to_next_on_our_services_only(registration_app, registration_client):
    make_account(registration_app)
    back = f"{FEEDBACK}/organiser/events/x"
    shown = registration_client.get("/organiser/sign-in", query_string={"next": back})
    assert f'value="{back}"' in page(shown)
    assert sign_in(registration_client, next=back).headers["Location"] == back
    own = sign_in(registration_client, next="/organiser/accounts")
    assert own.headers["Location"] == "/organiser/accounts"
    for elsewhere in ("https://evil.example/organiser", "//evil.example/x", "/manage/x"):
        answer = sign_in(registration_client, next=elsewhere)
        assert answer.headers["Location"] == "/organiser", elsewhere


def test_a_disabled_account_cannot_sign_in_and_its_session_ends(
    registration_app, registration_client, organiser, redis_url
):
    account, _secret = make_account(registration_app, roles=(("*", "viewer"),))
    assert sign_in(registration_client).status_code == 303
    assert registration_client.get("/organiser/account").status_code == 200
    deleted = registration_client.delete(f"/api/v1/organisers/{account}", headers=organiser)
    assert deleted.status_code == 204
    assert session_of(registration_client, redis_url) is None
    assert registration_client.get("/organiser/account").status_code == 302
    assert sign_in(registration_client).status_code == 401


def test_an_organiser_token_signs_in_on_the_page(registration_app, registration_client, organiser):
    token = organiser["Authorization"].removeprefix("Bearer ")
    wrong = registration_client.post("/organiser/sign-in/token", data={"token": "org_nope"})
    assert wrong.status_code == 401
    right = registration_client.post("/organiser/sign-in/token", data={"token": token})
    assert right.status_code == 303
    mine = registration_client.get("/organiser/account")
    assert mine.status_code == 200
    assert "organiser token from the settings" in page(mine)


# --- limits --------------------------------------------------------------------------------------


@pytest.fixture
def limited_client(settings, registration_db, registration_app) -> Any:
    """The service with its rate limits on (the limiter is the process's: the last app made
    sets it), from a client address no other test uses."""
    from services.registration.app import create_app

    changed = dataclasses.replace(
        settings, registration_database_url=registration_db, rate_limits_enabled=True
    )
    app = create_app({"TESTING": True, "SETTINGS": changed, "WTF_CSRF_ENABLED": False})
    seed = uuid.uuid4().int
    client = app.test_client()
    address = f"10.{seed % 250 + 1}.{(seed >> 8) % 250 + 1}.{(seed >> 16) % 250 + 1}"
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_wrong_passwords_for_one_address_are_limited(registration_app, limited_client):
    email = f"limited-{uuid.uuid4().hex[:8]}@example.org"
    other = f"other-{uuid.uuid4().hex[:8]}@example.org"
    make_account(registration_app, email)
    make_account(registration_app, other)
    for _ in range(5):
        assert sign_in(limited_client, email=email, password="wrong password!!").status_code == 401
    assert sign_in(limited_client, email=email).status_code == 429  # even the right one, now
    assert sign_in(limited_client, email=other).status_code == 303  # another address is not


def test_wrong_second_factor_codes_are_limited(registration_app, limited_client):
    email = f"totp-{uuid.uuid4().hex[:8]}@example.org"
    _account, secret = make_account(registration_app, email, totp=True)
    assert sign_in(limited_client, email=email).status_code == 303
    for _ in range(5):
        code = limited_client.post("/organiser/sign-in/second-factor", data={"code": "000000"})
        assert code.status_code == 401
    right = {"code": pyotp.TOTP(secret).now()}
    assert limited_client.post("/organiser/sign-in/second-factor", data=right).status_code == 429


# --- second factor -------------------------------------------------------------------------------


def test_with_a_second_factor_the_password_alone_does_not_sign_in(
    registration_app, registration_client, redis_url
):
    account, secret = make_account(registration_app, totp=True)
    assert secret is not None
    first = sign_in(registration_client, next="/organiser/accounts")
    assert first.headers["Location"] == "/organiser/sign-in/second-factor"
    assert session_of(registration_client, redis_url) is None
    assert registration_client.get("/organiser/account").status_code == 302
    wrong = registration_client.post("/organiser/sign-in/second-factor", data={"code": "123456"})
    assert wrong.status_code == 401
    code = pyotp.TOTP(secret).now()
    right = registration_client.post("/organiser/sign-in/second-factor", data={"code": code})
    assert right.status_code == 303
    assert right.headers["Location"] == "/organiser/accounts"
    assert session_of(registration_client, redis_url) == account

    # The same code, seen by someone looking over a shoulder, never works again.
    registration_client.post("/organiser/sign-out")
    sign_in(registration_client)
    again = registration_client.post("/organiser/sign-in/second-factor", data={"code": code})
    assert again.status_code == 401
    after = {"code": following_code(secret)}
    assert (
        registration_client.post("/organiser/sign-in/second-factor", data=after).status_code == 303
    )


def test_the_second_factor_step_needs_the_first(registration_client):
    answer = registration_client.post("/organiser/sign-in/second-factor", data={"code": "123456"})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/organiser/sign-in"


def test_an_organiser_sets_up_and_removes_a_second_factor_on_their_account_page(
    registration_app, registration_client
):
    account, _secret = make_account(registration_app)
    sign_in(registration_client)
    begun = registration_client.post("/organiser/account/second-factor")
    assert begun.status_code == 303
    shown = page(registration_client.get("/organiser/account"))
    with registration_app.app_context():
        secret = db.session.get(OrganiserAccount, account).totp_secret
    assert secret is not None
    assert "<svg" in shown and secret[:4] in shown
    wrong = registration_client.post("/organiser/account/second-factor/confirm", data={"code": "1"})
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret).now()
    on = registration_client.post("/organiser/account/second-factor/confirm", data={"code": code})
    assert on.status_code == 303
    with registration_app.app_context():
        assert organisers.totp_enabled(db.session.get(OrganiserAccount, account))

    off = registration_client.post(
        "/organiser/account/second-factor/remove", data={"code": following_code(secret)}
    )
    assert off.status_code == 303
    with registration_app.app_context():
        assert db.session.get(OrganiserAccount, account).totp_secret is None


def test_an_admin_requires_a_second_factor_and_it_is_set_up_at_the_next_sign_in(
    registration_app, registration_client, redis_url
):
    account, _secret = make_account(registration_app, roles=(("*", "viewer"),))
    with registration_app.app_context():
        organisers.require_totp(db.session, db.session.get(OrganiserAccount, account), True)
        db.session.commit()
    first = sign_in(registration_client)
    assert first.headers["Location"] == "/organiser/sign-in/second-factor"
    setup = registration_client.get("/organiser/sign-in/second-factor")
    assert "<svg" in page(setup)
    with registration_app.app_context():
        secret = db.session.get(OrganiserAccount, account).totp_secret
    assert secret is not None
    assert registration_client.get("/organiser/sign-in/second-factor").status_code == 200
    with registration_app.app_context():  # looking again does not change the secret
        assert db.session.get(OrganiserAccount, account).totp_secret == secret
    code = {"code": pyotp.TOTP(secret).now()}
    assert (
        registration_client.post("/organiser/sign-in/second-factor", data=code).status_code == 303
    )
    assert session_of(registration_client, redis_url) == account
    with registration_app.app_context():
        assert organisers.totp_enabled(db.session.get(OrganiserAccount, account))
    refused = registration_client.post(
        "/organiser/account/second-factor/remove", data={"code": following_code(secret)}
    )
    assert refused.status_code == 409


# --- one-time links ------------------------------------------------------------------------------


def test_a_sign_in_link_works_once(registration_app, registration_client, redis_url):
    account, _secret = make_account(registration_app, password=None, roles=(("*", "viewer"),))
    unknown = registration_client.post("/organiser/sign-in/link", data={"email": "x@example.org"})
    known = registration_client.post("/organiser/sign-in/link", data={"email": "oscar@example.org"})
    assert unknown.status_code == known.status_code == 200
    assert "on its way" in page(unknown) and "on its way" in page(known)
    (link,) = emailed(registration_app, "sign_in")

    shown = registration_client.get(link)  # what a mail scanner opening the link does
    assert shown.status_code == 200
    assert session_of(registration_client, redis_url) is None
    used = registration_client.post(link)
    assert used.status_code == 303
    assert session_of(registration_client, redis_url) == account
    assert registration_client.post(link).status_code == 404
    assert registration_client.get(link).status_code == 404


def test_an_expired_link_or_one_of_a_disabled_account_does_not_work(
    registration_app, registration_client
):
    account, _secret = make_account(registration_app)
    for _ in range(2):
        registration_client.post("/organiser/sign-in/link", data={"email": "oscar@example.org"})
    first, second = emailed(registration_app, "sign_in")
    with registration_app.app_context():
        db.session.execute(update(OrganiserLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert registration_client.get(first).status_code == 404
    assert registration_client.post(first).status_code == 404
    with registration_app.app_context():
        db.session.execute(update(OrganiserLink).values(expires_at=utcnow() + timedelta(minutes=5)))
        organisers.disable(db.session, db.session.get(OrganiserAccount, account))
        db.session.commit()
    assert registration_client.post(second).status_code == 404


def test_links_last_30_minutes_and_invitations_7_days(registration_app):
    account, _secret = make_account(registration_app)
    with registration_app.app_context():
        row = db.session.get(OrganiserAccount, account)
        for purpose, lifetime in (
            ("sign_in", timedelta(minutes=30)),
            ("password_reset", timedelta(minutes=30)),
            ("invitation", timedelta(days=7)),
        ):
            link = organisers.new_link(db.session, row, purpose, "http://testserver")
            assert abs(link.expires_at - utcnow() - lifetime) < timedelta(seconds=5)


def test_a_forgotten_password_is_reset_by_an_emailed_link(
    registration_app, registration_client, redis_url
):
    account, _secret = make_account(registration_app)
    registration_client.post("/organiser/sign-in/link", data={"email": "oscar@example.org"})
    (sign_in_link,) = emailed(registration_app, "sign_in")
    asked = registration_client.post(
        "/organiser/forgot-password", data={"email": "Oscar@example.org"}
    )
    unknown = registration_client.post(
        "/organiser/forgot-password", data={"email": "z@example.org"}
    )
    assert asked.status_code == unknown.status_code == 200
    assert page(asked).count("on its way") == page(unknown).count("on its way") == 1
    (reset,) = emailed(registration_app, "password_reset")
    form = registration_client.get(reset)
    assert form.status_code == 200 and 'autocomplete="new-password"' in page(form)

    new = "a brand new passphrase"
    short = registration_client.post(reset, data={"password": "short", "confirm": "short"})
    assert short.status_code == 422
    email = registration_client.post(
        reset, data={"password": "oscar@example.org", "confirm": "oscar@example.org"}
    )
    assert email.status_code == 422
    mismatch = registration_client.post(reset, data={"password": new, "confirm": new + "!"})
    assert mismatch.status_code == 422
    done = registration_client.post(reset, data={"password": new, "confirm": new})  # still valid
    assert done.status_code == 303
    assert session_of(registration_client, redis_url) == account
    assert (
        registration_client.post(reset, data={"password": new, "confirm": new}).status_code == 404
    )
    # A new password voids the other links, and only the new password signs in.
    assert registration_client.post(sign_in_link).status_code == 404
    assert sign_in(registration_client).status_code == 401
    assert sign_in(registration_client, password=new).status_code == 303


def test_an_invited_organiser_chooses_a_password_and_is_signed_in(
    registration_app, registration_client, organiser, redis_url
):
    created = registration_client.post(
        "/api/v1/organisers",
        json={"email": "nina@example.org", "name": "Nina", "language": "nl"},
        headers=organiser,
    )
    account = created.get_json()["id"]
    registration_client.put(
        f"/api/v1/organisers/{account}/roles",
        json={"roles": [{"event": "*", "role": "viewer"}]},
        headers=organiser,
    )
    (invitation,) = emailed(registration_app, "invitation")
    shown = registration_client.get(invitation, query_string={"lang": "nl"})
    assert shown.status_code == 200 and "nina@example.org" in page(shown)
    password = {"password": PASSWORD, "confirm": PASSWORD}
    assert registration_client.post(invitation, data=password).status_code == 303
    assert session_of(registration_client, redis_url) == account
    listed = registration_client.get(f"/api/v1/organisers/{account}", headers=organiser)
    assert listed.get_json()["has_password"] is True


# --- my account and the admins' pages -------------------------------------------------------------


def test_my_tokens_are_shown_once_and_revoked_from_my_page(registration_app, registration_client):
    make_account(registration_app, roles=(("*", "viewer"),))
    sign_in(registration_client)
    created = registration_client.post("/organiser/account/tokens", data={"name": "badges"})
    assert created.status_code == 201
    (token,) = re.findall(r"org_[A-Za-z0-9_-]{20,}", page(created))
    assert (
        registration_client.get("/api/v1/organisers/me", headers=bearer(token)).status_code == 200
    )
    again = page(registration_client.get("/organiser/account"))
    assert token not in again and "badges" in again
    (token_id,) = re.findall(r"/organiser/account/tokens/(\d+)/revoke", again)
    revoked = registration_client.post(f"/organiser/account/tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    assert (
        registration_client.get("/api/v1/organisers/me", headers=bearer(token)).status_code == 401
    )
    nameless = registration_client.post("/organiser/account/tokens", data={"name": ""})
    assert nameless.status_code == 422


def test_changing_my_password_needs_the_current_one(registration_app, registration_client):
    make_account(registration_app, roles=(("*", "viewer"),))
    sign_in(registration_client)
    new = "another long passphrase"
    wrong = registration_client.post(
        "/organiser/account/password",
        data={"current": "not it at all!", "password": new, "confirm": new},
    )
    assert wrong.status_code == 422
    right = registration_client.post(
        "/organiser/account/password", data={"current": PASSWORD, "password": new, "confirm": new}
    )
    assert right.status_code == 303
    assert sign_in(registration_client, password=new).status_code == 303


def test_admins_invite_set_roles_and_disable_from_the_pages(
    registration_app, registration_client, make_event, redis_url
):
    slug = make_event()["slug"]
    make_account(registration_app)
    sign_in(registration_client)
    assert registration_client.get("/organiser/accounts").status_code == 200
    bad = registration_client.post("/organiser/accounts", data={"email": "x", "name": ""})
    assert bad.status_code == 422
    invited = registration_client.post(
        "/organiser/accounts", data={"email": "nina@example.org", "name": "Nina", "language": "fr"}
    )
    assert invited.status_code == 303
    assert len(emailed(registration_app, "invitation")) == 1
    manage = invited.headers["Location"]
    account = manage.rsplit("/", 1)[1]
    assert registration_client.get(manage).status_code == 200
    roles = registration_client.post(
        f"{manage}/roles", data={"role-all": "", f"role-{slug}": "rapporteur"}
    )
    assert roles.status_code == 303
    with registration_app.app_context():
        (grant,) = organisers.roles_of(db.session, account)
        assert (grant.event, grant.role) == (slug, "rapporteur")
    unconfirmed = registration_client.post(f"{manage}/disable")
    assert unconfirmed.status_code == 422
    browser = OrganiserSessions(redis_url).start(account, 60)
    assert registration_client.post(f"{manage}/disable", data={"confirm": "yes"}).status_code == 303
    assert OrganiserSessions(redis_url).account_id(browser) is None
    with registration_app.app_context():
        assert db.session.get(OrganiserAccount, account).disabled_at is not None


def test_the_account_pages_are_for_admins_only(registration_app, registration_client):
    make_account(registration_app, roles=(("*", "manager"),))
    assert registration_client.get("/organiser/accounts").status_code == 302
    sign_in(registration_client)
    assert registration_client.get("/organiser/accounts").status_code == 403
    assert registration_client.get("/organiser/account").status_code == 200
