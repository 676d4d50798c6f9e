"""The notifier's tables: who to write to, what was sent, and the local mail catcher's inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.accounts import OrganiserAccountMixin, OrganiserRoleMixin
from shared.audit import AuditEntryMixin
from shared.auth import OrganiserTokenMixin
from shared.consumer import ErasedRegistrationMixin, ProcessedEventMixin
from shared.db import UTCDateTime, new_id, utcnow
from shared.deadletters import DeadLetterMixin
from shared.outbox import OutboxMixin

QUEUED = "queued"
SENT = "sent"
RETRYING = "retrying"
FAILED = "failed"
STATUSES = (QUEUED, SENT, RETRYING, FAILED)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Recipient(Base):
    """A participant as the registration events last described them (deleted on erasure)."""

    __tablename__ = "recipients"

    registration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    token_version: Mapped[int] = mapped_column(Integer)
    event_slug: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnownSession(Base):
    """A programme session as events describe it: titles and times for emails, no personal data."""

    __tablename__ = "sessions"

    event_slug: Mapped[str] = mapped_column(String(80), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One email: rendered once, then delivered at most once per claim (the delivery log)."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # f"{event_id}:{template}": the same event never makes the same email twice.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    registration_id: Mapped[str | None] = mapped_column(String(32), index=True)
    to_address: Mapped[str] = mapped_column(String(254), default="", index=True)
    template: Mapped[str] = mapped_column(String(40), index=True)
    language: Mapped[str] = mapped_column(String(8), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    # A worker holds the message until then; after it, a crashed worker's claim lapses.
    claimed_until: Mapped[datetime | None]
    give_up_at: Mapped[datetime | None]
    message_id: Mapped[str] = mapped_column(String(255), default="")
    # The email as it goes over SMTP; emptied once sent (it holds the personal link).
    mime: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class ErasedRegistration(ErasedRegistrationMixin, Base):
    pass


class CaughtMessage(Base):
    """An email received by the local mail catcher (development: SMTP_HOST unset)."""

    __tablename__ = "caught_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    mail_from: Mapped[str] = mapped_column(String(254), default="")
    # Lower-case addresses, each on its own line with newlines around: "\na@x\nb@y\n".
    envelope_to: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class OrganiserAccount(OrganiserAccountMixin, Base):
    """An organiser account as the registration service's events last described it."""


class OrganiserRole(OrganiserRoleMixin, Base):
    pass


class OrganiserToken(OrganiserTokenMixin, Base):
    pass


class DeadLetter(DeadLetterMixin, Base):
    """A message this service gave up on, for organisers to read and replay."""


class AuditEntry(AuditEntryMixin, Base):
    """Who changed what, and who read personal data, in this service (shared.audit)."""
