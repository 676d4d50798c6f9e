"""Dead letters: messages a service could not handle, kept in its own database for organisers to
read and send again, never silently dropped.

A message is buried here when it breaks its contract, when its handler failed for a reason that
is not transient `MAX_ATTEMPTS` times, or when it was delivered `MAX_ATTEMPTS` times without
finishing (it killed its worker). One row per message (task id); a replay that fails again
updates the row. Each service mounts the same API and page (`mount`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from celery import Celery
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Api, Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import JSON, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import audit, pages, validation
from shared.accounts import Permission
from shared.db import Database, UTCDateTime, new_id, utcnow
from shared.errors import NotFound
from shared.http import OrganiserAuth, mark_permission, run_rules

# Failures (not transient) or unfinished deliveries before a message is buried.
MAX_ATTEMPTS = 5
ERROR_CHARS = 2000
PAGE_ROWS = 200


class DeadLetterMixin:
    """A message this service gave up on, with what went wrong; `subject` is the registration it
    is about (if any), so that erasure deletes it with the rest of the person's data."""

    __tablename__ = "dead_letters"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    task_id: Mapped[str] = mapped_column(String(200), unique=True)
    task_name: Mapped[str] = mapped_column(String(80), index=True)
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject: Mapped[str | None] = mapped_column(String(32), index=True)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Failure:
    """Why and how often one message failed."""

    error: str
    attempts: int
    first_failed_at: datetime


def describe(error: BaseException) -> str:
    """The error's class and message (statements are logged without their parameters)."""
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]


def subject_of(message: Mapping[str, Any]) -> str | None:
    """The registration a message is about, where it names one (erasure deletes by it)."""
    participant = message.get("participant")
    if isinstance(participant, Mapping) and isinstance(participant.get("registration_id"), str):
        return str(participant["registration_id"])[:32]
    value = message.get("registration_id")
    return value[:32] if isinstance(value, str) else None


def bury(
    session: Session,
    model: type[Any],
    task_id: str,
    task_name: str,
    message: dict[str, Any],
    failure: Failure,
) -> Any:
    """Keep a message as a dead letter (the caller commits); a message buried before and replayed
    since is updated, not added twice."""
    row = session.scalar(select(model).where(model.task_id == task_id))
    if row is None:
        row = model(task_id=task_id, first_failed_at=failure.first_failed_at, attempts=0)
        session.add(row)
    row.task_name, row.message, row.subject = task_name, message, subject_of(message)
    row.error, row.attempts = failure.error, row.attempts + failure.attempts
    row.last_failed_at, row.replayed_at = utcnow(), None
    return row


def forget(session: Session, model: type[Any], registration_id: str) -> None:
    """Erasure: delete the dead letters about this registration."""
    session.execute(delete(model).where(model.subject == registration_id))


def listing(session: Session, model: type[Any], task: str | None = None) -> list[Any]:
    """The dead letters, newest failure first, of one task if given."""
    query = select(model).order_by(model.last_failed_at.desc(), model.id).limit(PAGE_ROWS)
    if task:
        query = query.where(model.task_name == task)
    return list(session.scalars(query))


def replay(session: Session, model: type[Any], dead_letter_id: str, celery_app: Celery) -> Any:
    """Send a dead letter's message to this service's queue again (the caller commits); the
    handler acts once per event id, so a replay of what already acted does nothing."""
    row = session.get(model, dead_letter_id)
    if row is None:
        raise NotFound("No dead letter with this id.")
    celery_app.send_task(row.task_name, kwargs=row.message, task_id=row.task_id)
    row.replayed_at = utcnow()
    audit.record(session, "dead_letters.replayed", row.id)
    return row


# --- the API and the page every service mounts -----------------------------------------------


@dataclass(frozen=True)
class DeadLetters:
    """One service's dead letters: its database, table, organiser auth and Celery app."""

    database: Database
    model: type[Any]
    service: str
    auth: OrganiserAuth
    celery_app: Celery

    @staticmethod
    def of_app() -> DeadLetters:
        found: DeadLetters = current_app.extensions["dead_letters"]
        return found


class DeadLetterArgs(Schema):
    class Meta:
        unknown = RAISE

    task = validation.Text(
        validate=validate.Length(min=1, max=80), metadata={"description": "a task name"}
    )


class DeadLetterOut(Schema):
    class Meta:
        ordered = True

    id = fields.String()
    task_id = fields.String()
    task_name = fields.String()
    message = fields.Dict(metadata={"description": "the message's keyword arguments"})
    subject = fields.String(allow_none=True, metadata={"description": "the registration id"})
    error = fields.String()
    attempts = fields.Integer()
    first_failed_at = fields.DateTime()
    last_failed_at = fields.DateTime()
    replayed_at = fields.DateTime(allow_none=True)


api_bp = Blueprint(
    "dead_letters",
    __name__,
    url_prefix="/api/v1/dead-letters",
    description="Messages this service gave up on, and their replay",
)
ORGANISER: list[dict[str, list[str]]] = [{"organiser": []}]


def organiser_only(view: Any) -> Any:
    """Dead letters are not about one event (they may carry anything a message carries): for
    organisers with the permission on every event, checked by the service's `OrganiserAuth`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.actor = DeadLetters.of_app().auth.authorise(Permission.DEAD_LETTERS, every_event=True)
        return view(*args, **kwargs)

    return mark_permission(wrapper, Permission.DEAD_LETTERS, every_event=True)


@api_bp.route("")
class DeadLetterList(MethodView):
    @organiser_only
    @api_bp.arguments(DeadLetterArgs, location="query")  # type: ignore[untyped-decorator]
    @api_bp.response(200, DeadLetterOut(many=True))  # type: ignore[untyped-decorator]
    @api_bp.doc(security=ORGANISER)  # type: ignore[untyped-decorator]
    def get(self, args: dict[str, Any]) -> Any:
        """The dead letters, newest failure first (at most 200); filter by task name."""
        letters = DeadLetters.of_app()
        rows = listing(letters.database.session, letters.model, args.get("task"))
        audit.record_read(letters.database, "dead_letters.list_read")
        return rows


@api_bp.route("/<dead_letter_id>/replay")
class DeadLetterReplay(MethodView):
    @organiser_only
    @api_bp.response(202, DeadLetterOut)  # type: ignore[untyped-decorator]
    @api_bp.doc(security=ORGANISER)  # type: ignore[untyped-decorator]
    def post(self, dead_letter_id: str) -> Any:
        """Send the message to this service's queue again (404 if unknown); it acts at most
        once, since its handler acts once per event id."""
        letters = DeadLetters.of_app()
        session = letters.database.session
        row = run_rules(
            letters.database, replay, session, letters.model, dead_letter_id, letters.celery_app
        )
        session.commit()
        return row


def page(sign_in_endpoint: str) -> Any:
    """The organisers' page: the dead letters, each with a replay button."""

    @pages.organiser_required(
        sign_in_endpoint, Permission.DEAD_LETTERS, keep_query=True, every_event=True
    )
    def dead_letters() -> Any:
        letters = DeadLetters.of_app()
        task = request.args.get("task") or None
        session = letters.database.session
        tasks = session.scalars(select(letters.model.task_name).distinct()).all()
        rows = listing(session, letters.model, task if task in tasks else None)
        audit.record_read(letters.database, "dead_letters.list_read")
        return render_template(
            "agora/dead_letters.html",
            layout=f"{letters.service}/layout.html",
            rows=rows,
            tasks=sorted(tasks),
            task=task,
            sign_out=letters.service not in pages.LAYOUT_SIGNS_OUT,
        )

    return dead_letters


def replay_page(sign_in_endpoint: str) -> Any:
    @pages.organiser_required(sign_in_endpoint, Permission.DEAD_LETTERS, every_event=True)
    def replay_dead_letter(dead_letter_id: str) -> Any:
        letters = DeadLetters.of_app()
        try:
            replay(letters.database.session, letters.model, dead_letter_id, letters.celery_app)
        except NotFound:
            abort(404)
        letters.database.session.commit()
        flash(_("The message is sent again."), "success")
        return redirect(url_for("web.dead_letters"), 303)

    return replay_dead_letter


def mount(app: Flask, api: Api, ext: ModuleType, model: type[Any], celery_app: Celery) -> None:
    """Add the dead-letter API and page to a service's app (after its CSRF protection and its
    pages). The page's endpoints are in the name space of the service's `web` blueprint, so its
    layout, headers, error pages and language choice apply. `ext` is the service's extensions
    module (`db`, `SERVICE`, `organiser_auth`), `model` its dead-letter table."""
    app.extensions["dead_letters"] = DeadLetters(
        ext.db, model, ext.SERVICE, ext.organiser_auth, celery_app
    )
    app.extensions["csrf"].exempt(api_bp)
    api.register_blueprint(api_bp)
    sign_in = "web.sign_in" if "web.sign_in" in app.view_functions else "web.organiser_home"
    app.add_url_rule("/organiser/dead-letters", "web.dead_letters", page(sign_in))
    app.add_url_rule(
        "/organiser/dead-letters/<dead_letter_id>/replay",
        "web.replay_dead_letter",
        replay_page(sign_in),
        methods=["POST"],
    )
