"""Organiser accounts: create, roles, disable, tokens, passwords, second factor, emailed links.

Plain functions over a DB session: no Flask here. This service holds the only copy with
passwords (argon2id) and second factors (TOTP); every change to an account bumps its `version`
and writes the account's whole state to the outbox (`shared.accounts.snapshot`: no password,
no second factor, token hashes only), from which the other services keep their own copies.
Signing in (the last sign-in, the last TOTP step used) is not a change to the account.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registration.models import (
    LINK_PURPOSES,
    Event,
    OrganiserAccount,
    OrganiserLink,
    OrganiserRole,
    OrganiserToken,
    Outbox,
)
from shared import audit
from shared.accounts import ALL_EVENTS, ROLES, snapshot
from shared.auth import hash_token, new_organiser_token
from shared.contracts import LANGUAGES, TaskNames
from shared.db import new_id, utcnow
from shared.errors import InvalidInput, NotFound, RuleError
from shared.outbox import add_event

PASSWORD_MIN_LENGTH = 12
# Long passphrases are welcome; beyond this a "password" is an attempt to make hashing costly.
PASSWORD_MAX_LENGTH = 1024
SIGN_IN, PASSWORD_RESET, INVITATION = LINK_PURPOSES
LINK_LIFETIMES = {
    SIGN_IN: timedelta(minutes=30),
    PASSWORD_RESET: timedelta(minutes=30),
    INVITATION: timedelta(days=7),
}
LINK_PATH = "/organiser/link/"
TOTP_ISSUER = "Agora"
# One step either side: a phone's clock a little off, or a code typed as it changed.
TOTP_VALID_WINDOW = 1

_hasher = PasswordHasher()
_dummy_hash: str | None = None


# --- reading ---------------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_account(db: Session, account_id: str) -> OrganiserAccount:
    account = db.get(OrganiserAccount, account_id)
    if account is None:
        raise NotFound(f"No organiser account {account_id!r}.", code="unknown_account")
    return account


def account_by_email(db: Session, email: str) -> OrganiserAccount | None:
    return db.scalar(
        select(OrganiserAccount).where(OrganiserAccount.email == normalise_email(email))
    )


def roles_of(db: Session, account_id: str) -> list[OrganiserRole]:
    return list(
        db.scalars(
            select(OrganiserRole)
            .where(OrganiserRole.account_id == account_id)
            .order_by(OrganiserRole.event)
        )
    )


def tokens_of(db: Session, account_id: str) -> list[OrganiserToken]:
    return list(
        db.scalars(
            select(OrganiserToken)
            .where(OrganiserToken.account_id == account_id)
            .order_by(OrganiserToken.id)
        )
    )


def totp_enabled(account: OrganiserAccount) -> bool:
    return account.totp_secret is not None and account.totp_confirmed_at is not None


@dataclass(frozen=True)
class AccountRow:
    """An account as the organiser list shows it."""

    id: str
    email: str
    name: str
    language: str
    disabled: bool
    roles: list[dict[str, str]]
    has_password: bool
    totp_enabled: bool
    totp_required: bool
    last_sign_in_at: datetime | None


def account_row(db: Session, account: OrganiserAccount) -> AccountRow:
    return AccountRow(
        id=account.id,
        email=account.email,
        name=account.name,
        language=account.language,
        disabled=account.disabled_at is not None,
        roles=[{"event": r.event, "role": r.role} for r in roles_of(db, account.id)],
        has_password=account.password_hash is not None,
        totp_enabled=totp_enabled(account),
        totp_required=account.totp_required,
        last_sign_in_at=account.last_sign_in_at,
    )


def list_accounts(db: Session) -> list[AccountRow]:
    accounts = db.scalars(select(OrganiserAccount).order_by(OrganiserAccount.email)).all()
    return [account_row(db, account) for account in accounts]


# --- changes and their events ------------------------------------------------------------------


def _changed(db: Session, account: OrganiserAccount, task_name: str) -> None:
    """Bump the account's version and write its new state to the outbox."""
    account.version += 1
    account.updated_at = utcnow()
    _publish(db, account, task_name)


def _publish(db: Session, account: OrganiserAccount, task_name: str) -> None:
    db.flush()
    state = snapshot(account, roles_of(db, account.id), tokens_of(db, account.id))
    add_event(db, Outbox, task_name, {"account": state}, subject=account.id)


def _active(account: OrganiserAccount) -> OrganiserAccount:
    if account.disabled_at is not None:
        raise RuleError("This organiser account is disabled.", code="account_disabled")
    return account


def create_account(
    db: Session, email: str, name: str, language: str = "en", account_id: str | None = None
) -> OrganiserAccount:
    """A new account with no role and no password (an invitation or a link gives one)."""
    email, name = normalise_email(email), name.strip()
    if not name:
        raise InvalidInput("A name is required.", "name", code="name_required")
    if language not in LANGUAGES:
        raise InvalidInput(f"Unknown language {language!r}.", "language", code="unknown_language")
    if account_by_email(db, email) is not None:
        raise RuleError(
            "An organiser account with this email address exists already.",
            "email",
            code="email_taken",
        )
    now = utcnow()
    account = OrganiserAccount(
        id=account_id or new_id(),
        email=email,
        name=name,
        language=language,
        version=1,
        created_at=now,
        updated_at=now,
        totp_required=False,
    )
    db.add(account)
    _publish(db, account, TaskNames.ORGANISER_ACCOUNT_CREATED)
    audit.record(db, "organisers.account_created", account.id)
    return account


def set_roles(db: Session, account: OrganiserAccount, roles: list[dict[str, str]]) -> None:
    """Replace the account's grants: one role per event (a slug that exists) or on `*`."""
    _active(account)
    wanted: dict[str, str] = {}
    for grant in roles:
        event, role = grant["event"].strip(), grant["role"]
        if role not in ROLES:
            raise InvalidInput(
                f"Unknown role {role!r} (one of {', '.join(ROLES)}).", "roles", code="unknown_role"
            )
        if event in wanted:
            raise InvalidInput(
                f"Two roles for {event!r}: give one role per event.", "roles", code="two_roles"
            )
        wanted[event] = role
    slugs = {event for event in wanted if event != ALL_EVENTS}
    known = set(db.scalars(select(Event.slug).where(Event.slug.in_(slugs)))) if slugs else set()
    if unknown := sorted(slugs - known):
        raise InvalidInput(
            f"Unknown event(s): {', '.join(unknown)}.", "roles", code="unknown_events"
        )
    for row in roles_of(db, account.id):
        db.delete(row)
    db.flush()
    for event, role in sorted(wanted.items()):
        db.add(OrganiserRole(account_id=account.id, event=event, role=role))
    _changed(db, account, TaskNames.ORGANISER_ROLES_CHANGED)
    audit.record(db, "organisers.roles_changed", account.id)


def disable(db: Session, account: OrganiserAccount) -> bool:
    """Disable the account: its tokens revoked, its pending links void (its web sessions are
    ended by the caller, in Redis). False when it was disabled already."""
    if account.disabled_at is not None:
        return False
    now = utcnow()
    account.disabled_at = now
    for token in tokens_of(db, account.id):
        if token.revoked_at is None:
            token.revoked_at = now
    _void_links(db, account.id, now)
    _changed(db, account, TaskNames.ORGANISER_ACCOUNT_DISABLED)
    audit.record(db, "organisers.account_disabled", account.id)
    return True


def require_totp(db: Session, account: OrganiserAccount, required: bool) -> None:
    """An admin's demand that the account sign in with a second factor (set up at next sign-in)."""
    if account.totp_required != required:
        account.totp_required = required
        _changed(db, _active(account), TaskNames.ORGANISER_ACCOUNT_CHANGED)
        audit.record(db, "organisers.second_factor_required", account.id)


# --- tokens ------------------------------------------------------------------------------------


def issue_token(db: Session, account: OrganiserAccount, name: str) -> tuple[OrganiserToken, str]:
    """A new token for the account's scripts: the token itself is returned here, once."""
    name = name.strip()
    if not name:
        raise InvalidInput("A name is required.", "name", code="name_required")
    token = new_organiser_token()
    row = OrganiserToken(account_id=_active(account).id, name=name, token_hash=hash_token(token))
    db.add(row)
    _changed(db, account, TaskNames.ORGANISER_TOKEN_ISSUED)
    audit.record(db, "organisers.token_created", account.id)
    return row, token


def revoke_token(db: Session, account: OrganiserAccount, token_id: int) -> None:
    row = db.get(OrganiserToken, token_id)
    if row is None or row.account_id != account.id:
        raise NotFound(f"No token {token_id} on this account.", code="unknown_token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _changed(db, account, TaskNames.ORGANISER_TOKEN_REVOKED)
        audit.record(db, "organisers.token_revoked", account.id)


def account_of_token(db: Session, token: str) -> OrganiserAccount | None:
    """The active account an unrevoked token belongs to."""
    row = db.scalar(select(OrganiserToken).where(OrganiserToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or row.account_id is None:
        return None
    account = db.get(OrganiserAccount, row.account_id)
    return account if account is not None and account.disabled_at is None else None


# --- passwords ---------------------------------------------------------------------------------


def check_password(account: OrganiserAccount, password: str) -> None:
    """Refuse a password too short, too long, or the account's own address."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(
            f"A password needs at least {PASSWORD_MIN_LENGTH} characters.",
            "password",
            code="password_short",
            length=PASSWORD_MIN_LENGTH,
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(
            f"A password has at most {PASSWORD_MAX_LENGTH} characters.",
            "password",
            code="password_long",
            length=PASSWORD_MAX_LENGTH,
        )
    if normalise_email(password) == account.email:
        raise InvalidInput(
            "The password cannot be the email address.", "password", code="password_is_email"
        )


def set_password(db: Session, account: OrganiserAccount, password: str) -> None:
    check_password(_active(account), password)
    account.password_hash = _hasher.hash(password)
    _changed(db, account, TaskNames.ORGANISER_ACCOUNT_CHANGED)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _unknown_account_hash() -> str:
    # Verified against when the address is unknown, so that answering takes as long either way.
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


def verify_password(db: Session, email: str, password: str) -> OrganiserAccount | None:
    """The active account with this address and password, or None (after the same work)."""
    account = account_by_email(db, email) if len(password) <= PASSWORD_MAX_LENGTH else None
    stored = account.password_hash if account is not None else None
    matches = _password_matches(stored or _unknown_account_hash(), password[:PASSWORD_MAX_LENGTH])
    if account is None or stored is None or not matches or account.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(stored):
        account.password_hash = _hasher.hash(password)
    return account


def signed_in(db: Session, account: OrganiserAccount) -> None:
    """Note a completed sign-in (not a change to the account: no event)."""
    account.last_sign_in_at = utcnow()
    db.flush()


# --- second factor (TOTP) ----------------------------------------------------------------------


def begin_totp(db: Session, account: OrganiserAccount) -> str:
    """A secret for the account's authenticator app, in use once a code confirms it (the one
    being set up already, if any: a page shown again must not change the QR code scanned)."""
    if totp_enabled(_active(account)):
        raise RuleError("A second factor is set up already.", code="totp_enabled")
    if account.totp_secret is not None:
        return account.totp_secret
    account.totp_secret = pyotp.random_base32()
    account.totp_last_step = None
    db.flush()
    return account.totp_secret


def provisioning_uri(account: OrganiserAccount) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    if account.totp_secret is None:
        raise RuleError("No second factor is being set up.", code="totp_not_started")
    return pyotp.TOTP(account.totp_secret).provisioning_uri(
        name=account.email, issuer_name=TOTP_ISSUER
    )


def _accept_code(account: OrganiserAccount, code: str, at: float | None = None) -> bool:
    """Whether `code` is the account's TOTP code within the window and newer than the last code
    accepted (a code seen once, by an onlooker or in a replay, never works again)."""
    code = "".join(code.split())
    if account.totp_secret is None or not code.isdigit():
        return False
    totp = pyotp.TOTP(account.totp_secret)
    now_step = totp.timecode(datetime.fromtimestamp(at if at is not None else time.time()))
    for step in range(now_step - TOTP_VALID_WINDOW, now_step + TOTP_VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if account.totp_last_step is not None and step <= account.totp_last_step:
                return False
            account.totp_last_step = step
            return True
    return False


def confirm_totp(db: Session, account: OrganiserAccount, code: str) -> None:
    """Turn the second factor on with a first code from the app."""
    _active(account)
    if account.totp_secret is None:
        raise RuleError("No second factor is being set up.", code="totp_not_started")
    if totp_enabled(account):
        raise RuleError("A second factor is set up already.", code="totp_enabled")
    if not _accept_code(account, code):
        raise InvalidInput("This code is not valid.", "code", code="totp_wrong")
    account.totp_confirmed_at = utcnow()
    _changed(db, account, TaskNames.ORGANISER_ACCOUNT_CHANGED)


def verify_totp(db: Session, account: OrganiserAccount, code: str) -> bool:
    """Whether the code signs in (each code once); the step used is kept either way."""
    accepted = totp_enabled(account) and _accept_code(account, code)
    db.flush()
    return accepted


def remove_totp(db: Session, account: OrganiserAccount) -> None:
    if account.totp_secret is None:
        return
    account.totp_secret = account.totp_confirmed_at = account.totp_last_step = None
    _changed(db, account, TaskNames.ORGANISER_ACCOUNT_CHANGED)


# --- one-time links ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewLink:
    token: str
    url: str
    expires_at: datetime


def new_link(db: Session, account: OrganiserAccount, purpose: str, base_url: str) -> NewLink:
    """A one-time link for the account (only its hash kept); the caller shows or emails it."""
    _active(account)
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + LINK_LIFETIMES[purpose]
    db.add(
        OrganiserLink(
            account_id=account.id,
            purpose=purpose,
            token_hash=hash_token(token),
            expires_at=expires_at,
        )
    )
    db.flush()
    return NewLink(token, base_url.rstrip("/") + LINK_PATH + token, expires_at)


def email_link(db: Session, account: OrganiserAccount, purpose: str, base_url: str) -> NewLink:
    """A one-time link, emailed by the notifier (ORGANISER_EMAIL, in the outbox)."""
    link = new_link(db, account, purpose, base_url)
    message: dict[str, Any] = {
        "kind": purpose,
        "account_id": account.id,
        "email": account.email,
        "name": account.name,
        "language": account.language,
        "url": link.url,
        "expires_at": link.expires_at,
    }
    add_event(db, Outbox, TaskNames.ORGANISER_EMAIL, message, subject=account.id)
    return link


def find_link(db: Session, token: str) -> OrganiserLink | None:
    """The link this token opens, while it can be used (unused, in time, account active)."""
    link = db.scalar(select(OrganiserLink).where(OrganiserLink.token_hash == hash_token(token)))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    account = db.get(OrganiserAccount, link.account_id)
    return link if account is not None and account.disabled_at is None else None


def use_link(db: Session, token: str, password: str | None = None) -> OrganiserAccount:
    """Use a link once: a sign-in link signs in; a reset or an invitation sets `password`
    (checked before the link is used). Raises NotFound when the link cannot be used."""
    link = find_link(db, token)
    if link is None:
        raise NotFound("This link has been used or has expired.", code="link_invalid")
    account = get_account(db, link.account_id)
    if link.purpose != SIGN_IN:
        check_password(account, password or "")
    now = utcnow()
    # One conditional UPDATE: of two requests racing with the same link, one uses it.
    claimed = db.execute(
        update(OrganiserLink)
        .where(OrganiserLink.id == link.id, OrganiserLink.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("This link has been used or has expired.", code="link_invalid")
    if link.purpose != SIGN_IN:
        # A new password voids every other link that could set one or sign in.
        _void_links(db, account.id, now)
        set_password(db, account, password or "")
    return account


def _void_links(db: Session, account_id: str, now: datetime) -> None:
    db.execute(
        update(OrganiserLink)
        .where(OrganiserLink.account_id == account_id, OrganiserLink.used_at.is_(None))
        .values(used_at=now)
    )
