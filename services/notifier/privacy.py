"""What the notifier holds on a person: exported on request, erased on request.

Both answer through the outbox (`export_part`, `erasure_confirmed`), in the transaction that
handles the request. An erasure forgets the recipient, every email to them, the mail
catcher's copies and the export answers not yet relayed, and remembers the registration id
so that a late event about the person is ignored. An erasure and an event about the same
person queue behind each other (`is_erased` waits), so the two workers never both pass.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.notifier.extensions import SERVICE
from services.notifier.models import (
    CaughtMessage,
    DeadLetter,
    ErasedRegistration,
    Message,
    Outbox,
    Recipient,
)
from shared import consumer, deadletters
from shared.contracts import TaskNames
from shared.db import forget_deleted_rows
from shared.outbox import add_event


def is_erased(db: Session, registration_id: str) -> bool:
    return consumer.is_erased(db, ErasedRegistration, registration_id)


def export(db: Session, registration_id: str, request_id: str) -> None:
    """Answer an export request with what this service holds on the person."""
    recipient = db.get(Recipient, registration_id)
    messages = db.scalars(
        select(Message)
        .where(Message.registration_id == registration_id)
        .order_by(Message.created_at)
    ).all()
    data = {
        "recipient": None
        if recipient is None
        else {"email": recipient.email, "name": recipient.name, "language": recipient.language},
        "emails": [
            {
                "to": message.to_address,
                "template": message.template,
                "language": message.language,
                "subject": message.subject,
                "status": message.status,
                "created_at": message.created_at.isoformat(),
                "sent_at": message.sent_at.isoformat() if message.sent_at else None,
            }
            for message in messages
        ],
    }
    add_event(
        db,
        Outbox,
        TaskNames.EXPORT_PART,
        {
            "registration_id": registration_id,
            "request_id": request_id,
            "service": SERVICE,
            "data": data,
        },
        subject=registration_id,
    )


def erase(db: Session, registration_id: str) -> None:
    """Forget the person: recipient, every email to them, caught copies; then confirm."""
    if not is_erased(db, registration_id):  # first: an event about them now waits for this
        db.add(ErasedRegistration(registration_id=registration_id))
        db.flush()
    deadletters.forget(db, DeadLetter, registration_id)
    recipient = db.get(Recipient, registration_id)
    addresses = set(
        db.scalars(
            select(Message.to_address).where(
                Message.registration_id == registration_id, Message.to_address != ""
            )
        ).all()
    )
    if recipient is not None:
        addresses.add(recipient.email)
        db.delete(recipient)
    db.execute(delete(Message).where(Message.registration_id == registration_id))
    for address in addresses:
        forget_caught(db, address=address)
    # Export answers not yet relayed hold the person's data too.
    db.execute(delete(Outbox).where(Outbox.subject_id == registration_id))
    add_event(
        db,
        Outbox,
        TaskNames.ERASURE_CONFIRMED,
        {"registration_id": registration_id, "service": SERVICE},
    )
    forget_deleted_rows(db)


def forget_caught(db: Session, address: str | None = None, message_id: str | None = None) -> int:
    """Delete the mail catcher's copies sent to an address, or carrying a Message-ID."""
    query = delete(CaughtMessage)
    if address is not None:
        query = query.where(
            CaughtMessage.envelope_to.contains(f"\n{address.lower()}\n", autoescape=True)
        )
    elif message_id is not None:
        query = query.where(CaughtMessage.message_id == message_id)
    else:
        raise ValueError("an address or a message id is needed")
    return int(db.execute(query).rowcount)  # type: ignore[attr-defined]
