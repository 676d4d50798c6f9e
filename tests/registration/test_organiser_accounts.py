"""Organiser accounts in the registration service: the accounts API (admin), roles per event,
tokens per account (shown once, stored hashed, revocable), the events that carry each account's
whole state to the other services, the `create-account` command and the migration that makes
the tokens of before accounts those of the legacy account."""

from __future__ import annotations

import json
import os
from typing import Any

from sqlalchemy import create_engine, select, text

from services.registration import organisers
from services.registration.extensions import db
from services.registration.models import (
    AuditEntry,
    OrganiserAccount,
    OrganiserLink,
    OrganiserToken,
    Outbox,
)
from shared.accounts import Actor, Grant
from shared.auth import OrganiserSessions, hash_token
from shared.contracts import ORGANISER_EVENTS, TaskNames
from shared.migrations import upgrade
from tests.helpers import bearer, create_postgres_database

PASSWORD = "correct horse battery staple"


def create(client: Any, headers: dict[str, str], email: str = "oscar@example.org", **body: Any):
    return client.post(
        "/api/v1/organisers",
        json={"email": email, "name": "Oscar Organiser", "language": "fr", **body},
        headers=headers,
    )


def new_account(client: Any, headers: dict[str, str], email: str = "oscar@example.org") -> str:
    response = create(client, headers, email)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def set_roles(client: Any, headers: dict[str, str], account_id: str, *grants: tuple[str, str]):
    roles = [{"event": event, "role": role} for event, role in grants]
    return client.put(
        f"/api/v1/organisers/{account_id}/roles", json={"roles": roles}, headers=headers
    )


def issue(client: Any, headers: dict[str, str], account_id: str, name: str = "script") -> str:
    response = client.post(
        f"/api/v1/organisers/{account_id}/tokens", json={"name": name}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["token"])


def events(app: Any, names: tuple[str, ...] = ORGANISER_EVENTS) -> list[tuple[str, dict]]:
    with app.app_context():
        rows = db.session.scalars(select(Outbox).order_by(Outbox.seq)).all()
        return [(row.task_name, row.payload) for row in rows if row.task_name in names]


# --- the accounts API ----------------------------------------------------------------------------


def test_an_admin_creates_an_account_and_its_owner_is_invited_by_email(
    registration_app, registration_client, organiser
):
    response = create(registration_client, organiser, "Oscar@Example.ORG")
    assert response.status_code == 201
    account_id = response.get_json()["id"]
    listed = registration_client.get("/api/v1/organisers", headers=organiser).get_json()
    assert listed == [
        {
            "id": account_id,
            "email": "oscar@example.org",
            "name": "Oscar Organiser",
            "language": "fr",
            "disabled": False,
            "roles": [],
            "has_password": False,
            "totp_enabled": False,
            "totp_required": False,
            "last_sign_in_at": None,
        }
    ]
    ((name, email),) = events(registration_app, (TaskNames.ORGANISER_EMAIL,))
    assert (email["kind"], email["account_id"], email["email"]) == (
        "invitation",
        account_id,
        "oscar@example.org",
    )
    assert email["url"].startswith("http://testserver/organiser/link/")
    with registration_app.app_context():
        (link,) = db.session.scalars(select(OrganiserLink)).all()
        token = email["url"].rsplit("/", 1)[1]
        assert link.token_hash == hash_token(token)  # only the hash is kept
        assert token not in json.dumps([link.token_hash, link.purpose])


def test_an_address_taken_already_is_409_whatever_its_case(registration_client, organiser):
    new_account(registration_client, organiser)
    response = create(registration_client, organiser, " OSCAR@example.org ")
    assert response.status_code == 409
    assert "email" in response.get_json()["errors"]["json"]


def test_bad_input_is_422_naming_the_fields(registration_client, organiser):
    response = create(registration_client, organiser, "not an address", name="", language="de")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]["json"]) == {"email", "name", "language"}
    extra = create(registration_client, organiser, password="hunter2hunter2")
    assert extra.status_code == 422
    assert "password" in extra.get_json()["errors"]["json"]


def test_an_unknown_account_is_404(registration_client, organiser):
    for method, path, body in (
        ("get", "/api/v1/organisers/nobody", None),
        ("delete", "/api/v1/organisers/nobody", None),
        ("put", "/api/v1/organisers/nobody/roles", {"roles": []}),
        ("get", "/api/v1/organisers/nobody/tokens", None),
        ("post", "/api/v1/organisers/nobody/tokens", {"name": "x"}),
        ("delete", "/api/v1/organisers/nobody/tokens/1", None),
    ):
        response = getattr(registration_client, method)(path, json=body, headers=organiser)
        assert response.status_code == 404, (method, path)


def test_without_credentials_401_and_outside_the_admin_role_403(
    registration_client, organiser, make_event
):
    slug = make_event()["slug"]
    manager = new_account(registration_client, organiser)
    assert set_roles(registration_client, organiser, manager, ("*", "manager")).status_code == 200
    managers = bearer(issue(registration_client, organiser, manager))
    viewer = new_account(registration_client, organiser, "vera@example.org")
    set_roles(registration_client, organiser, viewer, (slug, "viewer"))
    viewers = bearer(issue(registration_client, organiser, viewer))
    calls = (
        ("get", "/api/v1/organisers", None),
        ("post", "/api/v1/organisers", {"email": "x@example.org", "name": "X"}),
        ("delete", f"/api/v1/organisers/{viewer}", None),
        ("put", f"/api/v1/organisers/{viewer}/roles", {"roles": []}),
        ("get", f"/api/v1/organisers/{viewer}/tokens", None),
        ("post", f"/api/v1/organisers/{viewer}/tokens", {"name": "x"}),
        ("delete", f"/api/v1/organisers/{viewer}/tokens/1", None),
    )
    for method, path, body in calls:
        call = getattr(registration_client, method)
        assert call(path, json=body).status_code == 401, (method, path)
        assert call(path, json=body, headers=bearer("org_wrong")).status_code == 401
        assert call(path, json=body, headers=managers).status_code == 403, (method, path)
        assert call(path, json=body, headers=viewers).status_code == 403, (method, path)
    # Anyone signed in reads their own account.
    me = registration_client.get("/api/v1/organisers/me", headers=viewers).get_json()
    assert (me["id"], me["roles"]) == (viewer, [{"event": slug, "role": "viewer"}])
    env = registration_client.get("/api/v1/organisers/me", headers=organiser).get_json()
    assert (env["id"], env["roles"]) == ("organiser-token", [{"event": "*", "role": "admin"}])
    assert registration_client.get("/api/v1/organisers/me").status_code == 401


def test_roles_are_one_known_role_per_existing_event_or_every_event(
    registration_client, organiser, make_event
):
    slug = make_event()["slug"]
    account = new_account(registration_client, organiser)
    answer = set_roles(registration_client, organiser, account, ("*", "viewer"), (slug, "manager"))
    assert answer.status_code == 200
    assert answer.get_json()["roles"] == [
        {"event": "*", "role": "viewer"},
        {"event": slug, "role": "manager"},
    ]
    for grants in (
        ((slug, "owner"),),
        (("no-such-event", "viewer"),),
        ((slug, "viewer"), (slug, "desk")),
    ):
        refused = set_roles(registration_client, organiser, account, *grants)
        assert refused.status_code == 422, grants
        assert "roles" in json.dumps(refused.get_json()["errors"])
    missing = registration_client.put(
        f"/api/v1/organisers/{account}/roles", json={}, headers=organiser
    )
    assert missing.status_code == 422
    # A refusal changed nothing; an empty list takes every role away.
    listed = registration_client.get(f"/api/v1/organisers/{account}", headers=organiser)
    assert len(listed.get_json()["roles"]) == 2
    assert set_roles(registration_client, organiser, account).get_json()["roles"] == []


def test_a_token_is_shown_once_stored_hashed_acts_with_its_roles_and_can_be_revoked(
    registration_app, registration_client, organiser, make_event
):
    slug = make_event()["slug"]
    account = new_account(registration_client, organiser)
    set_roles(registration_client, organiser, account, (slug, "manager"))
    created = registration_client.post(
        f"/api/v1/organisers/{account}/tokens", json={"name": "badges"}, headers=organiser
    )
    assert created.status_code == 201
    token_id, token = created.get_json()["id"], created.get_json()["token"]
    listed = registration_client.get(f"/api/v1/organisers/{account}/tokens", headers=organiser)
    assert [(t["id"], t["name"], t["revoked_at"]) for t in listed.get_json()] == [
        (token_id, "badges", None)
    ]
    assert token not in listed.get_data(as_text=True)
    with registration_app.app_context():
        row = db.session.get(OrganiserToken, token_id)
        assert (row.token_hash, row.account_id) == (hash_token(token), account)
    own = f"/api/v1/events/{slug}/registrations"
    assert registration_client.get(own, headers=bearer(token)).status_code == 200
    other = make_event()["slug"]
    assert (
        registration_client.get(f"/api/v1/events/{other}/registrations", headers=bearer(token))
    ).status_code == 403

    someone_else = new_account(registration_client, organiser, "vera@example.org")
    wrong_owner = f"/api/v1/organisers/{someone_else}/tokens/{token_id}"
    assert registration_client.delete(wrong_owner, headers=organiser).status_code == 404
    revoke = f"/api/v1/organisers/{account}/tokens/{token_id}"
    assert registration_client.delete(revoke, headers=organiser).status_code == 204
    assert registration_client.delete(revoke, headers=organiser).status_code == 204
    assert registration_client.get(own, headers=bearer(token)).status_code == 401
    listed = registration_client.get(f"/api/v1/organisers/{account}/tokens", headers=organiser)
    assert listed.get_json()[0]["revoked_at"] is not None


def test_disabling_revokes_the_tokens_and_ends_the_web_sessions(
    registration_app, registration_client, organiser, redis_url
):
    account = new_account(registration_client, organiser)
    set_roles(registration_client, organiser, account, ("*", "viewer"))
    token = issue(registration_client, organiser, account)
    sessions = OrganiserSessions(redis_url)
    browser = sessions.start(account, 60)
    assert sessions.account_id(browser) == account

    assert (
        registration_client.delete(f"/api/v1/organisers/{account}", headers=organiser).status_code
        == 204
    )
    assert sessions.account_id(browser) is None
    me = registration_client.get("/api/v1/organisers/me", headers=bearer(token))
    assert me.status_code == 401
    (row,) = registration_client.get("/api/v1/organisers", headers=organiser).get_json()
    assert row["disabled"] is True
    with registration_app.app_context():
        assert all(t.revoked_at is not None for t in organisers.tokens_of(db.session, account))
    # Disabling twice is harmless, and says nothing more to the other services.
    before = len(events(registration_app))
    assert (
        registration_client.delete(f"/api/v1/organisers/{account}", headers=organiser).status_code
        == 204
    )
    assert len(events(registration_app)) == before


def test_every_change_sends_the_whole_account_with_a_higher_version_and_no_secret(
    registration_app, registration_client, organiser
):
    account = new_account(registration_client, organiser)
    set_roles(registration_client, organiser, account, ("*", "desk"))
    token = issue(registration_client, organiser, account)
    with registration_app.app_context():
        row = db.session.get(OrganiserAccount, account)
        organisers.set_password(db.session, row, PASSWORD)
        secret = organisers.begin_totp(db.session, row)
        organisers.require_totp(db.session, row, True)
        db.session.commit()
        password_hash = row.password_hash
    token_id = registration_client.get(
        f"/api/v1/organisers/{account}/tokens", headers=organiser
    ).get_json()[0]["id"]
    registration_client.delete(f"/api/v1/organisers/{account}/tokens/{token_id}", headers=organiser)
    registration_client.delete(f"/api/v1/organisers/{account}", headers=organiser)

    sent = events(registration_app)
    assert [name for name, _ in sent] == [
        TaskNames.ORGANISER_ACCOUNT_CREATED,
        TaskNames.ORGANISER_ROLES_CHANGED,
        TaskNames.ORGANISER_TOKEN_ISSUED,
        TaskNames.ORGANISER_ACCOUNT_CHANGED,  # the password
        TaskNames.ORGANISER_ACCOUNT_CHANGED,  # the second factor required
        TaskNames.ORGANISER_TOKEN_REVOKED,
        TaskNames.ORGANISER_ACCOUNT_DISABLED,
    ]
    states = [payload["account"] for _, payload in sent]
    assert [s["version"] for s in states] == list(range(1, len(states) + 1))
    assert {s["id"] for s in states} == {account}
    assert states[1]["roles"] == [{"event": "*", "role": "desk"}]
    assert states[2]["tokens"] == [
        {"id": token_id, "name": "script", "token_hash": hash_token(token), "revoked": False}
    ]
    assert states[-2]["tokens"][0]["revoked"] is True
    assert states[-1]["disabled"] is True
    with registration_app.app_context():  # each change an admin made is in the audit trail
        trail = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.actor, e.action, e.target) for e in trail] == [
            ("organiser-token", "organisers.account_created", account),
            ("organiser-token", "organisers.roles_changed", account),
            ("organiser-token", "organisers.token_created", account),
            ("organiser-token", "organisers.token_revoked", account),
            ("organiser-token", "organisers.account_disabled", account),
        ]
    everything = json.dumps(sent)
    for secret_value in (PASSWORD, password_hash, secret, token):
        assert secret_value not in everything
    assert "password" not in everything and "totp" not in everything


# --- the command line ----------------------------------------------------------------------------


def test_create_account_prints_a_one_time_link_and_a_token_that_work(
    registration_app, registration_client
):
    runner = registration_app.test_cli_runner()
    result = runner.invoke(
        args=["organiser", "create-account", "First@Example.org", "--name", "First Admin",
              "--role", "admin"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    (link,) = [line for line in lines if line.startswith("http://testserver/organiser/link/")]
    (token,) = [line for line in lines if line.startswith("org_")]
    assert "30 minutes" in result.output
    me = registration_client.get("/api/v1/organisers/me", headers=bearer(token)).get_json()
    assert (me["email"], me["roles"]) == ("first@example.org", [{"event": "*", "role": "admin"}])
    path = link.removeprefix("http://testserver")
    assert registration_client.get(path).status_code == 200
    signed_in = registration_client.post(path)
    assert signed_in.status_code == 303
    assert registration_client.get("/organiser/account").status_code == 200

    again = runner.invoke(
        args=["organiser", "create-account", "first@example.org", "--name", "X", "--role", "viewer"]
    )
    assert again.exit_code != 0
    assert "exists already" in again.output


def test_create_account_with_a_password_from_stdin_signs_in_with_it(
    registration_app, registration_client, make_event
):
    slug = make_event()["slug"]
    result = registration_app.test_cli_runner().invoke(
        args=["organiser", "create-account", "desk@example.org", "--name", "Desk",
              "--role", "desk", "--event", slug, "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "org_" not in result.output and "/organiser/link/" not in result.output
    with registration_app.app_context():
        account = organisers.verify_password(db.session, "desk@example.org", PASSWORD)
        assert account is not None
        actor = registration_app.extensions["organiser_auth"].actor_for_account(account.id)
    assert actor == Actor(account.id, (Grant(slug, "desk"),), "Desk")
    short = registration_app.test_cli_runner().invoke(
        args=["organiser", "create-account", "d2@example.org", "--name", "D", "--role", "desk",
              "--password-stdin"],
        input="short\n",
    )  # fmt: skip
    assert short.exit_code != 0
    assert "12 characters" in short.output


# --- the migration -------------------------------------------------------------------------------


def test_tokens_made_before_accounts_become_the_legacy_admins(backend, tmp_path):
    if backend == "postgresql":
        url = create_postgres_database(f"agora_legacy_{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path / 'registration.sqlite3'}"
    upgrade("registration", url, "0007")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO organiser_tokens (name, token_hash, created_at) "
                "VALUES ('ops', :hash, CURRENT_TIMESTAMP)"
            ),
            {"hash": hash_token("org_old")},
        )
    upgrade("registration", url)
    with engine.connect() as connection:
        tokens = connection.execute(text("SELECT name, account_id FROM organiser_tokens")).all()
        account = connection.execute(
            text("SELECT id, email, name, version, password_hash FROM organiser_accounts")
        ).all()
        roles = connection.execute(
            text("SELECT account_id, event, role FROM organiser_roles")
        ).all()
    engine.dispose()
    assert [tuple(t) for t in tokens] == [("ops", "legacy")]
    assert [tuple(a) for a in account] == [
        ("legacy", "legacy@organisers.invalid", "Tokens made before accounts", 1, None)
    ]
    assert [tuple(r) for r in roles] == [("legacy", "*", "admin")]
