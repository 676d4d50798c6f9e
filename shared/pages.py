"""What every service's server-rendered pages share: language choice and organiser sign-in."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, g, redirect, request, url_for
from flask import session as cookie_session
from flask_babel import get_locale

from shared.contracts import LANGUAGES

LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "en": "English"}
LANG_COOKIE_SECONDS = 365 * 24 * 3600
ORGANISER_SIGN_IN_SECONDS = 12 * 3600


def choose_language(own: str | None = None) -> str:
    """?lang=, then the lang cookie, then the participant's own language, then the browser."""
    for chosen in (request.args.get("lang"), request.cookies.get("lang"), own):
        if chosen in LANGUAGES:
            return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or "en"


def current_language() -> str:
    return str(get_locale() or "en")


def serves_get(endpoint: str) -> bool:
    return any("GET" in (rule.methods or ()) for rule in current_app.url_map.iter_rules(endpoint))


def language_links(fallback_endpoint: str) -> list[dict[str, Any]]:
    """Plain links to this page in each language (after a POST: to the page to go back to)."""
    endpoint, values = g.get("page_target") or (request.endpoint, dict(request.view_args or {}))
    if "page_target" not in g:
        values.update((k, v) for k, v in request.args.items() if k != "lang")
        if endpoint is None or not serves_get(endpoint):
            endpoint, values = fallback_endpoint, {}
    return language_links_to(str(endpoint), values)


def language_links_to(endpoint: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "code": code,
            "name": name,
            "url": url_for(endpoint, **values, lang=code),
            "current": code == current_language(),
        }
        for code, name in LANGUAGE_NAMES.items()
    ]


def remember_language(response: Response) -> None:
    """A language picked with ?lang= sticks, in a cookie."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get("lang") != chosen:
        response.set_cookie(
            "lang",
            chosen,
            max_age=LANG_COOKIE_SECONDS,
            samesite="Lax",
            httponly=True,
            secure=request.is_secure,
        )


def organiser_signed_in() -> bool:
    # The cookie holds a signed flag and its expiry, never the token itself.
    return (
        bool(cookie_session.get("organiser"))
        and cookie_session.get("organiser_until", 0) > time.time()
    )


def sign_organiser_in() -> None:
    cookie_session.clear()
    cookie_session["organiser"] = True
    cookie_session["organiser_until"] = time.time() + ORGANISER_SIGN_IN_SECONDS


def sign_organiser_out() -> None:
    cookie_session.pop("organiser", None)
    cookie_session.pop("organiser_until", None)


def organiser_required(
    sign_in_endpoint: str, keep_query: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Send a visitor who is not signed in to the sign-in page, coming back afterwards."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not organiser_signed_in():
                back = request.full_path.rstrip("?") if keep_query else request.path
                return redirect(url_for(sign_in_endpoint, next=back))
            return view(*args, **kwargs)

        return wrapper

    return decorate


def safe_next(target: str | None, prefix: str = "/") -> str | None:
    """Only a path on this site under `prefix` (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(prefix) or "\\" in target:
        return None
    return None if target.startswith("//") else target
