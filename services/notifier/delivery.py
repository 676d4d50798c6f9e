"""One delivery attempt: claim the message, send it over SMTP, record what happened.

The claim and the outcome are two short transactions; SMTP runs between them, outside any
transaction, so a slow mail server never holds a database lock.
"""

from __future__ import annotations

import re
from datetime import timedelta

import structlog

from services.notifier import logic
from services.notifier.logic import Outcome, RetryPolicy
from services.notifier.mailer import DeliveryError, Mailer
from services.notifier.models import SENT
from shared.db import Database, utcnow

log = structlog.get_logger(__name__)
# A message due for this long without being claimed lost its task: the sweeper queues it again.
SWEEP_GRACE = timedelta(seconds=120)


def redact(text: str, address: str) -> str:
    """Server replies often quote the address; the log and the error column do without it."""
    return re.sub(re.escape(address), "<recipient>", text, flags=re.IGNORECASE) if address else text


def deliver(
    database: Database, mailer: Mailer, policy: RetryPolicy, message_id: str
) -> Outcome | None:
    """Try to send one message; None when there was nothing to do (sent, failed, held, gone)."""
    with database.transaction() as session:
        outgoing = logic.claim(session, message_id, policy, utcnow())
    if outgoing is None:
        log.info("message.skipped", message_id=message_id)
        return None
    try:
        mailer.send(outgoing.mime, outgoing.to_address)
    except DeliveryError as failure:
        return _record_failure(database, policy, outgoing, failure.reason, failure.permanent)
    with database.transaction() as session:
        if not logic.record_sent(session, message_id, utcnow()):
            # Erased while in flight: drop the copy the local mail catcher may have kept.
            logic.forget_caught(session, message_id=outgoing.message_id)
    log.info("message.sent", message_id=message_id, attempt=outgoing.attempts)
    return Outcome(SENT)


def _record_failure(
    database: Database,
    policy: RetryPolicy,
    outgoing: logic.Outgoing,
    reason: str,
    permanent: bool,
) -> Outcome | None:
    reason = redact(reason, outgoing.to_address)
    with database.transaction() as session:
        outcome = logic.record_failure(session, outgoing.id, reason, permanent, policy, utcnow())
    log.warning(
        "message.not_sent",
        message_id=outgoing.id,
        attempt=outgoing.attempts,
        status=outcome.status if outcome else "erased",
        retry_in=round(outcome.retry_in, 1) if outcome and outcome.retry_in else None,
        error=reason[:300],
    )
    return outcome


def sweep(database: Database, grace: timedelta = SWEEP_GRACE) -> list[str]:
    """The ids of messages whose delivery task was lost or is long overdue (to queue again)."""
    with database.transaction() as session:
        return logic.due_messages(session, utcnow(), grace)
