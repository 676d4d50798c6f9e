"""What the feedback tests share besides fixtures: the organiser header, the themes, the
feedback URL of a session."""

from __future__ import annotations

from typing import Any

from tests.helpers import ORGANISER_TOKEN, bearer

ORGANISER = bearer(ORGANISER_TOKEN)
THEME = "Drugs and organised crime"
OTHER_THEME = "Mental health in public space"


def feedback_url(event: dict[str, Any], session: dict[str, Any]) -> str:
    return f"/api/v1/events/{event['slug']}/sessions/{session['code']}/feedback"
