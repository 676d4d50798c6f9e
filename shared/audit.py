"""The audit trail: who changed what, and who read whose personal data, in every service.

Each service keeps its own `audit_log`: one row per organiser change (the programme and its
capacities, recommendations, resent emails, accounts and roles) and per read of personal data
(registration lists and their CSV, a participant's record, feedback rows, the delivery log, one
email, a caught email, the messages set aside). A row says when, who (the account id, or
`organiser-token` for ORGANISER_TOKEN), the action (a dotted name such as
`programme.session_changed`), its target and the event it concerns.

A row never holds more personal data than an id: the target is a registration, message or
session id, a session code or an event slug, never a name or an address. After a participant is
erased, their registration id may stay in `target`: it then identifies no one, since nothing
else holds it any more, and the trail keeps its worth as proof of who read what.

`record` adds a row in the caller's transaction, so a change commits with its entry or not at
all; `record_read` commits a read's entry before the data goes out. Outside a request (commands,
workers, the sample programme) nothing is recorded: no organiser is acting. Rows older than
`AUDIT_RETENTION_DAYS` are deleted by each service's periodic loop (`purge_expired`) and by
`flask --app services.<svc>.app audit purge`. Each service mounts the same API and page
(`mount`): `GET /api/v1/audit` and `/organiser/audit`, for those whose AUDIT_READ permission
holds; one whose permission holds on some events only sees those events' rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import click
from flask import Flask, current_app, g, has_request_context, render_template, request
from flask.cli import with_appcontext
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from flask_smorest import Api, Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import pages
from shared.accounts import Actor, Permission
from shared.db import Database, UTCDateTime, utcnow
from shared.http import OrganiserAuth, current_actor, error, mark_permission
from shared.validation import Moment, Text

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
TARGET_CHARS = 200

# What the page shows for the actions it knows; any other shows as its dotted name.
ACTION_LABELS: dict[str, Any] = {
    "programme.event_created": _l("Created an event"),
    "programme.event_changed": _l("Changed an event"),
    "programme.session_created": _l("Added a session"),
    "programme.session_changed": _l("Changed a session"),
    "participants.list_read": _l("Read the registrations"),
    "participants.csv_read": _l("Downloaded the registrations (CSV)"),
    "participant.record_read": _l("Read a participant's record"),
    "feedback.export_read": _l("Read the feedback rows"),
    "recommendations.created": _l("Drafted a recommendation"),
    "messages.log_read": _l("Read the delivery log"),
    "messages.message_read": _l("Read an email of the delivery log"),
    "messages.caught_list_read": _l("Read the caught emails"),
    "messages.caught_read": _l("Read a caught email"),
    "messages.caught_cleared": _l("Deleted the caught emails"),
    "messages.resent": _l("Sent an email again"),
    "dead_letters.list_read": _l("Read the messages set aside"),
    "dead_letters.replayed": _l("Sent a message set aside again"),
    "organisers.account_created": _l("Created an organiser account"),
    "organisers.account_disabled": _l("Disabled an organiser account"),
    "organisers.roles_changed": _l("Changed an organiser's roles"),
    "organisers.second_factor_required": _l("Changed whether an organiser needs a second factor"),
    "organisers.token_created": _l("Created an organiser token"),
    "organisers.token_revoked": _l("Revoked an organiser token"),
}


class AuditEntryMixin:
    """One organiser action: when, who (an account id), what, on what (an id, a session code,
    a slug: never a name or an address), and on which event, if one."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(80))
    target: Mapped[str | None] = mapped_column(String(TARGET_CHARS))
    event: Mapped[str | None] = mapped_column(String(80), index=True)


@dataclass(frozen=True)
class AuditTrail:
    """One service's trail: its database, its table, its organiser auth, how long rows stay."""

    database: Database
    model: type[Any]
    service: str
    auth: OrganiserAuth
    retention: timedelta

    @staticmethod
    def of_app() -> AuditTrail:
        found: AuditTrail = current_app.extensions["audit"]
        return found


def acting_actor() -> Actor | None:
    """The organiser behind this request; None outside a request. Within one, an audited
    action without an organiser is a route that forgot its permission: refused loudly."""
    if not has_request_context():
        return None
    actor = current_actor()
    if actor is None:
        raise RuntimeError(f"an audited action without an organiser at {request.path}")
    return actor


def record(
    db: Session, action: str, target: str | int | None = None, event: str | None = None
) -> Any:
    """Add an entry for this request's organiser to `db`'s transaction (the caller commits:
    the entry lives or dies with the change it describes); nothing outside a request."""
    actor = acting_actor()
    if actor is None:
        return None
    entry = AuditTrail.of_app().model(
        at=utcnow(),
        actor=actor.account_id,
        action=action,
        target=None if target is None else str(target)[:TARGET_CHARS],
        event=event,
    )
    db.add(entry)
    return entry


def record_read(
    database: Database, action: str, target: str | int | None = None, event: str | None = None
) -> None:
    """A read of personal data, committed before the data is sent: what cannot be recorded
    is not shown. The request's session has only read, so its commit holds this entry alone."""
    if record(database.session, action, target, event) is not None:
        database.session.commit()


def entries(
    db: Session,
    model: type[Any],
    events: frozenset[str] | None,
    *,
    event: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Any]:
    """The newest entries first; `events` None: of every event and of none, else only these
    events' entries."""
    query = select(model).order_by(model.at.desc(), model.id.desc()).limit(limit)
    if events is not None:
        query = query.where(model.event.in_(sorted(events)))
    if event is not None:
        query = query.where(model.event == event)
    if action is not None:
        query = query.where(model.action == action)
    if since is not None:
        query = query.where(model.at >= since)
    return list(db.scalars(query))


def events_in(db: Session, model: type[Any], events: frozenset[str] | None) -> list[str]:
    """The events the trail has entries on, among `events` (None: all)."""
    query = select(model.event).where(model.event.is_not(None)).distinct()
    if events is not None:
        query = query.where(model.event.in_(sorted(events)))
    return sorted(str(slug) for slug in db.scalars(query))


def purge(db: Session, model: type[Any], older_than: datetime) -> int:
    """Delete the entries made before `older_than` (the caller commits); how many went."""
    result: Any = db.execute(delete(model).where(model.at < older_than))
    return int(result.rowcount or 0)


def purge_expired(trail: AuditTrail | None = None) -> int:
    """Delete, in a transaction of their own, the entries older than the retention (this
    app's trail unless one is given); the periodic loops call it."""
    trail = trail or AuditTrail.of_app()
    with trail.database.transaction() as session:
        return purge(session, trail.model, utcnow() - trail.retention)


def readable_events(actor: Actor, event: str | None) -> frozenset[str] | None:
    """The events whose entries this actor may read (None: all); 403 for an `event` outside."""
    allowed = actor.events_for(Permission.AUDIT_READ)
    if event is not None and allowed is not None and event not in allowed:
        error(403, "Your roles do not let you read the audit trail of this event.")
    return allowed


def the_actor() -> Actor:
    actor = current_actor()
    if actor is None:  # the permission check ran first: a route that lost it fails here
        raise RuntimeError("the audit trail read without an organiser")
    return actor


# --- the API, the page and the command every service mounts -----------------------------------


class AuditArgs(Schema):
    class Meta:
        unknown = RAISE
        ordered = True

    event = Text(
        validate=validate.Length(min=1, max=80), metadata={"description": "an event's slug"}
    )
    since = Moment(
        default_timezone=UTC, metadata={"description": "only entries from this moment on"}
    )
    action = Text(
        validate=validate.Length(min=1, max=80),
        metadata={"description": "a dotted action name, e.g. participants.csv_read"},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"at most this many entries (1 to {MAX_LIMIT})"},
    )


class AuditEntryOut(Schema):
    class Meta:
        ordered = True

    at = fields.AwareDateTime()
    actor = fields.String(metadata={"description": "the account id, or organiser-token"})
    action = fields.String()
    target = fields.String(allow_none=True, metadata={"description": "an id, a code or a slug"})
    event = fields.String(allow_none=True, metadata={"description": "the event's slug"})


api_bp = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1/audit",
    description="Who changed what and who read personal data, here",
)
ORGANISER: list[dict[str, list[str]]] = [{"organiser": []}]


def audit_readers(view: Any) -> Any:
    """For organisers allowed AUDIT_READ on at least one event (the view then shows only
    theirs), checked by the service's own `OrganiserAuth`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.actor = AuditTrail.of_app().auth.authorise(Permission.AUDIT_READ)
        return view(*args, **kwargs)

    return mark_permission(wrapper, Permission.AUDIT_READ)


@api_bp.route("")
class AuditList(MethodView):
    @audit_readers
    @api_bp.arguments(AuditArgs, location="query")  # type: ignore[untyped-decorator]
    @api_bp.response(200, AuditEntryOut(many=True))  # type: ignore[untyped-decorator]
    @api_bp.doc(security=ORGANISER)  # type: ignore[untyped-decorator]
    def get(self, args: dict[str, Any]) -> Any:
        """The entries, newest first (200 unless `limit` says up to 1000); only those of the
        events one may read the trail of (403 for `event` outside them)."""
        trail = AuditTrail.of_app()
        allowed = readable_events(the_actor(), args.get("event"))
        return entries(
            trail.database.session,
            trail.model,
            allowed,
            event=args.get("event"),
            action=args.get("action"),
            since=args.get("since"),
            limit=args["limit"],
        )


def page(sign_in_endpoint: str) -> Any:
    """The organisers' page: a table of the entries, newest first, filtered by event."""

    @pages.organiser_required(sign_in_endpoint, Permission.AUDIT_READ, keep_query=True)
    def audit() -> Any:
        trail = AuditTrail.of_app()
        session = trail.database.session
        allowed = the_actor().events_for(Permission.AUDIT_READ)
        known = events_in(session, trail.model, allowed)
        event = request.args.get("event") or None
        event = event if event in known else None
        return render_template(
            "agora/audit.html",
            layout=f"{trail.service}/layout.html",
            rows=entries(session, trail.model, allowed, event=event),
            events=known,
            chosen=event,
            labels=ACTION_LABELS,
            sign_out=trail.service not in pages.LAYOUT_SIGNS_OUT,
        )

    return audit


@click.group("audit")
def audit_commands() -> None:
    """The audit trail."""


@audit_commands.command("purge")
@with_appcontext
def purge_command() -> None:
    """Delete the entries older than AUDIT_RETENTION_DAYS."""
    trail = AuditTrail.of_app()
    count = purge_expired(trail)
    click.echo(f"{count} audit entries older than {trail.retention.days} days deleted")


def model_beside(model: type[Any]) -> type[Any]:
    """The service's audit table: the class built on AuditEntryMixin among the tables `model`
    (any of the service's tables) is declared with."""
    for mapper in model.registry.mappers:
        if issubclass(mapper.class_, AuditEntryMixin):
            return mapper.class_  # type: ignore[no-any-return]
    raise LookupError(f"no audit table beside {model.__name__}")


def mount(app: Flask, api: Api, ext: ModuleType, model: type[Any]) -> None:
    """Add the audit API, page and `audit purge` command to a service's app (after its CSRF
    protection and its pages). `ext` is the service's extensions module (`db`, `SERVICE`,
    `organiser_auth`), `model` its audit table."""
    days = app.extensions["settings"].audit_retention_days
    app.extensions["audit"] = AuditTrail(
        ext.db, model, ext.SERVICE, ext.organiser_auth, timedelta(days=days)
    )
    app.extensions["csrf"].exempt(api_bp)
    api.register_blueprint(api_bp)
    sign_in = "web.sign_in" if "web.sign_in" in app.view_functions else "web.organiser_home"
    app.add_url_rule("/organiser/audit", "web.audit", page(sign_in))
    app.cli.add_command(audit_commands)
