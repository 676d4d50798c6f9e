"""Organiser bearer tokens (stored hashed), organiser web sessions (one for every service, kept
in Redis, revocable) and participant tokens (signed, revocable)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.db import UTCDateTime, utcnow

ORGANISER_TOKEN_PREFIX = "org_"
_PARTICIPANT_SALT = "participant-token"
_EMAIL_CONFIRMATION_SALT = "email-confirmation"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_organiser_token() -> str:
    return ORGANISER_TOKEN_PREFIX + secrets.token_urlsafe(32)


class OrganiserTokenMixin:
    """A named organiser token; only its SHA-256 is kept."""

    __tablename__ = "organiser_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @declared_attr
    def account_id(cls) -> Mapped[str | None]:
        """The organiser account the token acts for (ORGANISER_TOKEN has none)."""
        return mapped_column(
            String(32), ForeignKey("organiser_accounts.id", ondelete="CASCADE"), index=True
        )


# One web sign-in for every service (they share a host, so a cookie, and a Redis): a session
# under the SHA-256 of its random id, and per account the set of its sessions' keys.
SESSION_KEY_PREFIX = "agora:organiser-session:"
ACCOUNT_SESSIONS_PREFIX = "agora:organiser-sessions-of:"


@dataclass(frozen=True)
class OrganiserSession:
    """Who a web session signed in, and with which token (its hash) if it was one."""

    account_id: str
    token_hash: str | None = None


class OrganiserSessions:
    """Organiser web sessions of every service, in Redis: the browser holds a random id, Redis
    (under the id's SHA-256, with an expiry) the account it signed in and, for a sign-in with a
    token, that token's hash. Signing out on any service deletes the session for all of them;
    `end_all` ends an account's sessions (disabled); each service checks the account (and the
    token) against its own copy at every request.

    Redis unreachable: nobody is signed in (and `start` raises `RedisError`).
    """

    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url
        self._client: Redis | None = None

    @property
    def client(self) -> Redis:
        # Created on first use: an app that never signs anyone in never connects.
        if self._client is None:
            self._client = Redis.from_url(
                self._redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
            )
        return self._client

    @staticmethod
    def key(session_id: str) -> str:
        return SESSION_KEY_PREFIX + hash_token(session_id)

    def start(self, account_id: str, seconds: int, token_hash: str | None = None) -> str:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        record = {"account_id": account_id, "created": now, "expires": now + seconds}
        if token_hash is not None:
            record["token_hash"] = token_hash
        key, of_account = self.key(session_id), ACCOUNT_SESSIONS_PREFIX + account_id
        pipe = self.client.pipeline()
        pipe.set(key, json.dumps(record), ex=seconds)
        pipe.sadd(of_account, key)
        pipe.ttl(of_account)
        ttl = pipe.execute()[-1]
        if ttl < seconds:  # the set lasts as long as the longest of its sessions
            self.client.expire(of_account, seconds)
        return session_id

    def session(self, session_id: str) -> OrganiserSession | None:
        """The session's account (and token hash), while it lasts."""
        try:
            raw = self.client.get(self.key(session_id))
        except RedisError:
            return None
        try:
            record = json.loads(raw) if raw else None
        except ValueError:
            return None
        if not isinstance(record, dict) or record.get("expires", 0) <= time.time():
            return None
        account_id, token_hash = record.get("account_id"), record.get("token_hash")
        if not isinstance(account_id, str):
            return None
        return OrganiserSession(account_id, token_hash if isinstance(token_hash, str) else None)

    def account_id(self, session_id: str) -> str | None:
        found = self.session(session_id)
        return found.account_id if found is not None else None

    def end(self, session_id: str) -> None:
        key = self.key(session_id)
        try:
            found = self.session(session_id)
            pipe = self.client.pipeline()
            pipe.delete(key)
            if found is not None:
                pipe.srem(ACCOUNT_SESSIONS_PREFIX + found.account_id, key)
            pipe.execute()
        except RedisError:
            pass  # it expires on its own; this browser's cookie is removed anyway

    def end_all(self, account_id: str) -> bool:
        """End every session of an account (False if Redis could not be reached: each service
        still refuses a disabled account's sessions, from its own copy)."""
        of_account = ACCOUNT_SESSIONS_PREFIX + account_id
        try:
            keys = self.client.smembers(of_account)
            self.client.delete(of_account, *keys)
        except RedisError:
            return False
        return True


@dataclass(frozen=True)
class ParticipantClaim:
    registration_id: str
    token_version: int


class ParticipantTokens:
    """Signed with SECRET_KEY; bumping a registration's token_version revokes its old links."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=_PARTICIPANT_SALT)

    def sign(self, registration_id: str, token_version: int) -> str:
        return str(self._serializer.dumps([registration_id, token_version]))

    def verify(self, token: str) -> ParticipantClaim | None:
        try:
            registration_id, version = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(registration_id, str) or not isinstance(version, int):
            return None
        return ParticipantClaim(registration_id, version)


class EmailConfirmationTokens(ParticipantTokens):
    """The link that confirms a participant's address: only ever emailed, never answered by
    the API. Its own salt: a manage link confirms nothing, a confirmation link manages nothing."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=_EMAIL_CONFIRMATION_SALT)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
