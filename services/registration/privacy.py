"""Erasure and export of a person's data, here and in every other service. No Flask here.

Erasure deletes everything held here at once and announces `registration.erased`; each
service confirms its own erasure. Once all have, the broker rewrites its append-only file,
which keeps every message ever sent about the person until then. Export shows this service's
data now and the other services' parts as they answered the latest `privacy.export_requested`.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import redis
import structlog
from celery import current_app as current_celery
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.registration.models import DeadLetter, Erasure, ExportPart, Outbox, Registration
from services.registration.seats import release_seat, seat_results
from shared import deadletters
from shared.contracts import ERASING_SERVICES, TaskNames
from shared.db import after_commit, forget_deleted_rows, new_id, utcnow
from shared.outbox import add_event

log = structlog.get_logger(__name__)
EXPORT_REFRESH = timedelta(minutes=10)
# How long to wait for a rewrite in progress (Redis runs one at a time) before asking again.
REWRITE_WAIT_SECONDS = 60.0


def erase(db: Session, registration: Registration) -> Erasure:
    """Delete everything held on the person and tell the other services to do the same."""
    for seat in sorted(registration.seats, key=lambda s: s.session_id):
        release_seat(db, seat)
    slug = registration.event.slug
    # Earlier events about the person carry their name and address: they go too.
    db.execute(delete(Outbox).where(Outbox.subject_id == registration.id))
    deadletters.forget(db, DeadLetter, registration.id)
    add_event(
        db, Outbox, TaskNames.ERASED, {"registration_id": registration.id, "event_slug": slug}
    )
    record = Erasure(registration_id=registration.id, event_slug=slug, confirmed_by=[])
    db.add(record)
    db.delete(registration)
    forget_deleted_rows(db)
    return record


def record_erasure_confirmation(db: Session, message: dict[str, Any]) -> None:
    """A service has erased its copy; the erasure is complete once every service has."""
    record = db.get(Erasure, message["registration_id"])
    if record is None or message["service"] in record.confirmed_by:
        return
    record.confirmed_by = sorted({*record.confirmed_by, message["service"]})
    if set(record.confirmed_by) >= set(ERASING_SERVICES):
        record.completed_at = message["occurred_at"]
        after_commit(db, lambda: rewrite_broker_log(current_celery.conf.broker_url))


def rewrite_broker_log(broker_url: str) -> bool:
    """Have a Redis broker that keeps an append-only file (the embedded one, the compose one)
    rewrite it from what it holds now: the messages consumed long ago, and the personal data
    in them, are left out. False if it could not be asked (logged; the next erasure asks again).
    """
    client = redis.Redis.from_url(broker_url, socket_timeout=5)
    deadline = time.monotonic() + REWRITE_WAIT_SECONDS
    try:
        if client.config_get("appendonly").get("appendonly") != "yes":
            return True
        while True:
            try:
                client.bgrewriteaof()
                return True
            except redis.ResponseError as error:
                # One rewrite is running already, from before this erasure: ask once it ends.
                if "in progress" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    except redis.RedisError as error:
        log.warning("broker.log_not_rewritten", error=type(error).__name__)
        return False
    finally:
        client.close()


def erasure_status(record: Erasure) -> dict[str, Any]:
    return {
        "id": record.registration_id,
        "event": record.event_slug,
        "requested_at": record.requested_at.isoformat(),
        "confirmed_by": record.confirmed_by,
        "pending": sorted(set(ERASING_SERVICES) - set(record.confirmed_by)),
        "completed_at": record.completed_at.isoformat() if record.completed_at else None,
    }


def export(db: Session, registration: Registration) -> dict[str, Any]:
    seats = seat_results(db, registration.seats)
    return {
        "registration": {
            "id": registration.id,
            "event": registration.event.slug,
            "name": registration.name,
            "email": registration.email,
            "organisation": registration.organisation,
            "city": registration.city,
            "country": registration.country,
            "role": registration.role,
            "language": registration.language,
            "consent_at": registration.consent_at.isoformat(),
            "status": registration.status,
            "created_at": registration.created_at.isoformat(),
            "cancelled_at": (
                registration.cancelled_at.isoformat() if registration.cancelled_at else None
            ),
            "email_confirmed_at": (
                registration.email_confirmed_at.isoformat()
                if registration.email_confirmed_at
                else None
            ),
        },
        "sessions": [vars(seat) for seat in seats],
    }


def export_everywhere(db: Session, registration: Registration) -> dict[str, Any]:
    """This service's data now, the other services' as they answered the latest request.

    A request older than EXPORT_REFRESH (or none) is made anew: each service answers with
    a `privacy.export_part`, and the next call shows it.
    """
    now = utcnow()
    requested = registration.export_requested_at
    if requested is None or now - requested > EXPORT_REFRESH:
        registration.export_request_id = new_id()
        registration.export_requested_at = now
        add_event(
            db,
            Outbox,
            TaskNames.EXPORT_REQUESTED,
            {"registration_id": registration.id, "request_id": registration.export_request_id},
            subject=registration.id,
        )
    parts = {
        part.service: part
        for part in db.scalars(
            select(ExportPart).where(ExportPart.registration_id == registration.id)
        )
    }
    services: dict[str, Any] = {"registration": export(db, registration)}
    for service in ERASING_SERVICES:
        part = parts.get(service)
        services[service] = (
            {"received_at": part.received_at.isoformat(), "data": part.data} if part else None
        )
    pending = [s for s in ERASING_SERVICES if services[s] is None]
    return {
        "requested_at": registration.export_requested_at.isoformat(),
        "complete": not pending,
        "pending": pending,
        "services": services,
    }


def store_export_part(db: Session, message: dict[str, Any]) -> None:
    """Keep a service's answer (replacing its previous one) unless the person is gone."""
    if db.get(Registration, message["registration_id"]) is None:
        return
    db.execute(
        delete(ExportPart).where(
            ExportPart.registration_id == message["registration_id"],
            ExportPart.service == message["service"],
        )
    )
    db.add(
        ExportPart(
            registration_id=message["registration_id"],
            request_id=message["request_id"],
            service=message["service"],
            data=message["data"],
        )
    )
