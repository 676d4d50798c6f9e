"""The feedback service's tables: a read model of the programme and its participants, the
feedback itself, draft recommendations and their endorsements, invitations and reports.

Participants are kept without name or email: only what eligibility needs (token version,
seats) and what the report shows in aggregate (country, city, role).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
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
from shared.consumer import ErasedRegistrationMixin, ProcessedEventMixin
from shared.db import UTCDateTime, utcnow
from shared.deadletters import DeadLetterMixin
from shared.formats import foreign, in_language
from shared.outbox import OutboxMixin

CONFIRMED = "confirmed"
WAITLISTED = "waitlisted"
ACTIVE = "active"
CANCELLED = "cancelled"
RATINGS = (1, 2, 3, 4, 5)
ENDORSEMENT_VALUES = (-2, -1, 0, 1, 2)
# Translations added after rows existed: those rows get none ({} is valid JSON in both databases).
NO_TEXTS = "{}"


def entered_language(text: str, translations: dict[str, Any], language: str | None) -> str | None:
    """The `lang` attribute of a text shown on a page in `language`: None when the page's
    translation exists, else the language whose translation is the text as entered (None when
    that is not known either: a page never claims a language it cannot tell)."""
    if translations.get(language or ""):
        return None
    known = sorted(code for code, value in translations.items() if value == text)
    return foreign(known[0] if known else None, language)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Event(Base):
    """An event as the registration service published it."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    title_translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    city: Mapped[str] = mapped_column(String(120))
    city_translations: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=NO_TEXTS)
    timezone: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    feedback_closes_at: Mapped[datetime]

    sessions: Mapped[list[ProgrammeSession]] = relationship(
        back_populates="event", order_by="(ProgrammeSession.starts_at, ProgrammeSession.code)"
    )

    def title_in(self, language: str | None) -> str:
        return in_language(self.title, self.title_translations, language)

    def city_in(self, language: str | None) -> str:
        return in_language(self.city, self.city_translations, language)


class ProgrammeSession(Base):
    """A session; `attendees` counts its confirmed seats (kept with every seat change)."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("event_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    title_translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kind: Mapped[str] = mapped_column(String(20))
    # `theme` as entered is the key sessions and recommendations group by; readers see its
    # translation.
    theme: Mapped[str] = mapped_column(String(120))
    theme_translations: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=NO_TEXTS
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    room: Mapped[str] = mapped_column(String(200), default="")
    room_translations: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=NO_TEXTS)
    language: Mapped[str] = mapped_column(String(8), default="")
    attendees: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    event: Mapped[Event] = relationship(back_populates="sessions")

    def title_in(self, language: str | None) -> str:
        return in_language(self.title, self.title_translations, language)

    def theme_in(self, language: str | None) -> str:
        return in_language(self.theme, self.theme_translations, language)

    def room_in(self, language: str | None) -> str:
        return in_language(self.room, self.room_translations, language)

    def theme_lang(self, language: str | None) -> str | None:
        return entered_language(self.theme, self.theme_translations, language)

    def room_lang(self, language: str | None) -> str | None:
        return entered_language(self.room, self.room_translations, language)


class Participant(Base):
    """A registration, without name or address: what eligibility and the aggregates need."""

    __tablename__ = "participants"

    registration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    token_version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(2))
    country: Mapped[str] = mapped_column(String(2), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(12), default=ACTIVE)
    # How many sessions they rated: the report counts respondents without a DISTINCT.
    responses: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attendance(Base):
    """One participant's seat in one session (a released seat is deleted)."""

    __tablename__ = "attendance"

    registration_id: Mapped[str] = mapped_column(
        ForeignKey("participants.registration_id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(String(12))


class ThemeMember(Base):
    """A participant with confirmed seats in a theme's sessions (`seats` of them), kept with
    every seat change, so the report counts people per theme without scanning every seat."""

    __tablename__ = "theme_members"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    theme: Mapped[str] = mapped_column(String(120), primary_key=True)
    registration_id: Mapped[str] = mapped_column(
        ForeignKey("participants.registration_id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    seats: Mapped[int] = mapped_column(Integer)


class Feedback(Base):
    """One participant's rating of one session; `language` is theirs, for keyword extraction."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("registration_id", "session_id"),
        # Covers the summaries: GROUP BY rating per session reads this index only.
        Index("ix_feedback_session_rating", "session_id", "rating"),
        # Comments per session and language: counted from the index alone, and the newest
        # of each read in index order for the report's sample.
        Index(
            "ix_feedback_comments",
            "session_id",
            "language",
            "id",
            sqlite_where=text("comment IS NOT NULL"),
            postgresql_where=text("comment IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[str] = mapped_column(
        ForeignKey("participants.registration_id", ondelete="CASCADE")
    )
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recommendation(Base):
    """A draft policy recommendation for one theme, written by the organisers."""

    __tablename__ = "recommendations"
    __table_args__ = (Index("ix_recommendations_event_theme", "event_id", "theme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    theme: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    # The language it is written in (fr, nl, en), or None when not known.
    language: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Endorsement(Base):
    """A participant's opinion (-2..+2) of a recommendation: one per person, the latest wins.

    `feedback_id` is the feedback it was given with; replacing that feedback replaces it.
    """

    __tablename__ = "endorsements"

    registration_id: Mapped[str] = mapped_column(
        ForeignKey("participants.registration_id", ondelete="CASCADE"), primary_key=True
    )
    recommendation_id: Mapped[int] = mapped_column(
        ForeignKey("recommendations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    feedback_id: Mapped[int] = mapped_column(
        ForeignKey("feedback.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """Proof that one attendee was invited to rate one session: the unique key sends it once."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("registration_id", "session_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[str] = mapped_column(String(32), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    """The latest built report of an event, and since when it is out of date (if it is)."""

    __tablename__ = "reports"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # Keywords per theme and language with the digest of the comments they came from.
    keyword_cache: Mapped[dict[str, Any]] = mapped_column(default=dict)
    built_at: Mapped[datetime | None]
    # Since when changes are missing from `data` (None: it is up to date) ...
    dirty_since: Mapped[datetime | None]
    # ... and whether a submission has already queued the rebuild that will add them.
    rebuild_scheduled: Mapped[bool] = mapped_column(default=False, server_default=false())


class Outbox(OutboxMixin, Base):
    pass


class OrganiserAccount(OrganiserAccountMixin, Base):
    """An organiser account as the registration service's events last described it."""


class OrganiserRole(OrganiserRoleMixin, Base):
    pass


class OrganiserToken(OrganiserTokenMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class ErasedRegistration(ErasedRegistrationMixin, Base):
    pass


class DeadLetter(DeadLetterMixin, Base):
    """A message this service gave up on, for organisers to read and replay."""


class AuditEntry(AuditEntryMixin, Base):
    """Who changed what, and who read personal data, in this service (shared.audit)."""
