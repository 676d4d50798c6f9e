"""Invitations to give feedback, once a session has been over for a while.

One row per (participant, session) under a unique key, written with its outbox event in one
transaction, so a second run or a second worker sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from services.feedback.models import (
    CONFIRMED,
    Attendance,
    Event,
    Invitation,
    Outbox,
    ProgrammeSession,
)
from shared import contracts
from shared.contracts import TaskNames
from shared.db import Database, utcnow
from shared.outbox import add_event
from shared.sql import dialect_insert

log = structlog.get_logger(__name__)


# Invitations are written in batches, each batch one short transaction.
INVITATION_BATCH = 500


def event_info(event: Any) -> dict[str, Any]:
    return contracts.part_from(contracts.EventInfo, event)


def session_info(session: Any) -> dict[str, Any]:
    return contracts.part_from(contracts.SessionInfo, session)


def due_sessions(db: Session, now: datetime, delay: timedelta) -> list[ProgrammeSession]:
    """Sessions over for `delay` whose event still takes feedback."""
    return list(
        db.scalars(
            select(ProgrammeSession)
            .join(Event, Event.id == ProgrammeSession.event_id)
            .where(ProgrammeSession.ends_at <= now - delay, Event.feedback_closes_at > now)
            .order_by(ProgrammeSession.ends_at, ProgrammeSession.id)
        ).all()
    )


def _uninvited(db: Session, session_id: int, limit: int) -> list[str]:
    return list(
        db.scalars(
            select(Attendance.registration_id)
            .outerjoin(
                Invitation,
                and_(
                    Invitation.registration_id == Attendance.registration_id,
                    Invitation.session_id == Attendance.session_id,
                ),
            )
            .where(
                Attendance.session_id == session_id,
                Attendance.status == CONFIRMED,
                Invitation.id.is_(None),
            )
            .order_by(Attendance.registration_id)
            .limit(limit)
        ).all()
    )


def _invite_batch(db: Session, session: ProgrammeSession, now: datetime) -> tuple[int, bool]:
    """Invite up to a batch of a session's attendees; (invited, more may be left)."""
    candidates = _uninvited(db, session.id, INVITATION_BATCH)
    claim = (
        dialect_insert(db, Invitation)
        .on_conflict_do_nothing(index_elements=["registration_id", "session_id"])
        .returning(Invitation.id)
    )
    event = info = None
    invited = 0
    for registration_id in candidates:
        # The unique key is the claim: another worker's row makes this insert a no-op.
        won = db.execute(
            claim.values(registration_id=registration_id, session_id=session.id, created_at=now)
        ).scalar()
        if won is None:
            continue
        if info is None:
            event, info = event_info(session.event), session_info(session)
        add_event(
            db,
            Outbox,
            TaskNames.FEEDBACK_INVITATION,
            {"registration_id": registration_id, "event": event, "session": info},
            subject=registration_id,
        )
        invited += 1
    return invited, len(candidates) == INVITATION_BATCH


def send_due_invitations(database: Database, delay: timedelta, now: datetime | None = None) -> int:
    """Invite every confirmed attendee of every session over for `delay`, once; how many now."""
    now = now or utcnow()
    with database.transaction() as db:
        session_ids = [s.id for s in due_sessions(db, now, delay)]
    total = 0
    for session_id in session_ids:
        more = True
        while more:
            with database.transaction() as db:
                session = db.get(ProgrammeSession, session_id)
                if session is None:
                    break
                invited, more = _invite_batch(db, session, now)
            total += invited
    if total:
        log.info("feedback.invitations_written", count=total)
    return total
