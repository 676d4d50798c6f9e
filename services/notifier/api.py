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
from shared.http import run_rules

messages_bp = Blueprint(
    "messages", __name__, url_prefix="/api/v1/messages", description="The delivery log"
)
blueprints = [messages_bp]
ORGANISER: list[dict[str, list[str]]] = [{"organiser": []}]
run = functools.partial(run_rules, db)


@messages_bp.route("")
class Messages(MethodView):
    @organiser_auth.required
    @messages_bp.arguments(MessageListArgs, location="query")
    @messages_bp.response(200, MessageOut(many=True))
    @messages_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any]) -> Any:
        """The delivery log, newest first; filter by status, recipient (`to`) and template.

        `page` and `per_page` page through it; `X-Total-Count` gives the number of matches.
        """
        rows, total = messages.list_messages(db.session, **args)
        return rows, 200, {"X-Total-Count": str(total)}


@messages_bp.route("/<message_id>")
class MessageDetail(MethodView):
    @organiser_auth.required
    @messages_bp.response(200, MessageOut)
    @messages_bp.doc(security=ORGANISER)
    def get(self, message_id: str) -> Any:
        """One message of the delivery log."""
        return run(messages.get_message, db.session, message_id)


@messages_bp.route("/<message_id>/resend")
class Resend(MethodView):
    @organiser_auth.required
    @messages_bp.response(202, MessageOut)
    @messages_bp.doc(security=ORGANISER)
    def post(self, message_id: str) -> Any:
        """Send a failed message again (409 unless it is failed)."""
        row = run(messages.resend, db.session, message_id)
        db.session.commit()
        delivery.enqueue(current_app.extensions["celery"], [row.id])
        return row
