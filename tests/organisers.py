"""Organiser accounts and web sessions for tests: an account written into one service's own copy
the way its `organiser.*` events write it (`apply_snapshot`), and a web session started the way
the registration sign-in starts one, so that a test client of any service is signed in."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.accounts import ENVIRONMENT_ACTOR_ID, apply_snapshot
from shared.auth import hash_token, new_organiser_token
from shared.pages import ORGANISER_COOKIE

SESSION_SECONDS = 3600


@dataclass(frozen=True)
class Organiser:
    """An account as a test uses it: its id, a bearer token, and its state (a snapshot)."""

    id: str
    token: str
    state: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def account_state(
    roles: Iterable[tuple[str, str]],
    *,
    account_id: str | None = None,
    token: str | None = None,
    version: int = 1,
    disabled: bool = False,
    revoked: bool = False,
) -> tuple[dict[str, Any], str]:
    """An account's whole state as the `organiser.*` events carry it, and its token."""
    account_id = account_id or uuid.uuid4().hex
    token = token or new_organiser_token()
    state = {
        "id": account_id,
        "email": f"{account_id}@organisers.test",
        "name": f"Organiser {account_id[:6]}",
        "language": "en",
        "disabled": disabled,
        "version": version,
        "roles": [{"event": event, "role": role} for event, role in roles],
        "tokens": [
            {"id": 1, "name": "script", "token_hash": hash_token(token), "revoked": revoked}
        ],
    }
    return state, token


def apply_state(app: Any, state: dict[str, Any]) -> bool:
    """Write an account's state into this app's copy, as its consumer would."""
    auth = app.extensions["organiser_auth"]
    models = auth.models
    with auth.database.transaction() as session:
        return apply_snapshot(session, models.accounts, models.roles, models.tokens, state)


def add_account(app: Any, roles: Iterable[tuple[str, str]], **options: Any) -> Organiser:
    """An account with these (event, role) grants and one token, in this app's copy."""
    state, token = account_state(roles, **options)
    apply_state(app, state)
    return Organiser(state["id"], token, state)


def start_session(app: Any, account_id: str, token: str | None = None) -> str:
    """A web session of the account (as the registration sign-in starts it), for every
    service sharing this Redis; `token` for a sign-in with a token."""
    sessions = app.extensions["organiser_sessions"]
    token_hash = hash_token(token) if token else None
    return str(sessions.start(account_id, SESSION_SECONDS, token_hash))


def use_session(client: Any, session_id: str) -> None:
    """Give a test client the one organiser cookie (browsers send it to every service)."""
    client.set_cookie(ORGANISER_COOKIE, session_id)


def sign_in(client: Any, app: Any, account: Organiser | None = None) -> str:
    """Sign a test client in as `account`, or with ORGANISER_TOKEN (a full admin)."""
    if account is None:
        token = app.extensions["settings"].organiser_token
        session_id = start_session(app, ENVIRONMENT_ACTOR_ID, token)
    else:
        session_id = start_session(app, account.id)
    use_session(client, session_id)
    return session_id
