"""Organiser accounts as every service sees them: who may do what, on which event.

Accounts live in the registration service (passwords and second factors there only). Each
service keeps its own copy of what authorising needs, in the same three tables
(`organiser_accounts`, `organiser_roles`, `organiser_tokens`): the registration service writes
them directly, the others apply the `organiser.*` events, each carrying the account's whole
state with a version number, so a late, repeated or reordered event never undoes a newer one.

A role is granted per event (a slug) or on every event (`*`). What each role may do is
`ROLE_PERMISSIONS`; a route names the one permission it needs (`shared.http.OrganiserAuth`,
`shared.pages.organiser_required`), and every route of every service has made that decision
(the role-matrix test walks them all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from shared.contracts import ORGANISER_ROLES
from shared.db import UTCDateTime, utcnow

ALL_EVENTS = "*"
ROLES = ORGANISER_ROLES
ADMIN, MANAGER, DESK, RAPPORTEUR, VIEWER = ROLES
# The account that the organiser tokens made before accounts existed belong to (a full admin).
LEGACY_ACCOUNT_ID = "legacy"
# The actor behind ORGANISER_TOKEN, which stays a full-admin token for scripts.
ENVIRONMENT_ACTOR_ID = "organiser-token"


class Permission(StrEnum):
    """What a route needs. The comments say which organiser pages and calls need each."""

    # The programme as organisers see it, with its fill: nothing personal.
    PROGRAMME_READ = "programme.read"
    # Events, sessions, capacities, questions.
    PROGRAMME_WRITE = "programme.write"
    # Registration lists, their CSV and JSON, waiting lists, per-question summaries.
    PARTICIPANTS_LIST = "participants.list"
    # One participant's record, looked up by the desk.
    PARTICIPANT_LOOKUP = "participants.lookup"
    # Changes to one participant's registration on their behalf (sessions, cancel, resend).
    PARTICIPANTS_WRITE = "participants.write"
    CHECK_IN = "check_in"
    # Feedback summaries, the dashboard, the report: answers without names.
    FEEDBACK_READ = "feedback.read"
    # Feedback rows with the registration each came from.
    FEEDBACK_EXPORT = "feedback.export"
    RECOMMENDATIONS_WRITE = "recommendations.write"
    # The delivery log and the caught emails: addresses and what was sent to them.
    MESSAGES_READ = "messages.read"
    MESSAGES_WRITE = "messages.write"
    # Messages a service gave up on (they may carry anything a message carries).
    DEAD_LETTERS = "dead_letters"
    AUDIT_READ = "audit.read"
    # Accounts, roles and tokens.
    ACCOUNTS = "accounts"
    # One's own account (password, second factor, tokens): every account, with a role or not.
    OWN_ACCOUNT = "own_account"


ROLE_PERMISSIONS: Mapping[str, frozenset[Permission]] = {
    ADMIN: frozenset(Permission),
    MANAGER: frozenset(Permission) - {Permission.ACCOUNTS, Permission.DEAD_LETTERS},
    DESK: frozenset(
        {Permission.PROGRAMME_READ, Permission.PARTICIPANT_LOOKUP, Permission.CHECK_IN}
    ),
    RAPPORTEUR: frozenset(
        {Permission.PROGRAMME_READ, Permission.FEEDBACK_READ, Permission.RECOMMENDATIONS_WRITE}
    ),
    VIEWER: frozenset({Permission.PROGRAMME_READ}),
}
# Permissions that only a grant on every event gives: they are not about one event.
GLOBAL_PERMISSIONS = frozenset({Permission.ACCOUNTS, Permission.DEAD_LETTERS})


@dataclass(frozen=True)
class Grant:
    event: str
    role: str


@dataclass(frozen=True)
class Actor:
    """An organiser as one request sees them: an account (or ORGANISER_TOKEN) and its grants."""

    account_id: str
    grants: tuple[Grant, ...]
    name: str = ""

    @classmethod
    def environment_token(cls) -> Actor:
        return cls(ENVIRONMENT_ACTOR_ID, (Grant(ALL_EVENTS, ADMIN),), "ORGANISER_TOKEN")

    def _grants_with(self, permission: Permission) -> Iterable[Grant]:
        return (g for g in self.grants if permission in ROLE_PERMISSIONS.get(g.role, ()))

    def may(self, permission: Permission, event: str | None = None) -> bool:
        """On one event (a slug), or, with `event` None, on at least one event (a route not
        about one event then shows only `events_for(permission)`)."""
        if permission is Permission.OWN_ACCOUNT:
            return True
        for grant in self._grants_with(permission):
            if grant.event == ALL_EVENTS:
                return True
            if permission in GLOBAL_PERMISSIONS:
                continue
            if event is None or grant.event == event:
                return True
        return False

    def events_for(self, permission: Permission) -> frozenset[str] | None:
        """The events this permission holds on; None for every event."""
        events: set[str] = set()
        for grant in self._grants_with(permission):
            if grant.event == ALL_EVENTS:
                return None
            events.add(grant.event)
        return frozenset(events)

    @property
    def is_admin(self) -> bool:
        return Grant(ALL_EVENTS, ADMIN) in self.grants


class OrganiserAccountMixin:
    """An organiser account as this service knows it. `version` grows with every change at
    the source, so a copy applies an account's state only when it is newer than its own."""

    __tablename__ = "organiser_accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="en")
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrganiserRoleMixin:
    """One grant: a role on one event (its slug) or on every event (`*`)."""

    __tablename__ = "organiser_roles"
    __table_args__ = (UniqueConstraint("account_id", "event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(20))

    @declared_attr
    def account_id(cls) -> Mapped[str]:
        return mapped_column(
            String(32), ForeignKey("organiser_accounts.id", ondelete="CASCADE"), index=True
        )


def load_actor(
    db: Session,
    account_model: type[Any],
    role_model: type[Any],
    account_id: str,
) -> Actor | None:
    """The actor for an account of this service's copy, or None if unknown or disabled."""
    account = db.get(account_model, account_id)
    if account is None or account.disabled_at is not None:
        return None
    roles = db.scalars(select(role_model).where(role_model.account_id == account_id)).all()
    grants = tuple(sorted((Grant(r.event, r.role) for r in roles), key=lambda g: (g.event, g.role)))
    return Actor(account.id, grants, account.name)


def snapshot(account: Any, roles: Iterable[Any], tokens: Iterable[Any]) -> dict[str, Any]:
    """An account's whole state for the `organiser.*` events (no password, no second factor:
    token hashes only, never a token)."""
    return {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "language": account.language,
        "disabled": account.disabled_at is not None,
        "version": account.version,
        "roles": [{"event": r.event, "role": r.role} for r in roles],
        "tokens": [
            {
                "id": t.id,
                "name": t.name,
                "token_hash": t.token_hash,
                "revoked": t.revoked_at is not None,
            }
            for t in tokens
        ],
    }


def apply_snapshot(
    db: Session,
    account_model: type[Any],
    role_model: type[Any],
    token_model: type[Any],
    state: Mapping[str, Any],
) -> bool:
    """Make this service's copy of one account what `state` says, if `state` is newer than
    the copy (True when applied)."""
    account = db.get(account_model, state["id"], with_for_update=True)
    if account is not None and account.version >= state["version"]:
        return False
    now = utcnow()
    if account is None:
        account = account_model(id=state["id"], created_at=now)
        db.add(account)
    account.email, account.name = state["email"], state["name"]
    account.language, account.version, account.updated_at = state["language"], state["version"], now
    if not state["disabled"]:
        account.disabled_at = None
    elif account.disabled_at is None:
        account.disabled_at = now
    db.flush()
    _apply_roles(db, role_model, account.id, state["roles"])
    _apply_tokens(db, token_model, account.id, state["tokens"], now)
    db.flush()
    return True


def _apply_roles(
    db: Session, role_model: type[Any], account_id: str, roles: Iterable[Mapping[str, Any]]
) -> None:
    wanted = {(r["event"], r["role"]) for r in roles}
    for row in db.scalars(select(role_model).where(role_model.account_id == account_id)).all():
        if (row.event, row.role) in wanted:
            wanted.discard((row.event, row.role))
        else:
            db.delete(row)
    db.flush()
    for event, role in sorted(wanted):
        db.add(role_model(account_id=account_id, event=event, role=role))


def _apply_tokens(
    db: Session,
    token_model: type[Any],
    account_id: str,
    tokens: Iterable[Mapping[str, Any]],
    now: datetime,
) -> None:
    for token in tokens:
        # By hash, not id: a copy also holds tokens its own command line made, numbered alike.
        row = db.scalar(select(token_model).where(token_model.token_hash == token["token_hash"]))
        if row is None:
            row = token_model(token_hash=token["token_hash"], created_at=now)
            db.add(row)
        row.account_id, row.name = account_id, token["name"]
        if token["revoked"] and row.revoked_at is None:
            row.revoked_at = now
