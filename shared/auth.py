"""Organiser bearer tokens (stored hashed) and participant tokens (signed, revocable)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer
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
    if env_token and hmac.compare_digest(token.encode(), env_token.encode()):
        return True
    row = session.scalar(select(model).where(model.token_hash == hash_token(token)))
    return row is not None and row.revoked_at is None


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
