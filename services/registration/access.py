"""Who may do what on the public side: the participants' manage links and the rate limits.

The API and the pages share these, so a link signed by one opens the other and a form is
limited alike on both.
"""

from __future__ import annotations

from flask import current_app

from services.registration.models import Registration
from services.registration.registrations import Registered
from shared.auth import ParticipantTokens

REGISTER_LIMIT = "30 per minute;300 per hour"
RESEND_LIMIT = "5 per minute;30 per hour"


def tokens() -> ParticipantTokens:
    tokens: ParticipantTokens = current_app.extensions["participant_tokens"]
    return tokens


def manage_token(registration: Registration | Registered) -> str:
    return tokens().sign(registration.id, registration.token_version)
