"""The report over HTTP, for the API and the organiser pages alike: the latest report as a
response in each format and in the request's language, and the rebuild a submission queues."""

from __future__ import annotations

import json
from typing import Any

import structlog
from flask import Response, current_app

from services.feedback.extensions import db
from services.feedback.labels import report_labels
from services.feedback.report import store
from services.feedback.report.html import render_report_html
from services.feedback.report.markdown import render_markdown
from services.feedback.report.pdf import render_pdf
from services.feedback.submissions import CONFLICT
from shared.contracts import OwnTasks, Queues
from shared.http import run_rules

log = structlog.get_logger(__name__)


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def report_response(slug: str, fmt: str) -> Response:
    """The latest report in one format, in the request's language (API and organiser pages)."""
    # The report is read and stored in transactions of its own: end the request's first (on
    # SQLite an open transaction holds the write lock the report's would wait for).
    db.session.commit()
    data = run_rules(db, store.latest, db, slug, conflict=CONFLICT)
    if fmt == "json":
        return Response(render_json(data), mimetype="application/json")
    labels = report_labels()
    if fmt == "md":
        return Response(
            render_markdown(data, labels),
            mimetype="text/markdown",
            headers={"Content-Disposition": f'inline; filename="{slug}-report.md"'},
        )
    if fmt == "pdf":
        return Response(
            render_pdf(data, labels),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{slug}-report.pdf"'},
        )
    return Response(render_report_html(data, labels), mimetype="text/html")


def schedule_report(slug: str) -> None:
    """Queue one rebuild of the event's report a few seconds from now (after the commit).

    Best effort: with Redis away, the periodic job and the next reader catch up instead.
    """
    try:
        current_app.extensions["celery"].send_task(
            OwnTasks.REBUILD_REPORT,
            kwargs={"event_slug": slug},
            queue=Queues.FEEDBACK,
            countdown=store.COALESCE_SECONDS,
            retry=False,
        )
    except Exception as exc:
        log.warning("report.schedule_failed", slug=slug, error=str(exc))
