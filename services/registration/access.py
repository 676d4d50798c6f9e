"""Who may do what on the public side: the participants' manage links and the rate limits.

The API and the pages share these, so a link signed by one opens the other and a form is
limited alike on both: the limits of a form and of its API share their counters (`scope`).

The limits: per client address, generous, since a conference's participants may share one
(700 behind the venue's Wi-Fi); per email address concerned, tight, since that is what an
abuser repeats (one inbox flooded with links, one address tried again and again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request

from services.registration.models import Registration
from services.registration.registrations import Registered
from shared.auth import EmailConfirmationTokens, ParticipantTokens, bearer_token
from shared.http import client_key, field_key, limiter

# Registering: a delegation or a desk behind one address registers many; one address a few
# times (a form sent again after a mistake), never dozens.
REGISTER_PER_CLIENT = "30 per minute;300 per hour"
REGISTER_PER_EMAIL = "10 per hour"
# "Resend my link": anyone can type an address, so each inbox gets a few links an hour at most;
# a venue's shared address can still serve hundreds of people who lost theirs.
RESEND_PER_CLIENT = "300 per hour"
RESEND_PER_EMAIL = "5 per hour;10 per day"
# "Send me a new link": each one revokes the last and sends an email, so a few a day.
NEW_LINK_PER_REGISTRATION = "5 per hour;10 per day"


def tokens() -> ParticipantTokens:
    tokens: ParticipantTokens = current_app.extensions["participant_tokens"]
    return tokens


def manage_token(registration: Registration | Registered) -> str:
    return tokens().sign(registration.id, registration.token_version)


def confirmation_tokens() -> EmailConfirmationTokens:
    """The email confirmation links' signer: the notifier signs them, pages and API check them."""
    found: EmailConfirmationTokens | None = current_app.extensions.get("confirmation_tokens")
    if found is None:
        secret = current_app.extensions["settings"].secret_key
        found = current_app.extensions["confirmation_tokens"] = EmailConfirmationTokens(secret)
    return found


def registration_key() -> str:
    """The registration a manage link (in the path or the Authorization header) is for; any
    other request counts by client."""
    token = (request.view_args or {}).get("token") or bearer_token(
        request.headers.get("Authorization")
    )
    claim = tokens().verify(token) if isinstance(token, str) else None
    if claim is None:
        return client_key()
    return f"{current_app.extensions['service']}/registration/{claim.registration_id}"


def _limits(
    scope: str, limits: tuple[tuple[str, Callable[[], str]], ...]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Several limits, each with its key, counted alike for the page and the API (POST only)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        for limit, key in limits:
            view = limiter.shared_limit(limit, scope=scope, key_func=key, methods=["POST"])(view)
        return view

    return decorate


limit_registration = _limits(
    "register", ((REGISTER_PER_CLIENT, client_key), (REGISTER_PER_EMAIL, field_key("email")))
)
limit_resend = _limits(
    "resend-link", ((RESEND_PER_CLIENT, client_key), (RESEND_PER_EMAIL, field_key("email")))
)
limit_new_link = _limits("new-link", ((NEW_LINK_PER_REGISTRATION, registration_key),))
