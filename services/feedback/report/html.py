"""The report as an HTML page (the template `feedback/report.html`: charts are inline SVG)."""

from __future__ import annotations

from typing import Any

from flask import render_template, url_for

from services.feedback.report.wording import (
    Labels,
    headline_rows,
    method_rules,
    session_cells,
    support_text,
    theme_sentence,
)
from shared.pages import LANGUAGE_NAMES


def render_report_html(data: dict[str, Any], labels: Labels) -> str:
    return render_template(
        "feedback/report.html",
        data=data,
        labels=labels,
        headline=headline_rows(data["headline"], labels),
        method=method_rules(data["method"], labels),
        support_text=lambda row: support_text(row, labels),
        theme_sentence=lambda stats: theme_sentence(stats, labels),
        session_cells=lambda session: session_cells(session, labels),
        language_names=LANGUAGE_NAMES,
        dashboard=url_for("web.dashboard", slug=data["event"]["slug"]),
    )
