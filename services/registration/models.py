"""The registration service's tables: events, sessions, registrations and their seats; the
organiser accounts (the only copy with passwords and second factors) and their one-time links."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.accounts import OrganiserAccountMixin, OrganiserRoleMixin
from shared.audit import AuditEntryMixin
from shared.auth import OrganiserTokenMixin
from shared.consumer import ProcessedEventMixin
from shared.db import UTCDateTime, new_id, utcnow
from shared.deadletters import DeadLetterMixin
from shared.outbox import OutboxMixin

SESSION_KINDS = ("plenary", "thematic", "panel", "field_visit")
ROLES = (
    "elected_official",
    "local_government",
    "magistrate",
    "police_security",
    "social_worker",
    "researcher",
    "civil_society",
    "national_government",
    "european_institution",
    "private_sector",
    "journalist",
    "other",
)
CONFIRMED = "confirmed"
WAITLISTED = "waitlisted"
# Taken and counted in `seats_taken`, but only until `hold_expires_at` unless the email is
# confirmed first; a held seat is never an attended one.
HELD = "held"
# Bounds of a session's `hold_minutes`: five minutes to one week.
HOLD_MINUTES_MIN = 5
HOLD_MINUTES_MAX = 10080
# Rows written before a translated column existed hold no translation: {} on both databases.
NO_TRANSLATIONS = text("'{}'")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    title_translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    city: Mapped[str] = mapped_column(String(120))
    city_translations: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=NO_TRANSLATIONS
    )
    timezone: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    registration_opens_at: Mapped[datetime]
    registration_closes_at: Mapped[datetime]
    feedback_closes_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sessions: Mapped[list[ProgrammeSession]] = relationship(
        back_populates="event", order_by="ProgrammeSession.starts_at"
    )


class ProgrammeSession(Base):
    """A plenary, thematic session, panel or field visit; `seats_taken` is the claimed count."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("event_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    title_translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    description_translations: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=NO_TRANSLATIONS
    )
    kind: Mapped[str] = mapped_column(String(20))
    # `theme` as entered is the key feedback groups by; its translations are what readers see.
    theme: Mapped[str] = mapped_column(String(120))
    theme_translations: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=NO_TRANSLATIONS
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    room: Mapped[str] = mapped_column(String(200), default="")
    room_translations: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=NO_TRANSLATIONS
    )
    capacity: Mapped[int | None] = mapped_column(Integer)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    waitlist_counter: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Each speaker is {"name", "organisation", "bio": {fr, nl, en}}; a name may be empty when
    # the programme names a speaker by function only (the bio then says who speaks).
    speakers: Mapped[list[Any]] = mapped_column(default=list)
    language: Mapped[str] = mapped_column(String(8), default="")
    # Minutes a seat is held for a person whose email is not confirmed; None: no confirmation.
    hold_minutes: Mapped[int | None] = mapped_column(Integer)

    event: Mapped[Event] = relationship(back_populates="sessions")

    def title_in(self, language: str | None) -> str:
        return str(self.title_translations.get(language or "", self.title))


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("event_id", "email"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    country: Mapped[str] = mapped_column(String(2))
    role: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2))
    consent_at: Mapped[datetime]
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]
    # The latest request for an export from the other services, and when it was made.
    export_request_id: Mapped[str | None] = mapped_column(String(32))
    export_requested_at: Mapped[datetime | None]
    # Set once by the link in the confirmation email; a confirmed address stays confirmed.
    email_confirmed_at: Mapped[datetime | None]

    event: Mapped[Event] = relationship()
    seats: Mapped[list[Seat]] = relationship(
        back_populates="registration", cascade="all, delete-orphan"
    )


class Seat(Base):
    """One person's place in one session: confirmed, held, or waitlisted in `waitlist_seq` order."""

    __tablename__ = "seats"
    __table_args__ = (
        UniqueConstraint("registration_id", "session_id"),
        Index("ix_seats_waitlist", "session_id", "status", "waitlist_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[str] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12))
    waitlist_seq: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    hold_expires_at: Mapped[datetime | None] = mapped_column(index=True)

    registration: Mapped[Registration] = relationship(back_populates="seats")
    session: Mapped[ProgrammeSession] = relationship()


class Outbox(OutboxMixin, Base):
    pass


class OrganiserAccount(OrganiserAccountMixin, Base):
    """An organiser account with what only this service holds: how its owner signs in."""

    # argon2id; None until a password is set (an invitation or a sign-in link then signs in).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Base32; set when a second factor is being set up, in use once `totp_confirmed_at` is set.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # An admin's demand: the owner must set a second factor up before going further.
    totp_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    totp_confirmed_at: Mapped[datetime | None]
    # The time step of the last code accepted, so that a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    last_sign_in_at: Mapped[datetime | None]


class OrganiserRole(OrganiserRoleMixin, Base):
    pass


class OrganiserToken(OrganiserTokenMixin, Base):
    pass


LINK_PURPOSES = ("sign_in", "password_reset", "invitation")


class OrganiserLink(Base):
    """A one-time emailed link for an account: only the hash of its token is kept."""

    __tablename__ = "organiser_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("organiser_accounts.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Erasure(Base):
    """Proof that an erasure was asked for and done everywhere; holds no personal data."""

    __tablename__ = "erasures"

    registration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_slug: Mapped[str] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_by: Mapped[list[Any]] = mapped_column(default=list)
    completed_at: Mapped[datetime | None]


class ExportPart(Base):
    """Another service's data on a participant, kept until the next export or erasure."""

    __tablename__ = "export_parts"
    __table_args__ = (UniqueConstraint("registration_id", "service"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[str] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    request_id: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetter(DeadLetterMixin, Base):
    """A message this service gave up on, for organisers to read and replay."""


class AuditEntry(AuditEntryMixin, Base):
    """Who changed what, and who read personal data, in this service (shared.audit)."""
