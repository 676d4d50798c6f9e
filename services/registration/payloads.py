"""The parts of this service's events (shared.contracts), built from its rows.

Programme, seat and registration changes all announce themselves with these parts, so
they sit below every domain module: each of them imports this one, never the other way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.registration.models import Outbox, Registration, Seat
from shared import contracts
from shared.outbox import add_event


def event_info(event: Any) -> dict[str, Any]:
    return contracts.part_from(contracts.EventInfo, event)


def session_info(session: Any) -> dict[str, Any]:
    return contracts.part_from(contracts.SessionInfo, session)


def participant_info(registration: Registration) -> dict[str, Any]:
    return {
        "registration_id": registration.id,
        "email": registration.email,
        "name": registration.name,
        "language": registration.language,
        "token_version": registration.token_version,
        "organisation": registration.organisation,
        "city": registration.city,
        "country": registration.country,
        "role": registration.role,
    }


def seat_info(seat: Seat, position: int | None, reason: str | None = None) -> dict[str, Any]:
    info = {
        "session": session_info(seat.session),
        "status": seat.status,
        "waitlist_position": position,
        "hold_expires_at": seat.hold_expires_at,
    }
    if reason is not None:
        info["reason"] = reason
    return info


def seat_event(
    db: Session,
    name: str,
    registration: Registration,
    seat: Seat,
    position: int | None,
    reason: str | None = None,
) -> None:
    """Write the event of one seat's change (confirmed, held, waitlisted, promoted, released);
    `reason` says why where the name does not (contracts.SEAT_REASONS)."""
    add_event(
        db,
        Outbox,
        name,
        {
            "event": event_info(registration.event),
            "participant": participant_info(registration),
            "seat": seat_info(seat, position, reason),
        },
        subject=registration.id,
    )
