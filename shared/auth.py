"""Organiser bearer tokens (stored hashed), organiser web sessions (kept in Redis, revocable)
and participant tokens (signed, revocable)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db import UTCDateTime, utcnow

ORGANISER_TOKEN_PREFIX = "org_"
_PARTICIPANT_SALT = "participant-token"


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


def organiser_token_is_valid(
    session: Session, model: type[OrganiserTokenMixin], token: str, env_token: str | None
) -> bool:
    return organiser_token_hash_is_valid(session, model, hash_token(token), env_token)


def organiser_token_hash_is_valid(
    session: Session, model: type[OrganiserTokenMixin], token_hash: str, env_token: str | None
) -> bool:
    """Whether the token with this SHA-256 is ORGANISER_TOKEN or a stored, unrevoked token."""
    if env_token and hmac.compare_digest(token_hash, hash_token(env_token)):
        return True
    row = session.scalar(select(model).where(model.token_hash == token_hash))
    return row is not None and row.revoked_at is None


class OrganiserSessions:
    """Organiser web sessions of one service, in Redis: the browser holds a random id, Redis
    (under the id's SHA-256, with an expiry) the hash of the token that signed in, so signing
    out deletes the session and a revoked token ends its sessions at their next request.

    Redis unreachable: nobody is signed in (and signing in fails with `RedisError`).
    """

    def __init__(self, redis_url: str, service: str) -> None:
        self._redis_url, self._prefix = redis_url, f"agora:{service}:organiser-session:"
        self._client: Redis | None = None

    @property
    def client(self) -> Redis:
        # Created on first use: an app that never signs anyone in never connects.
        if self._client is None:
            self._client = Redis.from_url(
                self._redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
            )
        return self._client

    def _key(self, session_id: str) -> str:
        return self._prefix + hash_token(session_id)

    def start(self, token_hash: str, seconds: int) -> str:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        record = {"token_hash": token_hash, "created": now, "expires": now + seconds}
        self.client.set(self._key(session_id), json.dumps(record), ex=seconds)
        return session_id

    def token_hash(self, session_id: str) -> str | None:
        """The hash of the token that signed this session in, while the session lasts."""
        try:
            raw = self.client.get(self._key(session_id))
        except RedisError:
            return None
        record = json.loads(raw) if raw else None
        if not isinstance(record, dict) or record.get("expires", 0) <= time.time():
            return None
        token_hash = record.get("token_hash")
        return token_hash if isinstance(token_hash, str) else None

    def end(self, session_id: str) -> None:
        try:
            self.client.delete(self._key(session_id))
        except RedisError:
            pass  # it expires on its own; this browser's cookie is removed anyway


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


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
