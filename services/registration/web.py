"""Server-rendered pages: programme, registration form, manage page, organiser view.

A view reads the form, validates it with the API's schemas, calls the domain modules and
renders a template (or redirects with 303 after a change). The domain modules speak English;
every string a visitor reads goes through gettext here or in the templates.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    request,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from services.registration import privacy, registrations
from services.registration.access import (
    confirmation_tokens,
    limit_new_link,
    limit_registration,
    limit_resend,
    manage_token,
    tokens,
)
from services.registration.extensions import SERVICE, db
from services.registration.models import (
    CONFIRMED,
    HELD,
    WAITLISTED,
    Event,
    ProgrammeSession,
    Registration,
)
from services.registration.programme import get_event, timetable
from services.registration.schemas import (
    AddSessionIn,
    DetailsPatch,
    RegistrationIn,
    ResendLinkIn,
    check_email,
)
from services.registration.seats import TAKEN, SeatResult, seat_results
from shared import audit, formats, pages, validation
from shared.accounts import Permission
from shared.contracts import LANGUAGES
from shared.db import utcnow
from shared.errors import NotFound, RuleError
from shared.http import csv_response, public, route_actor
from shared.labels import KIND_LABELS, ROLE_LABELS, countries
from shared.pages import (
    LANGUAGE_NAMES,
    choose_language,
    current_language,
)

bp = Blueprint("web", __name__, template_folder="templates")

REGISTRATION_STATUS_LABELS = {"active": _l("Active"), "cancelled": _l("Cancelled")}
# One message per field, in the visitor's language (the schema's own messages are English).
FIELD_ERRORS = {
    "name": _l("Please enter your name (at most 200 characters)."),
    "email": _l("Please enter a valid email address."),
    "organisation": _l("At most 200 characters, please."),
    "city": _l("At most 120 characters, please."),
    "country": _l("Please choose your country."),
    "role": _l("Please choose the role that describes you best."),
    "language": _l("Please choose a language."),
    "session_codes": _l("Please check the sessions you chose."),
    "consent": _l("You can only register if you agree to the processing of your data."),
}
FORM_FIELDS = ("name", "email", "organisation", "city", "country", "role", "language")
DETAIL_FIELDS = tuple(f for f in FORM_FIELDS if f != "email")
# The order of the registration form, which its error summary follows; "_form" (a rule that
# no field explains) comes first.
FORM_ORDER = ("_form", *FORM_FIELDS, "session_codes", "consent")

# Each rule the domain modules raise (RuleError.code) in the participant's language; its
# params become the translation's parameters, session codes shown as session titles.
RULE_MESSAGES = {
    "email_taken": _l(
        "This email address is already registered for this event. If it is yours, "
        "ask for your personal link again."
    ),
    "closed": _l("Registration for this event is closed."),
    "not_open": _l("Registration opens on %(when)s."),
    "unknown_sessions": _l("This session does not exist: %(sessions)s."),
    "started": _l("This session has already started: %(sessions)s."),
    "overlap": _l("“%(first)s” and “%(second)s” take place at the same time: please choose one."),
    "already_held": _l("You are already registered for “%(session)s”."),
    "no_seat": _l("You have no place in “%(session)s”."),
    "already_cancelled": _l("Your registration is already cancelled."),
}


# --- language ----------------------------------------------------------------------------------


def select_locale() -> str:
    """?lang=, then the lang cookie, then (own pages) the participant's own, then the browser."""
    registration = participant_in_path()
    return choose_language(registration.language if registration is not None else None)


def private_page() -> bool:
    # The manage link is a password: keep it out of Referer headers and shared caches.
    return "token" in (request.view_args or {}) or request.path.startswith("/organiser")


def page_event() -> dict[str, Any]:
    """The event a page is about, for the layout's header and title, on every page of the
    event (error pages, the 429 one included); a view's own values win."""
    slug = (request.view_args or {}).get("slug")
    event = g.get("event")
    if event is None and slug:
        event = db.session.scalar(select(Event).where(Event.slug == slug))
    if event is None and (registration := participant_in_path()) is not None:
        event = registration.event
    return {"event": event, "title": event_title(event)} if event is not None else {}


pages.install_page_defaults(
    bp, SERVICE, fallback_endpoint="web.index", private=private_page, context=page_event
)


# --- helpers -----------------------------------------------------------------------------------


page = functools.partial(pages.render, SERVICE)


def not_found(message: str) -> Response:
    events = db.session.scalars(select(Event).order_by(Event.starts_on, Event.id)).all()
    return make_response(page("not_found.html", 404, message=message, events=events))


def event_or_404(slug: str) -> Event:
    try:
        g.event = get_event(db.session, slug)
    except NotFound:
        abort(not_found(_("There is no event at this address.")))
    event: Event = g.event
    return event


def event_title(event: Event) -> str:
    return formats.in_language(event.title, event.title_translations, current_language())


def local_datetime(event: Event, moment: datetime) -> str:
    return formats.moment(moment, event.timezone, current_language())


def closed_notice(event: Event) -> str | None:
    """Why registration is not possible right now, or None while it is open."""
    now = utcnow()
    if now < event.registration_opens_at:
        return _(
            "Registration opens on %(when)s.",
            when=local_datetime(event, event.registration_opens_at),
        )
    if now >= event.registration_closes_at:
        return _("Registration for this event is closed.")
    return None


def explain(rule: RuleError, event: Event) -> str:
    """A rule's message in the page's language, with session titles instead of codes."""
    template = RULE_MESSAGES.get(rule.code)
    if template is None:
        return rule.message
    titles = {s.code: s.title_in(current_language()) for s in event.sessions}
    params: dict[str, str] = {}
    for key, value in rule.params.items():
        if key == "when":
            params[key] = local_datetime(event, value)
        elif isinstance(value, list):
            params[key] = ", ".join(titles.get(code, code) for code in value)
        else:
            params[key] = titles.get(value, value)
    return str(template) % params if params else str(template)


# --- programme rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A programme text as a page shows it: in the page's language where it has a
    translation, else as entered, with the `lang` attribute that then needs."""

    text: str
    lang: str | None = None

    def __str__(self) -> str:
        return self.text


def shown(text: str, translations: dict[str, Any], entered_in: str | None) -> Text:
    language = current_language()
    if translations.get(language):
        return Text(str(translations[language]))
    return Text(text, formats.foreign(entered_in, language))


@dataclass(frozen=True)
class Speaker:
    name: str
    organisation: str
    bio: Text


def speaker_view(speaker: dict[str, Any], session_language: str) -> Speaker:
    """A speaker's bio in the page's language, else in the session's, else any it has."""
    bio = speaker.get("bio") or {}
    preferred = (current_language(), session_language, *LANGUAGES)
    found = next((code for code in preferred if bio.get(code)), None)
    text = Text(str(bio[found]), formats.foreign(found, current_language())) if found else Text("")
    return Speaker(speaker.get("name", ""), speaker.get("organisation", ""), text)


def language_name(code: str) -> str:
    """A session's language as the page's language calls it ("anglais", "Engels")."""
    return str(formats.locale(current_language()).languages.get(code, code))


@dataclass(frozen=True)
class SessionRow:
    """A session as pages show it: its texts in the page's language, local times, places."""

    session: ProgrammeSession
    title: Text
    kind: str
    theme: Text
    room: Text
    description: Text
    speakers: list[Speaker]
    language: str
    day: date
    time: str
    availability: str
    full: bool
    waiting: int
    open: bool

    @property
    def code(self) -> str:
        return self.session.code


def availability(session: ProgrammeSession, waiting: int) -> str:
    if session.capacity is None:
        return _("unlimited")
    left = max(session.capacity - session.seats_taken, 0)
    if left == 0:
        return _("full – waiting list (%(count)d)", count=waiting)
    return ngettext("%(num)d place left", "%(num)d places left", left)


def session_row(
    session: ProgrammeSession, waiting: int, zone: ZoneInfo, now: datetime
) -> SessionRow:
    fmt, entered_in = formats.For(current_language()), session.language
    starts, ends = session.starts_at.astimezone(zone), session.ends_at.astimezone(zone)
    return SessionRow(
        session=session,
        title=shown(session.title, session.title_translations, entered_in),
        kind=str(KIND_LABELS.get(session.kind, session.kind)),
        theme=shown(session.theme, session.theme_translations, entered_in),
        room=shown(session.room, session.room_translations, entered_in),
        description=shown(session.description, session.description_translations, entered_in),
        speakers=[speaker_view(s, entered_in) for s in session.speakers],
        language=language_name(session.language) if session.language else "",
        day=starts.date(),
        time=fmt.clock_range(starts, ends),
        availability=availability(session, waiting),
        full=session.capacity is not None and session.seats_taken >= session.capacity,
        waiting=waiting,
        open=session.starts_at > now,
    )


def session_rows(event: Event) -> list[SessionRow]:
    zone, now = ZoneInfo(event.timezone), utcnow()
    return [session_row(s, waiting, zone, now) for s, waiting in timetable(db.session, event)]


@dataclass(frozen=True)
class Day:
    anchor: str
    heading: str
    rows: list[SessionRow]


def by_day(rows: list[SessionRow]) -> list[Day]:
    fmt = formats.For(current_language())
    return [
        Day(f"day-{day.isoformat()}", fmt.day(day, "full"), list(group))
        for day, group in itertools.groupby(rows, key=lambda row: row.day)
    ]


@dataclass(frozen=True)
class Filters:
    """The programme's filters: a theme (as entered, its key) and a kind, from the URL."""

    theme: str
    kind: str
    themes: list[tuple[str, str]]
    kinds: list[tuple[str, str]]

    @property
    def active(self) -> bool:
        return bool(self.theme or self.kind)

    def keep(self, row: SessionRow) -> bool:
        return (not self.theme or row.session.theme == self.theme) and (
            not self.kind or row.session.kind == self.kind
        )


def programme_filters(rows: list[SessionRow]) -> Filters:
    labels: dict[str, str] = {}
    for row in rows:  # a theme's label: translated, if any of its sessions has a translation
        if row.session.theme not in labels or row.theme.lang is None:
            labels[row.session.theme] = str(row.theme)
    themes = sorted(labels.items(), key=_second)
    kinds = [
        (k, str(label))
        for k, label in KIND_LABELS.items()
        if any(r.session.kind == k for r in rows)
    ]
    theme, kind = request.args.get("theme", ""), request.args.get("kind", "")
    return Filters(
        theme if theme in dict(themes) else "", kind if kind in dict(kinds) else "", themes, kinds
    )


def _second(pair: tuple[str, str]) -> str:
    return pair[1].casefold()


# --- programme and registration ------------------------------------------------------------------


@bp.get("/")
@public
def index() -> Any:
    events = db.session.scalars(select(Event).order_by(Event.starts_on, Event.id)).all()
    if len(events) == 1:
        return redirect(url_for("web.programme", slug=events[0].slug))
    return page("index.html", events=[(e, event_title(e)) for e in events])


@bp.get("/events/<slug>")
@public
def programme(slug: str) -> Any:
    event = event_or_404(slug)
    rows = session_rows(event)
    filters = programme_filters(rows)
    return page(
        "programme.html",
        event=event,
        title=event_title(event),
        city=shown(event.city, event.city_translations, None),
        days=by_day([row for row in rows if filters.keep(row)]),
        filters=filters,
        closed=closed_notice(event),
    )


def in_form_order(errors: dict[str, str]) -> dict[str, str]:
    """The errors in the order of the form's fields, as its error summary lists them."""
    return dict(sorted(errors.items(), key=lambda item: _position(item[0])))


def _position(field: str) -> int:
    return FORM_ORDER.index(field) if field in FORM_ORDER else len(FORM_ORDER)


NON_ASCII_EMAIL = _l(
    "This address cannot receive our emails: use an address with only Latin letters before the @."
)


def field_errors(invalid: ValidationError) -> dict[str, str]:
    """A refused form's messages in the visitor's language, one per field, in form order."""
    return in_form_order(
        {field: field_message(field, messages) for field, messages in invalid.messages_dict.items()}
    )


def field_message(field: str, messages: Any) -> str:
    if field == "email" and messages == [validation.NON_ASCII_EMAIL_ERROR]:
        return str(NON_ASCII_EMAIL)
    return str(FIELD_ERRORS.get(field, _("Please check this field.")))


def register_page(
    event: Event, form: MultiDict[str, str], errors: dict[str, str], status: int = 200
) -> Any:
    return page(
        "register.html",
        status,
        event=event,
        title=event_title(event),
        days=by_day([row for row in session_rows(event) if row.open]),
        form=form,
        chosen=set(form.getlist("session_codes")),
        errors=in_form_order(errors),
        closed=closed_notice(event),
        countries=countries(),
        roles=[(code, str(label)) for code, label in ROLE_LABELS.items()],
        languages=LANGUAGE_NAMES,
        language=form.get("language") or current_language(),
    )


def registration_form() -> dict[str, Any]:
    data: dict[str, Any] = {field: request.form.get(field, "") for field in FORM_FIELDS}
    data["session_codes"] = request.form.getlist("session_codes")
    data["consent"] = request.form.get("consent") == "yes"
    return data


@bp.route("/events/<slug>/register", methods=["GET", "POST"])
@public
@limit_registration
def register(slug: str) -> Any:
    event = event_or_404(slug)
    if request.method == "GET":
        return register_page(event, MultiDict(), {})
    try:
        data = RegistrationIn().load(registration_form())
    except ValidationError as invalid:
        return register_page(event, request.form, field_errors(invalid), 422)
    try:
        registration, _seats = registrations.register(db.session, event, data)
    except RuleError as rule:
        db.session.rollback()
        errors = {rule.field or "_form": explain(rule, event)}
        return register_page(event, request.form, errors, rule.status)
    db.session.commit()
    return redirect(url_for("web.manage", token=manage_token(registration), welcome=1), 303)


@bp.route("/events/<slug>/resend-link", methods=["GET", "POST"])
@public
@limit_resend
def resend_link(slug: str) -> Any:
    event = event_or_404(slug)
    context = {"event": event, "title": event_title(event), "email": "", "error": None}
    if request.method == "GET":
        return page("resend_link.html", sent=False, **context)
    context["email"] = request.form.get("email", "")
    try:
        email = ResendLinkIn().load({"email": context["email"]})["email"]
    except ValidationError:
        context["error"] = str(FIELD_ERRORS["email"])
        return page("resend_link.html", 422, sent=False, **context)
    # Same answer whether the address is known or not: the page must not reveal who registered.
    registrations.request_link(db.session, event, check_email(email))
    db.session.commit()
    return page("resend_link.html", sent=True, **context)


# --- manage my registration -------------------------------------------------------------------


def find_participant(token: str) -> Registration | None:
    claim = tokens().verify(token)
    if claim is None:
        return None
    try:
        return registrations.find_registration(
            db.session, claim.registration_id, claim.token_version
        )
    except NotFound:
        return None


def participant_in_path() -> Registration | None:
    """The registration whose token (a manage link's, or on the email confirmation page the
    confirmation link's) is in this page's URL, looked up once per request."""
    if "participant" not in g:
        token = (request.view_args or {}).get("token") if request.blueprint == "web" else None
        find = confirming_participant if request.endpoint == "web.confirm_email" else None
        g.participant = (find or find_participant)(token) if token else None
    participant: Registration | None = g.participant
    return participant


def participant_or_404() -> Registration:
    if request.method != "GET":
        # A page shown after a POST offers its language links to the manage page itself.
        g.page_target = ("web.manage", {"token": (request.view_args or {}).get("token")})
    registration = participant_in_path()
    if registration is None:
        abort(link_replaced() or not_found(_("This link is not valid (any more).")))
    get_locale()  # fix the page language now: the action may delete the registration
    return registration


def link_replaced() -> Response | None:
    """410 for a genuine link whose registration has had a new one sent since: say so, and
    offer to send the newest one again."""
    claim = tokens().verify(str((request.view_args or {}).get("token")))
    registration = db.session.get(Registration, claim.registration_id) if claim else None
    if registration is None:
        return None
    message = _(
        "A new personal link has been sent for this registration since, so this one no longer "
        "works. Use the newest link you received, or ask for it again."
    )
    return make_response(
        page(
            "not_found.html",
            410,
            heading=_("This link is no longer valid"),
            message=message,
            events=[registration.event],
        )
    )


def addable(rows: list[SessionRow], registration: Registration) -> tuple[list[SessionRow], bool]:
    """The sessions one may still add, and whether some were left out for taking place at the
    same time as one already held (adding those would be refused)."""
    held = [seat.session for seat in registration.seats]
    open_rows = [row for row in rows if row.open and row.session not in held]
    free = [row for row in open_rows if not any(overlap(row.session, s) for s in held)]
    return free, len(free) < len(open_rows)


def overlap(one: ProgrammeSession, other: ProgrammeSession) -> bool:
    return one.starts_at < other.ends_at and other.starts_at < one.ends_at


def rate_url(registration: Registration, token: str) -> str | None:
    """The feedback service's "rate my sessions" page, once a confirmed session has begun."""
    now = utcnow()
    if not any(s.status == CONFIRMED and s.session.starts_at <= now for s in registration.seats):
        return None
    base = current_app.extensions["settings"].feedback_public_url.rstrip("/")
    return f"{base}/rate/{token}"


def hold_deadline(event: Event, moment: datetime) -> str:
    """Until when a held seat waits for the confirmation, with the zone it is told in."""
    return _(
        "%(when)s (%(zone)s)",
        when=local_datetime(event, moment),
        zone=formats.zone_name(event.timezone, current_language()),
    )


def hold_deadlines(registration: Registration) -> dict[str, str]:
    """Each held seat's deadline, by session code."""
    return {
        seat.session.code: hold_deadline(registration.event, seat.hold_expires_at)
        for seat in registration.seats
        if seat.status == HELD and seat.hold_expires_at is not None
    }


def manage_page(
    registration: Registration,
    status: int = 200,
    error: str | None = None,
    details: MultiDict[str, str] | None = None,
    detail_errors: dict[str, str] | None = None,
) -> Any:
    event = registration.event
    token = manage_token(registration)
    rows = session_rows(event)
    by_code = {row.code: row for row in rows}
    seats = [(by_code[r.code], r) for r in seat_results(db.session, registration.seats)]
    can_add, overlapping = addable(rows, registration)
    typed = details or MultiDict({f: getattr(registration, f) for f in DETAIL_FIELDS})
    return page(
        "manage.html",
        status,
        event=event,
        title=event_title(event),
        registration=registration,
        token=token,
        manage_url=url_for("web.manage", token=token, _external=True),
        seats=seats,
        holds=hold_deadlines(registration),
        addable=can_add,
        overlapping=overlapping,
        rate_url=rate_url(registration, token),
        details=typed,
        errors=in_form_order(detail_errors or {}),
        countries=countries(),
        roles=[(code, str(label)) for code, label in ROLE_LABELS.items()],
        languages=LANGUAGE_NAMES,
        closed=closed_notice(event),
        welcome=request.args.get("welcome") == "1" and status == 200,
        error=error,
        status_label=str(REGISTRATION_STATUS_LABELS.get(registration.status, registration.status)),
        TAKEN=TAKEN,
    )


def manage_error(registration: Registration, message: str, status: int) -> Any:
    """Show the manage page again with the problem on top (nothing was changed)."""
    db.session.rollback()
    return manage_page(registration, status, message)


def back_to(registration: Registration) -> Any:
    return redirect(url_for("web.manage", token=manage_token(registration)), 303)


def confirmed(form_field: str = "confirm") -> bool:
    return request.form.get(form_field) == "yes"


@bp.get("/manage/<token>")
@public
def manage(token: str) -> Any:
    return manage_page(participant_or_404())


def change(
    registration: Registration, action: Callable[[], Any], done: Callable[[Any], str]
) -> Any:
    """Run one domain call for the manage page: commit and redirect, or show the rule broken."""
    try:
        result = action()
    except RuleError as rule:
        return manage_error(registration, explain(rule, registration.event), rule.status)
    except IntegrityError:  # the same change sent twice at once (a double click)
        message = _(
            "Another change to your registration was made at the same moment: please check."
        )
        return manage_error(registration, message, 409)
    db.session.commit()
    flash(done(result), "success")
    return back_to(registration)


def session_title(registration: Registration, code: str) -> str:
    found = next((s for s in registration.event.sessions if s.code == code), None)
    return found.title_in(current_language()) if found else code


@bp.get("/manage/<token>/sessions/<code>/drop")
@public
def confirm_drop(token: str, code: str) -> Any:
    """Ask before giving up a place: it goes to the next person and may not come back."""
    registration = participant_or_404()
    try:
        seat = registrations.held_seat(registration, code)
    except RuleError as rule:
        return manage_error(registration, explain(rule, registration.event), rule.status)
    event = registration.event
    return page(
        "drop.html",
        event=event,
        title=event_title(event),
        token=token,
        row=session_row(seat.session, 0, ZoneInfo(event.timezone), utcnow()),
        confirmed_seat=seat.status in TAKEN,
    )


@bp.post("/manage/<token>/sessions/<code>/drop")
@public
def drop(token: str, code: str) -> Any:
    registration = participant_or_404()
    title = session_title(registration, code)
    return change(
        registration,
        lambda: registrations.drop_session(db.session, registration, code),
        lambda _result: _("You have left “%(session)s”.", session=title),
    )


def added_message(seat: SeatResult, title: str) -> str:
    if seat.status == CONFIRMED:
        return _("You have a place in “%(session)s”.", session=title)
    if seat.status == HELD:
        return _(
            "A place in “%(session)s” is held for you: confirm your email address with the "
            "link we have emailed you to keep it.",
            session=title,
        )
    return _(
        "“%(session)s” is full: you are number %(position)d on its waiting list.",
        session=title,
        position=seat.waitlist_position or 0,
    )


@bp.post("/manage/<token>/sessions")
@public
def add(token: str) -> Any:
    registration = participant_or_404()
    try:
        code = AddSessionIn().load({"code": request.form.get("code", "")})["code"]
    except ValidationError:
        return manage_error(registration, _("Please choose a session."), 422)
    title = session_title(registration, code)
    return change(
        registration,
        lambda: registrations.add_session(db.session, registration, code),
        lambda seat: added_message(seat, title),
    )


@bp.post("/manage/<token>/details")
@public
def details(token: str) -> Any:
    """Correct one's name, organisation, city, country, role or email language."""
    registration = participant_or_404()
    typed = {field: request.form.get(field, "") for field in DETAIL_FIELDS}
    try:
        changes = DetailsPatch().load(typed)
    except ValidationError as invalid:
        db.session.rollback()
        return manage_page(
            registration, 422, details=request.form, detail_errors=field_errors(invalid)
        )
    changed = registrations.change_details(db.session, registration, changes)
    db.session.commit()
    flash(_("Your details are saved.") if changed else _("Nothing has changed."), "success")
    return back_to(registration)


@bp.post("/manage/<token>/cancel")
@public
def cancel(token: str) -> Any:
    registration = participant_or_404()
    if not confirmed():
        message = _("Tick the box to confirm that you want to cancel your registration.")
        return manage_error(registration, message, 422)
    return change(
        registration,
        lambda: registrations.cancel(db.session, registration),
        lambda _released: _("Your registration is cancelled and your places are released."),
    )


@bp.post("/manage/<token>/new-link")
@public
@limit_new_link
def new_link(token: str) -> Any:
    """Revoke this link and email a new one; the new one is not shown here, since whoever has
    the old link (a forwarded email) could be the one asking."""
    registration = participant_or_404()
    registrations.renew_link(db.session, registration)
    db.session.commit()
    event = registration.event
    g.page_target = ("web.programme", {"slug": event.slug})  # the old link leads nowhere now
    return page(
        "error.html",
        heading=_("A new link is on its way"),
        message=_(
            "We have emailed a new personal link to %(email)s. The link you used no longer works.",
            email=registration.email,
        ),
        event=event,
        title=event_title(event),
    )


@bp.get("/manage/<token>/export")
@public
def export(token: str) -> Any:
    registration = participant_or_404()
    body = privacy.export_everywhere(db.session, registration)
    db.session.commit()
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": (
                f'attachment; filename="my-registration-{registration.event.slug}.json"'
            )
        },
    )


@bp.post("/manage/<token>/erase")
@public
def erase(token: str) -> Any:
    registration = participant_or_404()
    if not confirmed():
        return manage_error(
            registration, _("Tick the box to confirm the erasure of your data."), 422
        )
    slug = registration.event.slug
    privacy.erase(db.session, registration)
    db.session.commit()
    flash(_("Your data has been erased. Your personal link no longer works."), "success")
    return redirect(url_for("web.programme", slug=slug), 303)


# --- email confirmation --------------------------------------------------------------------------


def confirming_participant(token: str) -> Registration | None:
    """The registration a confirmation link is for, while the link is the current one."""
    claim = confirmation_tokens().verify(token)
    if claim is None:
        return None
    try:
        return registrations.find_registration(
            db.session, claim.registration_id, claim.token_version
        )
    except NotFound:
        return None


def confirmation_or_404() -> Registration:
    registration = participant_in_path()
    if registration is None:
        message = _(
            "This confirmation link is not valid (any more). Use the link in the latest email "
            "you received about your registration."
        )
        abort(not_found(message))
    get_locale()
    return registration


@bp.route("/confirm-email/<token>", methods=["GET", "POST"])
@public
def confirm_email(token: str) -> Any:
    """The link in the confirmation email. A GET only asks (mail scanners open links); the
    button confirms the address and the places held for it."""
    registration = confirmation_or_404()
    if request.method == "POST":
        return confirm(registration, token)
    event = registration.event
    by_code = {row.code: row for row in session_rows(event)}
    seats = [(by_code[r.code], r) for r in seat_results(db.session, registration.seats)]
    return page(
        "confirm_email.html",
        event=event,
        title=event_title(event),
        registration=registration,
        token=token,
        seats=seats,
        holds=hold_deadlines(registration),
        manage_url=url_for("web.manage", token=manage_token(registration)),
    )


def confirm(registration: Registration, token: str) -> Any:
    claim = confirmation_tokens().verify(token)
    assert claim is not None  # confirmation_or_404 has checked it
    done = registrations.confirm_email(db.session, claim.registration_id, claim.token_version)
    db.session.commit()
    flash(_("Your email address is confirmed."), "success")
    for code in done.expired:
        flash(
            _(
                "Your place in “%(session)s” had already been released: the address was not "
                "confirmed in time.",
                session=session_title(registration, code),
            ),
            "error",
        )
    return redirect(url_for("web.confirm_email", token=token), 303)


# --- organisers ----------------------------------------------------------------------------------


organiser_required = functools.partial(pages.organiser_required, "web.accounts.sign_in")


def organiser_home() -> Any:
    """The organisers' home page: the events of their roles, each leading to its fill and
    waiting lists."""
    events = db.session.scalars(select(Event).order_by(Event.starts_on, Event.id)).all()
    actor = pages.signed_in_actor()
    mine = [e for e in events if actor and actor.may(Permission.PROGRAMME_READ, e.slug)]
    titled = [(e, event_title(e)) for e in mine]
    return pages.organiser_home_page(SERVICE, _("Organisers"), titled, "web.organiser_event")


@bp.get("/organiser", endpoint="organiser_home")
@public
def organiser_home_or_sign_in() -> Any:
    """The organisers' home page, or the sign-in (accounts' pages) for a visitor not signed in."""
    if pages.signed_in_actor() is None:
        target = pages.safe_return(request.args.get("next"), "/organiser")
        return redirect(url_for("web.accounts.sign_in", next=target))
    return organiser_home()


@bp.post("/organiser/sign-out")
@public
def organiser_sign_out() -> Any:
    """Signing out here ends the session on every service."""
    flash(_("You are signed out."), "success")
    return pages.sign_organiser_out(redirect(url_for("web.accounts.sign_in"), 303))


def fill_percent(session: ProgrammeSession) -> int:
    if session.capacity is None:
        return 0
    if session.capacity == 0:
        return 100
    return min(100, round(100 * session.seats_taken / session.capacity))


@bp.get("/organiser/events/<slug>")
@organiser_required(Permission.PROGRAMME_READ)
def organiser_event(slug: str) -> Any:
    event = event_or_404(slug)
    # The fill is for every role of the event; the names on the waiting lists are not.
    names = route_actor().may(Permission.PARTICIPANTS_LIST, slug)
    people = registrations.registrations_for(db.session, event)
    waiting: dict[int, list[tuple[int, Registration]]] = defaultdict(list)
    held: dict[int, int] = defaultdict(int)
    for registration in people:
        for seat in registration.seats:
            if seat.status == WAITLISTED and names:
                waiting[seat.session_id].append((seat.waitlist_seq or 0, registration))
            elif seat.status == HELD:
                held[seat.session_id] += 1
    if names:
        audit.record_read(db, "participants.list_read", slug, slug)
    sessions = [
        (
            row,
            fill_percent(row.session),
            [r for _seq, r in sorted(waiting[row.session.id], key=_first)],
            held[row.session.id],
        )
        for row in session_rows(event)
    ]
    return page(
        "organiser_event.html",
        event=event,
        title=event_title(event),
        sessions=sessions,
        active=sum(r.status == "active" for r in people),
        cancelled=sum(r.status == "cancelled" for r in people),
    )


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


@bp.get("/organiser/events/<slug>/registrations.csv")
@organiser_required(Permission.PARTICIPANTS_LIST)
def organiser_csv(slug: str) -> Any:
    event = event_or_404(slug)
    rows = registrations.csv_rows(registrations.registration_rows(db.session, event))
    audit.record_read(db, "participants.csv_read", slug, slug)
    return csv_response(rows, registrations.CSV_COLUMNS, f"{slug}-registrations.csv")
