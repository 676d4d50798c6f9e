"""Server-rendered pages for organisers: the delivery log and the local mail catcher's inbox.

Every page needs the organiser sign-in (on the registration service, for every service) and
a role that reads the delivery log: emails carry participants' personal links, which are as
good as passwords. An organiser sees the messages about the events of their roles; the caught
emails (every email this machine sent) need the role on every event.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy import func, select

from services.notifier import catcher, delivery
from services.notifier import messages as delivery_log
from services.notifier.emails import TEMPLATES
from services.notifier.extensions import SERVICE, db
from services.notifier.models import FAILED, STATUSES, CaughtMessage, Message
from services.notifier.schemas import MessageListArgs
from shared import audit, formats, pages
from shared.accounts import Permission
from shared.errors import NotFound, RuleError
from shared.http import public, route_actor
from shared.pages import choose_language, current_language

bp = Blueprint("web", __name__, template_folder="templates")

PER_PAGE = 50

STATUS_LABELS = {
    "queued": _l("Queued"),
    "sent": _l("Sent"),
    "retrying": _l("Retrying"),
    "failed": _l("Failed"),
}
TEMPLATE_LABELS = {
    "confirmation": _l("Registration confirmed"),
    "seat_confirmed": _l("Place confirmed"),
    "waitlisted": _l("Waiting list"),
    "promoted": _l("Promoted from the waiting list"),
    "seat_released": _l("Session dropped"),
    "cancelled": _l("Registration cancelled"),
    "manage_link": _l("Personal link"),
    "feedback_invitation": _l("Feedback invitation"),
    "seat_held": _l("Place held until the address is confirmed"),
    "email_confirmed": _l("Address confirmed, place confirmed"),
    "hold_expired": _l("Held place released, address not confirmed"),
    "organiser_sign_in": _l("Organiser sign-in link"),
    "organiser_password_reset": _l("Organiser password reset"),
    "organiser_invitation": _l("Organiser invitation"),
}


# --- language and page furniture -----------------------------------------------------------------


def select_locale() -> str:
    """?lang=, then the lang cookie, then the browser's preference."""
    return choose_language()


def language_label(code: str) -> str:
    """An email's language named in the page's language ("néerlandais" on a French page)."""
    return str(formats.locale(current_language()).languages.get(code, code))


def notifier_context() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "template_labels": TEMPLATE_LABELS,
        "language_label": language_label,
    }


# Every page shows addresses or personal links: all are kept out of caches and Referer headers.
# A caught email's HTML inherits the pages' policy (no script, nothing remote) in its frame.
pages.install_page_defaults(
    bp, SERVICE, fallback_endpoint="web.messages", private=lambda: True, context=notifier_context
)
page = functools.partial(pages.render, SERVICE)


# --- sign-in -----------------------------------------------------------------------------------


def organiser_required(permission: Permission, every_event: bool = False) -> Any:
    """A page for organisers allowed `permission`; the caught emails are about no event (they
    are every email this machine sent): those pages need it on every event."""
    return pages.organiser_required(
        "web.sign_in", permission, keep_query=True, every_event=every_event
    )


def visible_events(permission: Permission) -> frozenset[str] | None:
    """The events whose messages the signed-in organiser may see (None: every message)."""
    return route_actor().events_for(permission)


@bp.get("/")
@public
def index() -> Any:
    return redirect(url_for("web.messages"))


# Organisers sign in on the registration service; its sign-in leads back here.
pages.add_sign_in_elsewhere(
    bp,
    SERVICE,
    pages.SignIn(
        rule="/sign-in",
        endpoint="sign_in",
        landing="messages",
        next_prefix="/",
        sign_out_rule="/sign-out",
    ),
)


# --- the delivery log ----------------------------------------------------------------------------


def log_filters() -> dict[str, Any]:
    """The delivery log's filters from the query string; bad values are ignored, not fatal."""
    raw = {
        key: value
        for key, value in request.args.items()
        if key in ("status", "to", "template", "page") and value.strip()
    }
    try:
        return dict(MessageListArgs().load({**raw, "per_page": PER_PAGE}))
    except ValidationError as error:
        return dict(
            MessageListArgs().load(
                {k: v for k, v in raw.items() if k not in error.messages} | {"per_page": PER_PAGE}
            )
        )


@bp.get("/messages")
@organiser_required(Permission.MESSAGES_READ)
def messages() -> Any:
    filters = log_filters()
    events = visible_events(Permission.MESSAGES_READ)
    rows, total = delivery_log.list_messages(db.session, **filters, events=events)
    audit.record_read(db, "messages.log_read")
    pages = max(1, -(-total // PER_PAGE))
    query = {k: v for k, v in filters.items() if k not in ("page", "per_page")}
    return page(
        "messages.html",
        rows=rows,
        total=total,
        filters=filters,
        page_number=filters["page"],
        pages=pages,
        query=query,
        statuses=STATUSES,
        templates=TEMPLATES,
        counts=delivery_log.status_counts(db.session, events),
    )


def message_or_404(message_id: str) -> Message:
    try:
        return delivery_log.get_visible_message(
            db.session, message_id, visible_events(Permission.MESSAGES_READ)
        )
    except NotFound:
        abort(404)


@bp.get("/messages/<message_id>")
@organiser_required(Permission.MESSAGES_READ)
def message(message_id: str) -> Any:
    row = message_or_404(message_id)
    audit.record_read(db, "messages.message_read", row.id, delivery_log.event_of(db.session, row))
    caught = db.session.scalar(
        select(CaughtMessage.id)
        .where(CaughtMessage.message_id == row.message_id)
        .order_by(CaughtMessage.id.desc())
        .limit(1)
    )
    return page("message.html", row=row, can_resend=row.status == FAILED, caught_id=caught)


@bp.post("/messages/<message_id>/resend")
@organiser_required(Permission.MESSAGES_WRITE)
def resend(message_id: str) -> Any:
    try:
        row = delivery_log.resend(db.session, message_id, visible_events(Permission.MESSAGES_WRITE))
    except NotFound:
        abort(404)
    except RuleError:
        db.session.rollback()
        flash(_("Only a failed message with a recipient can be sent again."), "error")
        return redirect(url_for("web.message", message_id=message_id), 303)
    db.session.commit()
    delivery.enqueue(current_app.extensions["celery"], [row.id])
    flash(_("The message is queued to be sent again."), "success")
    return redirect(url_for("web.message", message_id=message_id), 303)


# --- the mail catcher ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaughtAttachment:
    index: int
    filename: str
    content_type: str
    size: int


def parts_of(message: EmailMessage) -> tuple[str, str, list[CaughtAttachment]]:
    """The plain text, the HTML and the attachments of an email."""
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part is not None else ""
    html = html_part.get_content() if html_part is not None else ""
    attachments = [
        CaughtAttachment(
            index,
            part.get_filename() or f"attachment-{index}",
            part.get_content_type(),
            len(part.get_payload(decode=True) or b""),
        )
        for index, part in enumerate(message.iter_attachments())
    ]
    return str(text), str(html), attachments


def date_of(message: EmailMessage) -> datetime | None:
    """When the email says it was written; None when its Date header is missing or garbled."""
    try:
        header = message["Date"]
        written = header.datetime if header is not None else None
    except (ValueError, TypeError, IndexError):
        return None
    # "-0000" (time zone unknown) parses as naive: it is UTC all the same.
    return written.replace(tzinfo=UTC) if written and written.tzinfo is None else written


@bp.get("/caught")
@organiser_required(Permission.MESSAGES_READ, every_event=True)
def caught() -> Any:
    rows = db.session.scalars(
        select(CaughtMessage).order_by(CaughtMessage.id.desc()).limit(200)
    ).all()
    total = db.session.scalar(select(func.count()).select_from(CaughtMessage)) or 0
    audit.record_read(db, "messages.caught_list_read")
    return page(
        "caught.html",
        rows=[(row, catcher.language_of(row.raw)) for row in rows],
        total=total,
        mailer=current_app.extensions["mailer"],
    )


def caught_or_404(caught_id: int) -> CaughtMessage:
    row = db.session.get(CaughtMessage, caught_id)
    if row is None:
        abort(404)
    return row


def with_links_in_new_tabs(html: str) -> str:
    """Links in a shown email open in a new tab, not inside its sandboxed frame."""
    base = '<base target="_blank">'
    head = re.search(r"<head[^>]*>", html, flags=re.IGNORECASE)
    if head is None:
        return base + html
    return html[: head.end()] + base + html[head.end() :]


@bp.get("/caught/<int:caught_id>")
@organiser_required(Permission.MESSAGES_READ, every_event=True)
def caught_message(caught_id: int) -> Any:
    row = caught_or_404(caught_id)
    audit.record_read(db, "messages.caught_read", row.id)
    parsed = catcher.parse(row.raw)
    text, html, attachments = parts_of(parsed)
    srcdoc = with_links_in_new_tabs(html) if html else ""
    return page(
        "caught_message.html",
        row=row,
        language=str(parsed.get("Content-Language", "")),
        sender=str(parsed.get("From", "")),
        to=str(parsed.get("To", "")),
        date=date_of(parsed),
        envelope_to=row.envelope_to.split(),
        text=text,
        srcdoc=srcdoc,
        attachments=attachments,
    )


@bp.get("/caught/<int:caught_id>/attachments/<int:index>")
@organiser_required(Permission.MESSAGES_READ, every_event=True)
def caught_attachment(caught_id: int, index: int) -> Any:
    parsed = catcher.parse(caught_or_404(caught_id).raw)
    found = list(parsed.iter_attachments())
    if index >= len(found):
        abort(404)
    audit.record_read(db, "messages.caught_read", caught_id)
    part = found[index]
    name = part.get_filename() or f"attachment-{index}"
    filename = name.encode("ascii", "ignore").decode().replace('"', "") or "attachment"
    return Response(
        part.get_payload(decode=True) or b"",
        mimetype=part.get_content_type(),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.post("/caught/clear")
@organiser_required(Permission.MESSAGES_WRITE, every_event=True)
def caught_clear() -> Any:
    count = catcher.clear(db)
    audit.record_read(db, "messages.caught_cleared")
    flash(_("%(count)d caught message(s) deleted.", count=count), "success")
    return redirect(url_for("web.caught"), 303)
