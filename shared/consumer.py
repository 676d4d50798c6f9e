"""The receiving side of the contracts: validate, run once per event id, never crash the worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import contracts
from shared.db import Database, UTCDateTime, utcnow

log = structlog.get_logger(__name__)

Handler = Callable[[Session, dict[str, Any]], None]


class ProcessedEventMixin:
    """One row per event a service has acted on: the key that makes every task safe twice."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(80))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ErasedRegistrationMixin:
    """Registration ids erased here (random ids, no one is identified by them): a late,
    repeated or reordered event about one of them is about nobody any more and is dropped
    instead of creating the person again."""

    __tablename__ = "erased_registrations"

    registration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def handle_once(
    database: Database, model: type[Any], name: str, kwargs: dict[str, Any], handler: Handler
) -> bool:
    """Run `handler` for a message unless its event was handled already; True if it ran.

    A message that breaks its contract is logged and dropped: retrying cannot fix it.
    The handler's writes and the processed-event row commit together, so a duplicate
    delivered to a second worker at the same moment rolls back on the primary key.
    """
    try:
        message = contracts.load(name, kwargs)
    except contracts.ContractError as error:
        log.error("contract.rejected", task=name, error=str(error))
        return False
    try:
        with database.transaction() as session:
            if session.get(model, message["event_id"]) is not None:
                log.info("event.duplicate", task=name, event_id=message["event_id"])
                return False
            handler(session, message)
            session.add(model(event_id=message["event_id"], task_name=name))
    except IntegrityError:
        # Only a clash on the processed-event key means another worker handled it.
        with database.transaction() as session:
            if session.get(model, message["event_id"]) is None:
                raise
        log.info("event.duplicate_concurrent", task=name, event_id=message["event_id"])
        return False
    return True
