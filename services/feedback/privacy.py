"""A participant's personal data here: erased on request, exported on request.

Both arrive as registration events (`HANDLERS`); each answers with an outbox event (the
erasure confirmed, this service's part of the export). An erasure leaves a tombstone (the
registration id) so that no later event about the person brings them back (readmodel).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.feedback.models import (
    CONFIRMED,
    Attendance,
    DeadLetter,
    Endorsement,
    ErasedRegistration,
    Feedback,
    Invitation,
    Outbox,
    Participant,
    ProgrammeSession,
    Recommendation,
    Report,
    ThemeMember,
)
from services.feedback.readmodel import count_seat, is_erased, mark_report_dirty
from services.feedback.submissions import all_my_feedback
from shared import deadletters
from shared.auth import ParticipantClaim
from shared.contracts import TaskNames
from shared.db import forget_deleted_rows, utcnow
from shared.outbox import add_event

SERVICE = "feedback"  # how the answers name this service (domain code imports no Flask)


def erase_participant(db: Session, registration_id: str) -> bool:
    """Delete everything held on a person here, for good; True if they had given feedback."""
    if not is_erased(db, registration_id):  # waits for an event about them being handled
        db.add(ErasedRegistration(registration_id=registration_id))
    deadletters.forget(db, DeadLetter, registration_id)
    participant = db.get(Participant, registration_id)
    had_feedback = False
    if participant is not None:
        confirmed = db.scalars(
            select(Attendance.session_id).where(
                Attendance.registration_id == registration_id, Attendance.status == CONFIRMED
            )
        ).all()
        for session_id in sorted(confirmed):
            count_seat(db, db.get_one(ProgrammeSession, session_id), registration_id, -1)
        had_feedback = participant.responses > 0
        for model in (Endorsement, Feedback, Attendance, ThemeMember):
            db.execute(delete(model).where(model.registration_id == registration_id))
        event_id = participant.event_id
        db.delete(participant)
        if had_feedback:
            # The stored report may quote them: drop it; the next reader gets a fresh one.
            db.execute(
                update(Report)
                .where(Report.event_id == event_id)
                .values(data=None, built_at=utcnow(), keyword_cache={})
            )
            mark_report_dirty(db, event_id)
    db.execute(delete(Invitation).where(Invitation.registration_id == registration_id))
    # Events about them not yet sent (invitations) go too: there is no one to invite.
    db.execute(delete(Outbox).where(Outbox.subject_id == registration_id))
    db.flush()
    forget_deleted_rows(db)
    return had_feedback


def on_erased(db: Session, message: dict[str, Any]) -> None:
    erase_participant(db, message["registration_id"])
    add_event(
        db,
        Outbox,
        TaskNames.ERASURE_CONFIRMED,
        {"registration_id": message["registration_id"], "service": SERVICE},
        subject=message["registration_id"],
    )


def export_participant(db: Session, registration_id: str) -> dict[str, Any]:
    """Everything held here on a person, JSON-ready (their part of a personal-data export)."""
    participant = db.get(Participant, registration_id)
    if participant is None:
        return {"held": False}
    seats = db.execute(
        select(ProgrammeSession.code, Attendance.status)
        .join(ProgrammeSession, ProgrammeSession.id == Attendance.session_id)
        .where(Attendance.registration_id == registration_id)
        .order_by(ProgrammeSession.starts_at, ProgrammeSession.code)
    ).all()
    texts = dict(
        db.execute(
            select(Recommendation.id, Recommendation.text)
            .join(Endorsement, Endorsement.recommendation_id == Recommendation.id)
            .where(Endorsement.registration_id == registration_id)
        ).all()
    )
    feedback = []
    for item in all_my_feedback(db, ParticipantClaim(registration_id, participant.token_version)):
        feedback.append(
            {
                **item,
                "endorsements": [
                    {"recommendation": texts.get(int(rid), rid), "value": value}
                    for rid, value in item["endorsements"].items()
                ],
                "created_at": item["created_at"].isoformat(),
                "updated_at": item["updated_at"].isoformat(),
            }
        )
    invited = db.execute(
        select(ProgrammeSession.code, Invitation.created_at)
        .join(ProgrammeSession, ProgrammeSession.id == Invitation.session_id)
        .where(Invitation.registration_id == registration_id)
        .order_by(Invitation.created_at)
    ).all()
    return {
        "held": True,
        "participant": {
            "registration_id": registration_id,
            "language": participant.language,
            "country": participant.country,
            "city": participant.city,
            "role": participant.role,
            "status": participant.status,
        },
        "sessions": [{"code": code, "status": status} for code, status in seats],
        "feedback": feedback,
        "invitations": [{"session": code, "sent_at": at.isoformat()} for code, at in invited],
    }


def on_export_requested(db: Session, message: dict[str, Any]) -> None:
    add_event(
        db,
        Outbox,
        TaskNames.EXPORT_PART,
        {
            "registration_id": message["registration_id"],
            "request_id": message["request_id"],
            "service": SERVICE,
            "data": export_participant(db, message["registration_id"]),
        },
        subject=message["registration_id"],
    )


HANDLERS = {
    TaskNames.ERASED: on_erased,
    TaskNames.EXPORT_REQUESTED: on_export_requested,
}
