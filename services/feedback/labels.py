"""The report's `Labels` for the request: its words, numbers, countries and roles in the
page's language (the names of kinds, roles and countries come from `shared.labels`)."""

from __future__ import annotations

from flask_babel import gettext as _

from services.feedback.report.wording import Labels
from shared.labels import KIND_LABELS, ROLE_LABELS, country_name
from shared.pages import current_language


def report_labels() -> Labels:
    return Labels(
        gettext=_,
        language=current_language(),
        country=country_name,
        role=lambda code: str(ROLE_LABELS.get(code, code)),
        kind=lambda code: str(KIND_LABELS.get(code, code)),
    )
