"""Server-rendered pages: "rate my sessions", the organiser dashboard and the report.

No JavaScript: forms post and redirect (303), charts are inline SVG drawn by the templates.
Domain code speaks English; every string a visitor reads goes through gettext here or in templates.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy import select

from services.feedback import ratepage, readmodel, submissions, summaries
from services.feedback.extensions import SERVICE, db
from services.feedback.models import (
    ENDORSEMENT_VALUES,
    RATINGS,
    Event,
    Participant,
    ProgrammeSession,
    entered_language,
)
from services.feedback.recommendations import create_recommendation, recommendations_with_support
from services.feedback.report.responses import report_response, schedule_report
from services.feedback.report.wording import Figures
from services.feedback.schemas import COMMENT_MAX, FeedbackIn, RecommendationIn
from shared import audit, formats, pages
from shared.accounts import Permission
from shared.auth import ParticipantClaim, ParticipantTokens
from shared.db import utcnow
from shared.errors import NotFound, RuleError
from shared.formats import in_language
from shared.http import csv_response, public, route_actor
from shared.labels import KIND_LABELS, sort_key
from shared.pages import LANGUAGE_NAMES, choose_language, current_language

bp = Blueprint("web", __name__, template_folder="templates")

COMMENTS_SHOWN = 200  # per session on the dashboard; the CSV export has them all
# The rate form's fields in the order the page shows them ("_form": the form as a whole).
FORM_ORDER = ("_form", "rating", "comment", "endorsements")
# The add-recommendation form's fields, in the dashboard's order.
RECOMMENDATION_FIELDS = ("theme", "language", "text")

RATING_LABELS = {
    1: _l("Poor"),
    2: _l("Fair"),
    3: _l("Good"),
    4: _l("Very good"),
    5: _l("Excellent"),
}
ENDORSEMENT_LABELS = {
    -2: _l("Strongly disagree"),
    -1: _l("Disagree"),
    0: _l("Neutral"),
    1: _l("Agree"),
    2: _l("Strongly agree"),
}
# The domain's rules (by code) in the visitor's language.
RULE_MESSAGES = {
    "invalid_link": _l("This link is not valid (any more)."),
    "other_event": _l("Your registration is for another event."),
    "not_confirmed": _l("You can only rate sessions in which you had a confirmed place."),
    "not_started": _l("You can rate this session once it has started."),
    "closed": _l("The feedback period for this event is over."),
    "unknown_recommendation": _l(
        "One of these recommendations no longer exists: please reload the page."
    ),
    "other_theme": _l("One of these recommendations is about another theme."),
    "value": _l("Please choose a value from −2 to +2."),
    "no_session": _l("This session does not exist."),
    "no_event": _l("This event does not exist."),
    "already_rated": _l("You have rated this session."),
}


# --- language ----------------------------------------------------------------------------------


def select_locale() -> str:
    """?lang=, then the lang cookie, then (own pages) the participant's own, then the browser."""
    participant = participant_in_path()
    return choose_language(participant.language if participant is not None else None)


def feedback_context() -> dict[str, Any]:
    return {
        "RATINGS": RATINGS,
        "RATING_LABELS": RATING_LABELS,
        "ENDORSEMENT_VALUES": ENDORSEMENT_VALUES,
        "ENDORSEMENT_LABELS": ENDORSEMENT_LABELS,
        "COMMENT_MAX": COMMENT_MAX,
    }


def private_page() -> bool:
    # The rate link is a password: keep it out of Referer headers and shared caches.
    return "token" in (request.view_args or {}) or request.path.startswith("/organiser")


pages.install_page_defaults(
    bp, SERVICE, fallback_endpoint="web.index", private=private_page, context=feedback_context
)


# --- helpers -----------------------------------------------------------------------------------


page = functools.partial(pages.render, SERVICE)


def not_found(message: str) -> Response:
    registration_site = current_app.extensions["settings"].public_base_url
    return make_response(page("not_found.html", 404, message=message, site=registration_site))


def explain(rule: RuleError) -> str:
    return str(RULE_MESSAGES.get(rule.code, rule.message))


# --- index -------------------------------------------------------------------------------------


@bp.get("/")
@public
def index() -> Any:
    return page("index.html")


# --- rate my sessions --------------------------------------------------------------------------


def tokens() -> ParticipantTokens:
    found: ParticipantTokens = current_app.extensions["participant_tokens"]
    return found


def find_participant(token: str) -> Participant | None:
    claim = tokens().verify(token)
    if claim is None:
        return None
    try:
        return readmodel.find_participant(db.session, claim)
    except RuleError:
        return None


def participant_in_path() -> Participant | None:
    """The participant whose token is in this page's URL, looked up once per request."""
    if "participant" not in g:
        token = (request.view_args or {}).get("token") if request.blueprint == "web" else None
        g.participant = find_participant(token) if token else None
    participant: Participant | None = g.participant
    return participant


def participant_or_404() -> Participant:
    if request.method != "GET":
        g.page_target = ("web.rate", {"token": (request.view_args or {}).get("token")})
    participant = participant_in_path()
    if participant is None:
        abort(not_found(_("This link is not valid (any more).")))
    return participant


@dataclass
class SessionForm:
    """One session on the rate page: what is shown, what was chosen, what went wrong."""

    code: str
    title: str
    when: str
    kind: str
    room: str
    room_lang: str | None
    started: bool
    rated: bool
    rating: int | None
    comment: str
    recommendations: list[tuple[int, str, int | None, str | None]]  # (id, text, value, lang)
    errors: dict[str, str] = field(default_factory=dict)


def field_ids(code: str) -> dict[str, str]:
    """The id each field of a session's rate form has on the page (its error links there)."""
    return {
        "_form": f"session-{code}",
        "rating": f"rating-{code}",
        "comment": f"comment-{code}",
        "endorsements": f"endorsements-{code}",
    }


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def session_forms(
    participant: Participant,
    event: Event,
    posted: str | None = None,
    errors: dict[str, str] | None = None,
) -> list[SessionForm]:
    """The participant's sessions; the one just posted keeps what was typed, with its errors."""
    language = current_language()
    fmt = formats.For(language)
    forms = []
    for item in ratepage.rate_items(db.session, participant, utcnow()):
        session = item.session
        mine = session.code == posted
        if mine:
            rating = _int_or_none(request.form.get("rating"))
            comment = request.form.get("comment", "")
            chosen = {
                r.id: _int_or_none(request.form.get(f"endorse-{r.id}"))
                for r in item.recommendations
            }
        else:
            rating = item.feedback.rating if item.feedback else None
            comment = (item.feedback.comment or "") if item.feedback else ""
            chosen = {r.id: item.endorsements.get(r.id) for r in item.recommendations}
        forms.append(
            SessionForm(
                code=session.code,
                title=session.title_in(language),
                when=fmt.moment(session.starts_at, event.timezone),
                kind=str(KIND_LABELS.get(session.kind, session.kind)),
                room=session.room_in(language),
                room_lang=session.room_lang(language),
                started=item.started,
                rated=item.feedback is not None,
                rating=rating,
                comment=comment,
                recommendations=[
                    (r.id, r.text, chosen[r.id], fmt.foreign(r.language))
                    for r in item.recommendations
                ],
                errors=(errors or {}) if mine else {},
            )
        )
    return forms


def rate_page(
    participant: Participant,
    status: int = 200,
    posted: str | None = None,
    errors: dict[str, str] | None = None,
) -> Any:
    event = db.session.get_one(Event, participant.event_id)
    language = current_language()
    token = (request.view_args or {})["token"]
    forms = session_forms(participant, event, posted, errors)
    started = [f for f in forms if f.started]
    # A problem with a session that has no form here (not started, not mine) goes on top.
    shown = any(f.code == posted for f in started)
    errors = errors or {}
    return page(
        "rate.html",
        status,
        errors=errors,
        error_order=FORM_ORDER,
        # A problem with a session that has no form here (not started, not mine): the page.
        error_ids=field_ids(posted) if shown and posted else dict.fromkeys(errors, "main"),
        event=event,
        title=event.title_in(language),
        token=token,
        started=started,
        upcoming=[f for f in forms if not f.started],
        closed=utcnow() >= event.feedback_closes_at,
        closes=formats.day(formats.local(event.feedback_closes_at, event.timezone), language),
    )


@bp.get("/rate/<token>")
@public
def rate(token: str) -> Any:
    return rate_page(participant_or_404())


def read_rating_form(recommendation_ids: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The posted form as the API's input, and a message per field that is wrong."""
    errors: dict[str, str] = {}
    rating = _int_or_none(request.form.get("rating"))
    if rating not in RATINGS:
        errors["rating"] = _("Please choose a rating from 1 to 5.")
    comment = request.form.get("comment", "").replace("\r\n", "\n")
    if len(comment) > COMMENT_MAX:
        errors["comment"] = _(
            "Your comment is too long: at most %(max)d characters (it has %(count)d).",
            max=COMMENT_MAX,
            count=len(comment),
        )
    endorsements: dict[str, int] = {}
    for rid in recommendation_ids:
        raw = request.form.get(f"endorse-{rid}", "")
        if raw == "":
            continue  # "no opinion"
        value = _int_or_none(raw)
        if value not in ENDORSEMENT_VALUES:
            errors["endorsements"] = str(RULE_MESSAGES["value"])
            continue
        endorsements[rid] = int(raw)
    data = {"rating": rating, "comment": comment, "endorsements": endorsements}
    return data, errors


@bp.post("/rate/<token>/sessions/<code>")
@public
def rate_session(token: str, code: str) -> Any:
    participant = participant_or_404()
    event = db.session.get_one(Event, participant.event_id)
    keys = [k.removeprefix("endorse-") for k in request.form if k.startswith("endorse-")]
    data, errors = read_rating_form(keys)
    if not errors:
        try:
            data = FeedbackIn().load(data)
        except ValidationError as invalid:
            errors = {name: _("Please check this field.") for name in invalid.messages_dict}
    if errors:
        return rate_page(participant, 422, code, errors)
    claim = ParticipantClaim(participant.registration_id, participant.token_version)
    try:
        result = submissions.submit_feedback(
            db.session, event.slug, code, claim, data, replace=True
        )
    except RuleError as rule:
        db.session.rollback()
        field = rule.field if rule.field in FORM_ORDER else "_form"
        return rate_page(participant, rule.status, code, {field: explain(rule)})
    db.session.commit()
    if result.report_due:
        schedule_report(event.slug)
    flash(
        _("Thank you: your feedback is saved. You can change it until the feedback period ends."),
        "success",
    )
    return redirect(url_for("web.rate", token=token, _anchor=f"session-{code}"), 303)


# --- organisers --------------------------------------------------------------------------------


def organiser_required(permission: Permission) -> Any:
    return pages.organiser_required("web.sign_in", permission)


def event_or_404(slug: str) -> Event:
    try:
        return readmodel.get_event(db.session, slug)
    except NotFound:
        abort(not_found(_("There is no event at this address.")))


@bp.get("/organiser")
@organiser_required(Permission.FEEDBACK_READ)
def organiser_home() -> Any:
    """The organisers' home page: the events whose feedback they may read, each leading to its
    dashboard."""
    query = select(Event).order_by(Event.starts_on, Event.id)
    events = route_actor().events_for(Permission.FEEDBACK_READ)
    if events is not None:
        query = query.where(Event.slug.in_(sorted(events)))
    titled = [(e, e.title_in(current_language())) for e in db.session.scalars(query)]
    return pages.organiser_home_page(SERVICE, _("Feedback and reports"), titled, "web.dashboard")


# Organisers sign in on the registration service; its sign-in leads back here.
pages.add_sign_in_elsewhere(
    bp, SERVICE, pages.SignIn(rule="/organiser/sign-in", endpoint="sign_in")
)


def dashboard_page(
    event: Event,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Any:
    language = current_language()
    fmt = formats.For(language)
    summary = summaries.event_summary(db.session, event, with_comments=True)
    sessions = {s.code: s for s in summaries.event_sessions(db.session, event)}
    rows = [
        {
            **row,
            "title": sessions[row["code"]].title_in(language),
            "when": fmt.moment(sessions[row["code"]].starts_at, event.timezone),
            "kind_label": str(KIND_LABELS.get(row["kind"], row["kind"])),
        }
        for row in summary["sessions"]
    ]
    recommendations = [
        {**rec, "lang": fmt.foreign(rec["language"])}
        for rec in recommendations_with_support(db.session, event)
    ]
    # The event's figures; the response rate counts attendees of sessions held so far only.
    totals = summaries.Stats(0, Counter())
    for session in sessions.values():
        if session.starts_at <= utcnow():
            totals.attendees += session.attendees
    for row in summary["sessions"]:
        totals.distribution.update({int(k): v for k, v in row["distribution"].items()})
    return page(
        "dashboard.html",
        status,
        event=event,
        title=event.title_in(language),
        sessions=rows,
        themes=summary["themes"],
        theme_names=theme_names(sessions.values(), language),
        recommendations=recommendations,
        totals=totals.as_dict(),
        form=form or {},
        errors=errors or {},
        error_order=RECOMMENDATION_FIELDS,
        languages=LANGUAGE_NAMES,
        figures=Figures(language),
        comments_shown=COMMENTS_SHOWN,
    )


def theme_names(
    sessions: Iterable[ProgrammeSession], language: str
) -> dict[str, tuple[str, str | None]]:
    """Each theme (as entered, the key) → its name in the page's language and that name's
    `lang` attribute, in the order readers expect."""
    by_theme: dict[str, list[ProgrammeSession]] = defaultdict(list)
    for session in sessions:
        by_theme[session.theme].append(session)
    names = {}
    for theme, members in by_theme.items():
        translations = summaries.theme_translations(members)
        names[theme] = (
            in_language(theme, translations, language),
            entered_language(theme, translations, language),
        )
    return dict(sorted(names.items(), key=lambda item: sort_key(item[1][0])))


@bp.get("/organiser/events/<slug>")
@organiser_required(Permission.FEEDBACK_READ)
def dashboard(slug: str) -> Any:
    return dashboard_page(event_or_404(slug))


@bp.post("/organiser/events/<slug>/recommendations")
@organiser_required(Permission.RECOMMENDATIONS_WRITE)
def add_recommendation(slug: str) -> Any:
    event = event_or_404(slug)
    g.page_target = ("web.dashboard", {"slug": slug})
    form = {name: request.form.get(name, "") for name in RECOMMENDATION_FIELDS}
    try:
        data = RecommendationIn().load({**form, "language": form["language"] or None})
    except ValidationError as invalid:
        messages = {
            "theme": _("Please choose a theme."),
            "language": _("Please choose one of the languages offered."),
            "text": _("Please write the recommendation (at most 2000 characters)."),
        }
        errors = {
            name: str(messages.get(name, _("Please check this field.")))
            for name in invalid.messages_dict
        }
        return dashboard_page(event, 422, form, errors)
    try:
        create_recommendation(db.session, event, data["theme"], data["text"], data["language"])
    except RuleError:
        db.session.rollback()
        return dashboard_page(event, 422, form, {"theme": _("Please choose a theme.")})
    db.session.commit()
    flash(_("The recommendation is added; participants can now endorse it."), "success")
    return redirect(url_for("web.dashboard", slug=slug, _anchor="recommendations"), 303)


@bp.get("/organiser/events/<slug>/feedback.csv")
@organiser_required(Permission.FEEDBACK_EXPORT)
def feedback_csv(slug: str) -> Any:
    rows = summaries.export_rows(db.session, event_or_404(slug))
    audit.record_read(db, "feedback.export_read", slug, slug)
    return csv_response(rows, summaries.EXPORT_COLUMNS, f"{slug}-feedback.csv")


@bp.get("/organiser/events/<slug>/report")
@organiser_required(Permission.FEEDBACK_READ)
def report_page(slug: str) -> Any:
    event_or_404(slug)
    return report_response(slug, "html")


@bp.get("/organiser/events/<slug>/report.<fmt>")
@organiser_required(Permission.FEEDBACK_READ)
def report_download(slug: str, fmt: str) -> Any:
    event_or_404(slug)
    if fmt not in ("json", "md", "pdf"):
        abort(not_found(_("There is no such format.")))
    return report_response(slug, fmt)
