"""The feedback service's and the notifier's copies of the organiser accounts, kept by their
consumers of the `organiser.*` events (run in-process as the workers run them): an account's
state is applied once per event and only when newer, so a late, repeated or reordered event
never undoes a change; each service then decides alone (401, 403, or let in); the `organiser
create-token` command makes tokens of the legacy account; the migration gave the tokens made
before accounts to that account."""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import column, create_engine, table, text

from shared import contracts
from shared.accounts import LEGACY_ACCOUNT_ID
from shared.auth import hash_token
from shared.config import Settings
from shared.contracts import ORGANISER_EVENTS, TaskNames, subscribed
from shared.db import UTCDateTime, new_id, utcnow
from shared.migrations import upgrade
from tests.helpers import empty_tables, migrated_database
from tests.organisers import account_state

COPIES = ("feedback", "notifier")
# An organiser call on each service about one event, and one about none.
ABOUT_THE_EVENT = {"feedback": "/api/v1/events/sdc/summary", "notifier": "/api/v1/messages"}


@pytest.fixture(params=COPIES)
def copy(
    request: pytest.FixtureRequest, backend: str, settings: Settings, tmp_path_factory: Any
) -> Iterator[Any]:
    service = str(request.param)
    models = importlib.import_module(f"services.{service}.models")
    url = migrated_database(backend, service, tmp_path_factory.getbasetemp())
    empty_tables(url, models.Base.metadata)
    changed = dataclasses.replace(settings, **{f"{service}_database_url": url})
    create_app = importlib.import_module(f"services.{service}.app").create_app
    app = create_app({"TESTING": True, "SETTINGS": changed})
    yield app
    if "mailer" in app.extensions:
        app.extensions["mailer"].close()


def deliver(app: Any, name: str, state: dict[str, Any], event_id: str | None = None) -> None:
    """One `organiser.*` event, as the worker runs it."""
    message = {"event_id": event_id or new_id(), "occurred_at": utcnow(), "account": state}
    app.extensions["tasks"][name](**contracts.dump(name, message))


def status(app: Any, token: str) -> int:
    service = app.extensions["service"]
    headers = {"Authorization": f"Bearer {token}"}
    return int(app.test_client().get(ABOUT_THE_EVENT[service], headers=headers).status_code)


def test_both_copies_consume_every_account_event():
    for service in COPIES:
        assert set(ORGANISER_EVENTS) <= set(subscribed(service))


def test_an_account_is_let_in_as_its_roles_say_once_its_events_arrive(copy):
    state, token = account_state([("sdc", "rapporteur")])
    assert status(copy, token) == 401  # not known here yet
    deliver(copy, TaskNames.ORGANISER_ACCOUNT_CREATED, state)
    rapporteur = status(copy, token)
    # A rapporteur reads the feedback summaries, never the delivery log.
    assert rapporteur == (404 if copy.extensions["service"] == "feedback" else 403)
    roles = {**state, "version": 2, "roles": [{"event": "sdc", "role": "manager"}]}
    deliver(copy, TaskNames.ORGANISER_ROLES_CHANGED, roles)
    assert status(copy, token) in (200, 404)


def test_a_late_or_repeated_event_never_undoes_a_newer_state(copy):
    state, token = account_state([("*", "admin")])
    created = new_id()
    deliver(copy, TaskNames.ORGANISER_ACCOUNT_CREATED, state, created)
    assert status(copy, token) in (200, 404)
    disabled = {**state, "version": 3, "disabled": True}
    deliver(copy, TaskNames.ORGANISER_ACCOUNT_DISABLED, disabled)
    assert status(copy, token) == 401
    # The creation delivered again, and a change made before the disabling arriving after it.
    deliver(copy, TaskNames.ORGANISER_ACCOUNT_CREATED, state, created)
    deliver(copy, TaskNames.ORGANISER_ACCOUNT_CHANGED, {**state, "version": 2})
    assert status(copy, token) == 401


def test_a_revoked_token_is_refused_and_the_account_s_other_tokens_still_work(copy):
    state, token = account_state([("*", "admin")])
    deliver(copy, TaskNames.ORGANISER_ACCOUNT_CREATED, state)
    second = "org_second-token-of-the-same-account"
    issued = {
        **state,
        "version": 2,
        "tokens": [
            *state["tokens"],
            {"id": 2, "name": "laptop", "token_hash": hash_token(second), "revoked": False},
        ],
    }
    deliver(copy, TaskNames.ORGANISER_TOKEN_ISSUED, issued)
    revoked = {**issued, "version": 3, "tokens": [{**issued["tokens"][0], "revoked": True}]}
    deliver(copy, TaskNames.ORGANISER_TOKEN_REVOKED, revoked)
    assert status(copy, token) == 401
    assert status(copy, second) in (200, 404)


def test_the_command_line_makes_tokens_of_the_legacy_account(copy):
    token = copy.test_cli_runner().invoke(args=["organiser", "create-token", "script"]).output
    assert status(copy, token.strip()) in (200, 404)
    with copy.app_context():
        auth = copy.extensions["organiser_auth"]
        assert auth.actor_for_token(token.strip()).account_id == LEGACY_ACCOUNT_ID
        assert auth.actor_for_account(LEGACY_ACCOUNT_ID).is_admin


@pytest.mark.parametrize("service", COPIES)
def test_the_migration_gives_the_earlier_tokens_to_the_legacy_admin(service, backend, tmp_path):
    from tests.helpers import create_postgres_database

    if backend == "postgresql":
        url = create_postgres_database(f"agora_legacy_{service}_{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
    before = {"feedback": "0004", "notifier": "0002"}[service]
    upgrade(service, url, before)
    engine = create_engine(url)
    tokens = table(
        "organiser_tokens",
        column("name"),
        column("token_hash"),
        column("created_at", UTCDateTime()),
    )
    with engine.begin() as connection:
        connection.execute(
            tokens.insert().values(
                name="old", token_hash=hash_token("org_old"), created_at=utcnow()
            )
        )
    upgrade(service, url)
    with engine.connect() as connection:
        owner = connection.execute(text("SELECT account_id FROM organiser_tokens")).scalar()
        roles = connection.execute(text("SELECT event, role FROM organiser_roles")).all()
    engine.dispose()
    assert owner == LEGACY_ACCOUNT_ID
    assert [tuple(role) for role in roles] == [("*", "admin")]
