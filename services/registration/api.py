"""JSON API of the registration service: parse (schema) → call the domain → dump (schema)."""

from __future__ import annotations

import functools
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from services.registration import privacy, programme, registrations
from services.registration.access import (
    confirmation_tokens,
    limit_new_link,
    limit_registration,
    limit_resend,
    manage_token,
    tokens,
)
from services.registration.accounts_api import organisers_bp
from services.registration.extensions import db, organiser_auth
from services.registration.models import Registration
from services.registration.schemas import (
    AddSessionIn,
    DetailsPatch,
    EmailConfirmationIn,
    EmailConfirmationOut,
    EventIn,
    EventOut,
    RegistrationCreated,
    RegistrationIn,
    RegistrationListArgs,
    RegistrationOut,
    ResendLinkIn,
    SeatOut,
    SessionIn,
    SessionOut,
    SessionPatch,
)
from shared import audit
from shared.accounts import Permission
from shared.errors import NotFound
from shared.http import csv_response, error, participant_claim, public, run_rules

events_bp = Blueprint("events", __name__, url_prefix="/api/v1/events", description="Programme")
registrations_bp = Blueprint(
    "registrations", __name__, url_prefix="/api/v1", description="Registrations"
)
blueprints = [events_bp, registrations_bp, organisers_bp]
ORGANISER = [{"organiser": []}]
PARTICIPANT = [{"participant": []}]
run = functools.partial(run_rules, db)


_COMPUTED = ("seats_left", "waitlist_length")


def session_row(session: Any, waitlist_length: int) -> dict[str, Any]:
    row = {c: getattr(session, c) for c in SessionOut().fields if c not in _COMPUTED}
    seats_left = (
        None if session.capacity is None else max(session.capacity - session.seats_taken, 0)
    )
    row.update(seats_left=seats_left, waitlist_length=waitlist_length)
    return row


# --- programme -------------------------------------------------------------------------------


@events_bp.route("")
class Events(MethodView):
    @public
    @events_bp.response(200, EventOut(many=True))
    def get(self) -> Any:
        """List events."""
        from sqlalchemy import select

        from services.registration.models import Event

        return db.session.scalars(select(Event).order_by(Event.starts_on)).all()

    @organiser_auth.requires(Permission.PROGRAMME_WRITE, every_event=True)
    @events_bp.arguments(EventIn)
    @events_bp.response(201, EventOut)
    @events_bp.doc(security=ORGANISER)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an event (organiser)."""
        event = run(programme.create_event, db.session, data)
        db.session.commit()
        return event


@events_bp.route("/<slug>")
class EventDetail(MethodView):
    @public
    @events_bp.response(200, EventOut)
    def get(self, slug: str) -> Any:
        """One event."""
        return run(programme.get_event, db.session, slug)


@events_bp.route("/<slug>/sessions")
class Sessions(MethodView):
    @public
    @events_bp.response(200, SessionOut(many=True))
    def get(self, slug: str) -> Any:
        """The programme, with seats taken, seats left and waiting-list length."""
        event = run(programme.get_event, db.session, slug)
        return [session_row(s, n) for s, n in programme.timetable(db.session, event)]

    @organiser_auth.requires(Permission.PROGRAMME_WRITE)
    @events_bp.arguments(SessionIn)
    @events_bp.response(201, SessionOut)
    @events_bp.doc(security=ORGANISER)
    def post(self, data: dict[str, Any], slug: str) -> Any:
        """Add a session (organiser); capacity null means unlimited."""
        event = run(programme.get_event, db.session, slug)
        session = run(programme.create_session, db.session, event, data)
        db.session.commit()
        return session_row(session, 0)


@events_bp.route("/<slug>/sessions/<code>")
class SessionDetail(MethodView):
    @public
    @events_bp.response(200, SessionOut)
    def get(self, slug: str, code: str) -> Any:
        """One session."""
        event = run(programme.get_event, db.session, slug)
        rows = dict((s.code, (s, n)) for s, n in programme.timetable(db.session, event))
        if code not in rows:
            error(404, f"No session {code!r} in {slug!r}.")
        return session_row(*rows[code])

    @organiser_auth.requires(Permission.PROGRAMME_WRITE)
    @events_bp.arguments(SessionPatch)
    @events_bp.response(200, SessionOut)
    @events_bp.doc(security=ORGANISER)
    def patch(self, changes: dict[str, Any], slug: str, code: str) -> Any:
        """Edit a session (organiser); raising capacity promotes from the waiting list."""
        event = run(programme.get_event, db.session, slug)
        session = run(programme.get_session, db.session, event, code)
        run(programme.update_session, db.session, event, session, changes)
        db.session.commit()
        waiting = dict((s.code, n) for s, n in programme.timetable(db.session, event))
        return session_row(session, waiting[code])


# --- registrations ---------------------------------------------------------------------------


@registrations_bp.route("/events/<slug>/registrations")
class Registrations(MethodView):
    @public
    @limit_registration
    @registrations_bp.arguments(RegistrationIn())  # an instance: no schema built per request
    @registrations_bp.response(201, RegistrationCreated)
    def post(self, data: dict[str, Any], slug: str) -> Any:
        """Register for the event and claim seats; full sessions put you on their waiting list."""
        event = run(programme.event_row, db.session, slug)
        registration, seats = run(registrations.register, db.session, event, data)
        db.session.commit()
        return {
            "id": registration.id,
            "manage_token": manage_token(registration),
            "sessions": [vars(seat) for seat in seats],
        }

    @organiser_auth.requires(Permission.PARTICIPANTS_LIST)
    @registrations_bp.arguments(RegistrationListArgs, location="query")
    @registrations_bp.response(200, RegistrationOut(many=True))
    @registrations_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """All registrations (organiser); `?format=csv` for a spreadsheet."""
        event = run(programme.get_event, db.session, slug)
        rows = registrations.registration_rows(db.session, event)
        as_csv = args["format"] == "csv"
        action = "participants.csv_read" if as_csv else "participants.list_read"
        audit.record_read(db, action, slug, slug)
        if as_csv:
            return csv_response(
                registrations.csv_rows(rows), registrations.CSV_COLUMNS, f"{slug}-registrations.csv"
            )
        return rows


@registrations_bp.route("/events/<slug>/registrations/resend-link")
class ResendLink(MethodView):
    @public
    @limit_resend
    @registrations_bp.arguments(ResendLinkIn)
    @registrations_bp.response(202)
    def post(self, data: dict[str, Any], slug: str) -> Any:
        """Email the manage link again; the answer is the same whether the email is known or not.

        The link stays the same (anyone can type an address): `POST /registrations/me/new-link`
        revokes it."""
        event = run(programme.get_event, db.session, slug)
        registrations.request_link(db.session, event, data["email"])
        db.session.commit()
        return {"message": "If this address is registered, a link is on its way."}


def my_registration() -> Registration:
    claim = participant_claim(tokens())
    try:
        return registrations.find_registration(
            db.session, claim.registration_id, claim.token_version
        )
    except NotFound:
        error(
            401, "This link is no longer valid: use the newest link you were sent, or ask for one."
        )


@registrations_bp.route("/registrations/me")
class Me(MethodView):
    @public
    @registrations_bp.response(200, RegistrationOut)
    @registrations_bp.doc(security=PARTICIPANT)
    def get(self) -> Any:
        """My registration and seats (participant token)."""
        return registrations.registration_row(db.session, my_registration())

    @public
    @registrations_bp.arguments(DetailsPatch)
    @registrations_bp.response(200, RegistrationOut)
    @registrations_bp.doc(security=PARTICIPANT)
    def patch(self, changes: dict[str, Any]) -> Any:
        """Correct my name, organisation, city, country, role or the language of my emails."""
        registration = my_registration()
        registrations.change_details(db.session, registration, changes)
        db.session.commit()
        return registrations.registration_row(db.session, registration)

    @public
    @registrations_bp.response(200, RegistrationOut)
    @registrations_bp.doc(security=PARTICIPANT)
    def delete(self) -> Any:
        """Cancel my registration: every seat is released."""
        registration = my_registration()
        run(registrations.cancel, db.session, registration)
        db.session.commit()
        return registrations.registration_row(db.session, registration)


@registrations_bp.route("/registrations/me/sessions")
class MySessions(MethodView):
    @public
    @registrations_bp.arguments(AddSessionIn)
    @registrations_bp.response(201, SeatOut)
    @registrations_bp.doc(security=PARTICIPANT)
    def post(self, data: dict[str, Any]) -> Any:
        """Add a session: a seat if one is free, else a place on its waiting list."""
        registration = my_registration()
        seat = run(
            registrations.add_session,
            db.session,
            registration,
            data["code"],
            fields={"session_codes": "code"},
        )
        db.session.commit()
        return vars(seat)


@registrations_bp.route("/registrations/me/sessions/<code>")
class MySession(MethodView):
    @public
    @registrations_bp.response(204)
    @registrations_bp.doc(security=PARTICIPANT)
    def delete(self, code: str) -> Any:
        """Drop a session; the seat goes to the first on its waiting list."""
        registration = my_registration()
        run(registrations.drop_session, db.session, registration, code)
        db.session.commit()


INVALID_CONFIRMATION = (
    "This confirmation link is not valid (any more): use the link in the latest email you "
    "received about this registration."
)


@registrations_bp.route("/registrations/confirm-email")
class ConfirmEmail(MethodView):
    @public
    @registrations_bp.arguments(EmailConfirmationIn)
    @registrations_bp.response(200, EmailConfirmationOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Confirm my email address with the token of the link in the confirmation email: my
        held places become confirmed (a hold that ran out stays released). Harmless twice."""
        claim = confirmation_tokens().verify(data["token"])
        if claim is None:
            error(422, INVALID_CONFIRMATION, "token")
        try:
            done = registrations.confirm_email(
                db.session, claim.registration_id, claim.token_version
            )
        except NotFound:
            db.session.rollback()
            error(422, INVALID_CONFIRMATION, "token")
        db.session.commit()
        return {
            "email_confirmed_at": done.registration.email_confirmed_at,
            "sessions": [vars(seat) for seat in done.seats],
            "expired": done.expired,
        }


@registrations_bp.route("/registrations/me/new-link")
class MyNewLink(MethodView):
    @public
    @limit_new_link
    @registrations_bp.response(202)
    @registrations_bp.doc(security=PARTICIPANT)
    def post(self) -> Any:
        """Revoke my link (every copy of it, in emails or forwarded) and email me a new one."""
        registration = my_registration()
        registrations.renew_link(db.session, registration)
        db.session.commit()
        return {
            "message": "A new link is on its way to your email address; this one no longer works."
        }


@registrations_bp.route("/registrations/me/export")
class MyExport(MethodView):
    @public
    @registrations_bp.response(200)
    @registrations_bp.doc(security=PARTICIPANT)
    def get(self) -> Any:
        """Everything held on me by every service, as JSON (others' parts arrive within seconds)."""
        registration = my_registration()
        data = privacy.export_everywhere(db.session, registration)
        db.session.commit()
        return data


@registrations_bp.route("/registrations/me/erase")
class MyErasure(MethodView):
    @public
    @registrations_bp.response(202)
    @registrations_bp.doc(security=PARTICIPANT)
    def post(self) -> Any:
        """Erase me here now, and in every other service as soon as they receive the event."""
        registration = my_registration()
        record = privacy.erase(db.session, registration)
        db.session.commit()
        return {
            "message": "Your data has been erased here; the other services erase theirs next.",
            "erasure_id": record.registration_id,
            "status_url": f"/api/v1/erasures/{record.registration_id}",
        }


@registrations_bp.route("/erasures/<erasure_id>")
class ErasureStatus(MethodView):
    @public
    @registrations_bp.response(200)
    def get(self, erasure_id: str) -> Any:
        """Whether every service has confirmed an erasure (the id alone reveals no one)."""
        from services.registration.models import Erasure

        record = db.session.get(Erasure, erasure_id)
        if record is None:
            error(404, "No such erasure.")
        return privacy.erasure_status(record)
