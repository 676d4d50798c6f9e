"""JSON API of the notifier: the delivery log, for organisers."""

from __future__ import annotations

import functools
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from services.notifier import delivery, messages
from services.notifier.extensions import db, organiser_auth
from services.notifier.schemas import MessageListArgs, MessageOut
from shared import audit
from shared.accounts import Permission
from shared.http import route_actor, run_rules

messages_bp = Blueprint(
    "messages", __name__, url_prefix="/api/v1/messages", description="The delivery log"
)
blueprints = [messages_bp]
ORGANISER: list[dict[str, list[str]]] = [{"organiser": []}]
run = functools.partial(run_rules, db)


@messages_bp.route("")
class Messages(MethodView):
    @organiser_auth.requires(Permission.MESSAGES_READ)
    @messages_bp.arguments(MessageListArgs, location="query")
    @messages_bp.response(200, MessageOut(many=True))
    @messages_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any]) -> Any:
        """The delivery log, newest first; filter by status, recipient (`to`) and template.

        `page` and `per_page` page through it; `X-Total-Count` gives the number of matches.
        Only the messages about the events the organiser may read the log of.
        """
        events = route_actor().events_for(Permission.MESSAGES_READ)
        rows, total = messages.list_messages(db.session, **args, events=events)
        audit.record_read(db, "messages.log_read")
        return rows, 200, {"X-Total-Count": str(total)}


@messages_bp.route("/<message_id>")
class MessageDetail(MethodView):
    @organiser_auth.requires(Permission.MESSAGES_READ)
    @messages_bp.response(200, MessageOut)
    @messages_bp.doc(security=ORGANISER)
    def get(self, message_id: str) -> Any:
        """One message of the delivery log."""
        events = route_actor().events_for(Permission.MESSAGES_READ)
        row = run(messages.get_visible_message, db.session, message_id, events)
        audit.record_read(db, "messages.message_read", row.id, messages.event_of(db.session, row))
        return row


@messages_bp.route("/<message_id>/resend")
class Resend(MethodView):
    @organiser_auth.requires(Permission.MESSAGES_WRITE)
    @messages_bp.response(202, MessageOut)
    @messages_bp.doc(security=ORGANISER)
    def post(self, message_id: str) -> Any:
        """Send a failed message again (409 unless it is failed)."""
        events = route_actor().events_for(Permission.MESSAGES_WRITE)
        row = run(messages.resend, db.session, message_id, events)
        db.session.commit()
        delivery.enqueue(current_app.extensions["celery"], [row.id])
        return row
