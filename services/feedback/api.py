"""JSON API of the feedback service: parse (schema) → call logic → dump (schema)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from flask import Response, current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from services.feedback import logic, report
from services.feedback.extensions import db, organiser_auth
from services.feedback.models import Feedback, ProgrammeSession
from services.feedback.schemas import (
    EventSummaryOut,
    FeedbackExportArgs,
    FeedbackExportRow,
    FeedbackIn,
    FeedbackOut,
    RecommendationCreated,
    RecommendationIn,
    RecommendationOut,
    ReportArgs,
    SessionSummaryOut,
    SummaryArgs,
)
from services.feedback.tasks import FeedbackTasks
from shared.auth import ParticipantClaim, ParticipantTokens
from shared.contracts import Queues
from shared.db import utcnow
from shared.http import csv_response, participant_claim, run_rules

F = TypeVar("F", bound=Callable[..., Any])
log = structlog.get_logger(__name__)

feedback_bp = Blueprint(
    "feedback", __name__, url_prefix="/api/v1", description="Participants rate their sessions"
)
organiser_bp = Blueprint(
    "organiser",
    __name__,
    url_prefix="/api/v1/events",
    description="Summaries, recommendations and the report (organisers)",
)
blueprints = [feedback_bp, organiser_bp]
ORGANISER = [{"organiser": []}]
PARTICIPANT = [{"participant": []}]
FEEDBACK_PATH = "/events/<slug>/sessions/<code>/feedback"
EXPORT_COLUMNS = ["session", "session_title", "theme", "rating", "comment"]
run = functools.partial(
    run_rules,
    db,
    conflict="This conflicts with a change made at the same moment; please try again.",
)


def tokens() -> ParticipantTokens:
    found: ParticipantTokens = current_app.extensions["participant_tokens"]
    return found


def participant_required(view: F) -> F:
    """401 unless a signed participant token comes with the request (checked before the body)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.claim = participant_claim(tokens())
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def claim() -> ParticipantClaim:
    found: ParticipantClaim = g.claim
    return found


def schedule_report(slug: str) -> None:
    """Queue one rebuild of the event's report a few seconds from now (after the commit).

    Best effort: with Redis away, the periodic job and the next reader catch up instead.
    """
    try:
        current_app.extensions["celery"].send_task(
            FeedbackTasks.REBUILD_REPORT,
            kwargs={"event_slug": slug},
            queue=Queues.FEEDBACK,
            countdown=report.COALESCE_SECONDS,
            retry=False,
        )
    except Exception as exc:
        log.warning("report.schedule_failed", slug=slug, error=str(exc))


def submit(data: dict[str, Any], slug: str, code: str, replace: bool) -> tuple[Any, int]:
    result = run(logic.submit_feedback, db.session, slug, code, claim(), data, replace)
    db.session.commit()
    if result.report_due:
        schedule_report(slug)
    now = utcnow()
    body = {
        "session": code,
        "rating": data["rating"],
        "comment": logic.clean_text(data.get("comment")) or None,
        "endorsements": {
            str(int(k)): v for k, v in sorted((data.get("endorsements") or {}).items())
        },
        "updated_at": now,
    }
    return body, 201 if result.created else 200


# --- participants ------------------------------------------------------------------------------


@feedback_bp.route(FEEDBACK_PATH)
class SessionFeedback(MethodView):
    @participant_required
    @feedback_bp.response(200, FeedbackOut)
    @feedback_bp.doc(security=PARTICIPANT)
    def get(self, slug: str, code: str) -> Any:
        """My feedback on this session."""
        return run(logic.my_feedback, db.session, slug, code, claim())

    @participant_required
    @feedback_bp.arguments(FeedbackIn)
    @feedback_bp.response(201, FeedbackOut)
    @feedback_bp.doc(security=PARTICIPANT)
    def post(self, data: dict[str, Any], slug: str, code: str) -> Any:
        """Rate a session I have a confirmed place in, once it has started (409 if rated: PUT)."""
        return submit(data, slug, code, replace=False)

    @participant_required
    @feedback_bp.arguments(FeedbackIn)
    @feedback_bp.response(200, FeedbackOut)
    @feedback_bp.alt_response(201, schema=FeedbackOut, description="Created")
    @feedback_bp.doc(security=PARTICIPANT)
    def put(self, data: dict[str, Any], slug: str, code: str) -> Any:
        """Replace my feedback on a session (or give it: 201)."""
        return submit(data, slug, code, replace=True)


@feedback_bp.route("/feedback/me")
class MyFeedback(MethodView):
    @participant_required
    @feedback_bp.response(200, FeedbackOut(many=True))
    @feedback_bp.doc(security=PARTICIPANT)
    def get(self) -> Any:
        """Everything I have written here (for my data export)."""
        return run(logic.all_my_feedback, db.session, claim())


# --- organisers: summaries ---------------------------------------------------------------------


@organiser_bp.route("/<slug>/sessions/<code>/summary")
class SessionSummary(MethodView):
    @organiser_auth.required
    @organiser_bp.response(200, SessionSummaryOut)
    @organiser_bp.doc(security=ORGANISER)
    def get(self, slug: str, code: str) -> Any:
        """Responses, attendees, response rate, mean, median, distribution and the comments."""
        event = run(logic.get_event, db.session, slug)
        session = run(logic.get_session, db.session, event, code)
        return logic.session_summary(db.session, event, session)


@organiser_bp.route("/<slug>/summary")
class EventSummary(MethodView):
    @organiser_auth.required
    @organiser_bp.arguments(SummaryArgs, location="query")
    @organiser_bp.response(200, EventSummaryOut)
    @organiser_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """One row per session and one per theme (`?comments=false` leaves comments out)."""
        event = run(logic.get_event, db.session, slug)
        return logic.event_summary(db.session, event, with_comments=args["comments"])


# --- organisers: recommendations ---------------------------------------------------------------


@organiser_bp.route("/<slug>/recommendations")
class Recommendations(MethodView):
    @organiser_auth.required
    @organiser_bp.response(200, RecommendationOut(many=True))
    @organiser_bp.doc(security=ORGANISER)
    def get(self, slug: str) -> Any:
        """The draft recommendations with their support (mean, share positive, answers)."""
        event = run(logic.get_event, db.session, slug)
        return logic.recommendations_with_support(db.session, event)

    @organiser_auth.required
    @organiser_bp.arguments(RecommendationIn)
    @organiser_bp.response(201, RecommendationCreated)
    @organiser_bp.doc(security=ORGANISER)
    def post(self, data: dict[str, Any], slug: str) -> Any:
        """Draft a recommendation for one of the event's themes."""
        event = run(logic.get_event, db.session, slug)
        recommendation = run(
            logic.create_recommendation, db.session, event, data["theme"], data["text"]
        )
        db.session.commit()
        return recommendation


# --- organisers: export and report -------------------------------------------------------------


def export_rows(slug: str) -> list[dict[str, Any]]:
    """Every rating and comment, by session then rating then text: nothing says who or when."""
    event = run(logic.get_event, db.session, slug)
    rows = db.session.execute(
        select(
            ProgrammeSession.code,
            ProgrammeSession.title,
            ProgrammeSession.theme,
            Feedback.rating,
            Feedback.comment,
        )
        .join(ProgrammeSession, ProgrammeSession.id == Feedback.session_id)
        .where(ProgrammeSession.event_id == event.id)
    ).all()
    ordered = sorted(
        rows, key=lambda r: (r.code, -r.rating, (r.comment or "").casefold(), r.comment or "")
    )
    return [
        {
            "session": r.code,
            "session_title": r.title,
            "theme": r.theme,
            "rating": r.rating,
            "comment": r.comment,
        }
        for r in ordered
    ]


@organiser_bp.route("/<slug>/feedback")
class FeedbackExport(MethodView):
    @organiser_auth.required
    @organiser_bp.arguments(FeedbackExportArgs, location="query")
    @organiser_bp.response(200, FeedbackExportRow(many=True))
    @organiser_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """All feedback without identities; `?format=csv` for a spreadsheet."""
        rows = export_rows(slug)
        if args["format"] == "csv":
            return csv_response(rows, EXPORT_COLUMNS, f"{slug}-feedback.csv")
        return rows


def report_response(slug: str, fmt: str) -> Response:
    """The latest report in one format, in the request's language (API and organiser pages)."""
    from services.feedback import web

    # The report is read and stored in transactions of its own: end the request's first (on
    # SQLite an open transaction holds the write lock the report's would wait for).
    db.session.commit()
    data = run(report.latest, db, slug)
    if fmt == "json":
        return Response(report.render_json(data), mimetype="application/json")
    labels = web.report_labels()
    if fmt == "md":
        return Response(
            report.render_markdown(data, labels),
            mimetype="text/markdown",
            headers={"Content-Disposition": f'inline; filename="{slug}-report.md"'},
        )
    if fmt == "pdf":
        return Response(
            report.render_pdf(data, labels),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{slug}-report.pdf"'},
        )
    return Response(web.render_report_html(data, labels), mimetype="text/html")


@organiser_bp.route("/<slug>/report")
class ReportView(MethodView):
    @organiser_auth.required
    @organiser_bp.arguments(ReportArgs, location="query")
    @organiser_bp.response(200)
    @organiser_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """The recommendation report: `format` json (default), html, md or pdf; `lang` fr/nl/en."""
        return report_response(slug, args["format"])
