"""What the registration page tests share: a filled-in registration form and its answer."""

from __future__ import annotations

from typing import Any


def form(**overrides: Any) -> dict[str, Any]:
    """The registration form as a participant fills it in (no session chosen)."""
    return {
        "name": "Ana Participant",
        "email": "ana@example.org",
        "organisation": "Ville de Liège",
        "city": "Liège",
        "country": "BE",
        "role": "researcher",
        "language": "en",
        "consent": "yes",
        "session_codes": [],
        **overrides,
    }


def page(response: Any) -> str:
    return str(response.get_data(as_text=True))


def manage_path(response: Any) -> str:
    """Where a successful form leads: the participant's manage page (without its query)."""
    assert response.status_code == 303, page(response)
    return str(response.headers["Location"].split("?")[0])
