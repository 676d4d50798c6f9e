"""The local mail catcher: an SMTP server (aiosmtpd) that keeps every email in the notifier's
database instead of delivering it, so the web page can show what the system sends."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

import structlog
from aiosmtpd.controller import Controller
from sqlalchemy import delete

from services.notifier.models import CaughtMessage
from shared.db import Database

log = structlog.get_logger(__name__)


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def language_of(raw: bytes) -> str:
    """The language an email says it is written in (Content-Language), from its headers only."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    return str(headers.get("Content-Language", "")).strip()


def store(database: Database, mail_from: str, rcpt_tos: list[str], raw: bytes) -> int:
    """Keep one received email; return its id."""
    parsed = parse(raw)
    addresses = [address.strip().lower() for address in rcpt_tos]
    row = CaughtMessage(
        mail_from=mail_from[:254],
        envelope_to="\n" + "".join(f"{address}\n" for address in addresses),
        subject=str(parsed.get("Subject", "")),
        message_id=str(parsed.get("Message-ID", "")).strip()[:255],
        raw=raw,
    )
    with database.transaction() as session:
        session.add(row)
        session.flush()
        return row.id


def clear(database: Database) -> int:
    with database.transaction() as session:
        return int(session.execute(delete(CaughtMessage)).rowcount)  # type: ignore[attr-defined]


class CatchingHandler:
    """aiosmtpd handler: accept every message and store it (never relays anything)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        loop = asyncio.get_running_loop()
        # The database call blocks: run it off the event loop so other clients are served.
        caught_id = await loop.run_in_executor(
            None, store, self.database, envelope.mail_from or "", list(envelope.rcpt_tos), raw
        )
        log.info("mailcatcher.caught", caught_id=caught_id)
        return "250 Message caught"


def start(database: Database, host: str, port: int) -> Controller:
    """Start the catcher in a background thread; stop it with `.stop()`."""
    controller = Controller(CatchingHandler(database), hostname=host, port=port)
    controller.start()
    return controller
