"""JSON API of the feedback service: parse (schema) → call the domain → dump (schema)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint

from services.feedback import readmodel, submissions, summaries
from services.feedback.extensions import db, organiser_auth
from services.feedback.recommendations import create_recommendation, recommendations_with_support
from services.feedback.report.responses import report_response, schedule_report
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
from shared import audit
from shared.accounts import Permission
from shared.auth import ParticipantClaim, ParticipantTokens
from shared.db import utcnow
from shared.http import csv_response, participant_claim, public, run_rules

F = TypeVar("F", bound=Callable[..., Any])

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
run = functools.partial(run_rules, db, conflict=submissions.CONFLICT)


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


def submit(data: dict[str, Any], slug: str, code: str, replace: bool) -> tuple[Any, int]:
    result = run(submissions.submit_feedback, db.session, slug, code, claim(), data, replace)
    db.session.commit()
    if result.report_due:
        schedule_report(slug)
    now = utcnow()
    body = {
        "session": code,
        "rating": data["rating"],
        "comment": submissions.clean_text(data.get("comment")) or None,
        "endorsements": {
            str(int(k)): v for k, v in sorted((data.get("endorsements") or {}).items())
        },
        "updated_at": now,
    }
    return body, 201 if result.created else 200


# --- participants ------------------------------------------------------------------------------


@feedback_bp.route(FEEDBACK_PATH)
class SessionFeedback(MethodView):
    @public
    @participant_required
    @feedback_bp.response(200, FeedbackOut)
    @feedback_bp.doc(security=PARTICIPANT)
    def get(self, slug: str, code: str) -> Any:
        """My feedback on this session."""
        return run(submissions.my_feedback, db.session, slug, code, claim())

    @public
    @participant_required
    @feedback_bp.arguments(FeedbackIn)
    @feedback_bp.response(201, FeedbackOut)
    @feedback_bp.doc(security=PARTICIPANT)
    def post(self, data: dict[str, Any], slug: str, code: str) -> Any:
        """Rate a session I have a confirmed place in, once it has started (409 if rated: PUT)."""
        return submit(data, slug, code, replace=False)

    @public
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
    @public
    @participant_required
    @feedback_bp.response(200, FeedbackOut(many=True))
    @feedback_bp.doc(security=PARTICIPANT)
    def get(self) -> Any:
        """Everything I have written here (for my data export)."""
        return run(submissions.all_my_feedback, db.session, claim())


# --- organisers: summaries ---------------------------------------------------------------------


@organiser_bp.route("/<slug>/sessions/<code>/summary")
class SessionSummary(MethodView):
    @organiser_auth.requires(Permission.FEEDBACK_READ)
    @organiser_bp.response(200, SessionSummaryOut)
    @organiser_bp.doc(security=ORGANISER)
    def get(self, slug: str, code: str) -> Any:
        """Responses, attendees, response rate, mean, median, distribution and the comments."""
        event = run(readmodel.get_event, db.session, slug)
        session = run(readmodel.get_session, db.session, event, code)
        return summaries.session_summary(db.session, event, session)


@organiser_bp.route("/<slug>/summary")
class EventSummary(MethodView):
    @organiser_auth.requires(Permission.FEEDBACK_READ)
    @organiser_bp.arguments(SummaryArgs, location="query")
    @organiser_bp.response(200, EventSummaryOut)
    @organiser_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """One row per session and one per theme (`?comments=false` leaves comments out)."""
        event = run(readmodel.get_event, db.session, slug)
        return summaries.event_summary(db.session, event, with_comments=args["comments"])


# --- organisers: recommendations ---------------------------------------------------------------


@organiser_bp.route("/<slug>/recommendations")
class Recommendations(MethodView):
    @organiser_auth.requires(Permission.FEEDBACK_READ)
    @organiser_bp.response(200, RecommendationOut(many=True))
    @organiser_bp.doc(security=ORGANISER)
    def get(self, slug: str) -> Any:
        """The draft recommendations with their support (mean, share positive, answers)."""
        event = run(readmodel.get_event, db.session, slug)
        return recommendations_with_support(db.session, event)

    @organiser_auth.requires(Permission.RECOMMENDATIONS_WRITE)
    @organiser_bp.arguments(RecommendationIn)
    @organiser_bp.response(201, RecommendationCreated)
    @organiser_bp.doc(security=ORGANISER)
    def post(self, data: dict[str, Any], slug: str) -> Any:
        """Draft a recommendation for one of the event's themes."""
        event = run(readmodel.get_event, db.session, slug)
        recommendation = run(
            create_recommendation,
            db.session,
            event,
            data["theme"],
            data["text"],
            data["language"],
        )
        db.session.commit()
        return recommendation


# --- organisers: export and report -------------------------------------------------------------


@organiser_bp.route("/<slug>/feedback")
class FeedbackExport(MethodView):
    @organiser_auth.requires(Permission.FEEDBACK_EXPORT)
    @organiser_bp.arguments(FeedbackExportArgs, location="query")
    @organiser_bp.response(200, FeedbackExportRow(many=True))
    @organiser_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """All feedback without identities; `?format=csv` for a spreadsheet."""
        event = run(readmodel.get_event, db.session, slug)
        rows = summaries.export_rows(db.session, event)
        audit.record_read(db, "feedback.export_read", slug, slug)
        if args["format"] == "csv":
            return csv_response(rows, summaries.EXPORT_COLUMNS, f"{slug}-feedback.csv")
        return rows


@organiser_bp.route("/<slug>/report")
class ReportView(MethodView):
    @organiser_auth.requires(Permission.FEEDBACK_READ)
    @organiser_bp.arguments(ReportArgs, location="query")
    @organiser_bp.response(200)
    @organiser_bp.doc(security=ORGANISER)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """The recommendation report: `format` json (default), html, md or pdf; `lang` fr/nl/en."""
        return report_response(slug, args["format"])
