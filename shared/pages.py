"""What every service's server-rendered pages share: the language choice, the layout, headers
and error pages, the accessibility statement, and the organiser sign-in."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from shared import formats
from shared.auth import OrganiserSessions, hash_token
from shared.config import ROOT
from shared.contracts import LANGUAGES
from shared.http import OrganiserAuth, error_response, limiter, wants_json

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
        set_cookie(response, "lang", chosen, LANG_COOKIE_SECONDS)


def cookie_is_secure() -> bool:
    return bool(current_app.extensions["settings"].secure_cookies or request.is_secure)


def set_cookie(response: BaseResponse, name: str, value: str, max_age: int) -> None:
    """A cookie no script reads, not sent with other sites' requests, Secure behind HTTPS."""
    response.set_cookie(
        name, value, max_age=max_age, samesite="Lax", httponly=True, secure=cookie_is_secure()
    )


def organiser_cookie() -> str:
    # Named for its service and purpose: services on one host must not overwrite each other's.
    return f"{current_app.extensions['service']}_organiser"


def organiser_sessions() -> OrganiserSessions:
    sessions: OrganiserSessions = current_app.extensions["organiser_sessions"]
    return sessions


def organiser_signed_in() -> bool:
    """The cookie holds a random session id, never the token; the session, in Redis, the hash
    of the token that signed in, checked again on every request: a revoked token ends it."""
    if "organiser_signed_in" not in g:
        session_id = request.cookies.get(organiser_cookie())
        token_hash = organiser_sessions().token_hash(session_id) if session_id else None
        auth: OrganiserAuth = current_app.extensions["organiser_auth"]
        g.organiser_signed_in = token_hash is not None and auth.hash_is_valid(token_hash)
        if token_hash is not None and not g.organiser_signed_in and session_id:
            organiser_sessions().end(session_id)
    return bool(g.organiser_signed_in)


def sign_organiser_in(response: BaseResponse, token: str) -> BaseResponse:
    """Start a session for this token (RedisError when Redis is unreachable)."""
    session_id = organiser_sessions().start(hash_token(token), ORGANISER_SIGN_IN_SECONDS)
    set_cookie(response, organiser_cookie(), session_id, ORGANISER_SIGN_IN_SECONDS)
    return response


def sign_organiser_out(response: BaseResponse) -> BaseResponse:
    session_id = request.cookies.get(organiser_cookie())
    if session_id:
        organiser_sessions().end(session_id)
    response.delete_cookie(
        organiser_cookie(), samesite="Lax", httponly=True, secure=cookie_is_secure()
    )
    return response


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
    """Only a path on this site under `prefix` (no open redirect); none with a control
    character (a CR or LF would split the Location header)."""
    if not target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(prefix) or "\\" in target:
        return None
    return None if target.startswith("//") else target


# --- what every service's page blueprint installs ----------------------------------------------

# No script, no outside resource: the pages are plain HTML forms with inline styles.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Guessing an organiser token through a sign-in form: a few wrong tries a minute from one
# address, per service; signing in does not count, so a typo never locks anyone out for long.
SIGN_IN_LIMIT = "5 per minute;30 per hour"
SHARED_TEMPLATES = ROOT / "shared" / "templates"
# The accessibility statement's date: change it with the statement, after the next review.
STATEMENT_PREPARED_ON = date(2026, 12, 2)


def render(service: str, template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """One of a service's own templates (`<service>/<template>`), with its status."""
    return render_template(f"{service}/{template}", **context), status


def install_page_defaults(
    bp: Blueprint,
    service: str,
    *,
    fallback_endpoint: str,
    private: Callable[[], bool],
    context: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """The layout, headers, error pages and accessibility statement (`/accessibility`) every
    service's page blueprint has; its 404 page serves every address of the app but the API.

    `fallback_endpoint` is where the language links of a page that cannot be shown again (the
    answer to a POST) lead; `private()` says whether this response holds a personal link or
    personal data, which keeps it out of caches and Referer headers; `context()` adds the
    service's own values to every template.
    """
    bp.register_blueprint(Blueprint("layout", __name__, template_folder=str(SHARED_TEMPLATES)))
    bp.add_url_rule("/accessibility", "accessibility", accessibility_page(service))

    @bp.context_processor
    def layout_context() -> dict[str, Any]:
        return {
            "language_links": language_links(fallback_endpoint),
            "current_language": current_language(),
            "language_names": LANGUAGE_NAMES,
            "signed_in": organiser_signed_in(),
            "fmt": formats.For(current_language()),
            **(context() if context else {}),
        }

    @bp.after_request
    def page_headers(response: Response) -> Response:
        remember_language(response)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if private():
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        return response

    @bp.errorhandler(CSRFError)
    def csrf_failed(_error: CSRFError) -> Any:
        message = _(
            "For your safety, a form can only be sent from the page that showed it, in the "
            "same browser. Go back, reload the page and send the form again."
        )
        return render(
            service, "error.html", 400, heading=_("This form has expired"), message=message
        )

    @bp.errorhandler(429)
    def too_many_requests(_error: Exception) -> Any:
        heading, message = _("Too many attempts"), _("Please wait a minute, then try again.")
        body, status = render(service, "error.html", 429, heading=heading, message=message)
        return body, status, {"Retry-After": "60"}

    # On the app, not the blueprint: an address no route matches is a 404 of no blueprint. Its
    # page has the layout's values passed in, since no blueprint's context processor runs.
    @bp.app_errorhandler(404)
    def not_found(error: HTTPException) -> Any:
        if wants_json():
            return error_response(error)
        heading = _("Page not found")
        message = _(
            "There is no page at this address. Check the address, or start again from a link "
            "you were sent."
        )
        return render(
            service, "error.html", 404, heading=heading, message=message, **layout_context()
        )


def accessibility_page(service: str) -> Callable[[], Any]:
    """The accessibility statement (the model of Implementing Decision (EU) 2018/1523), in the
    service's layout; problems are reported to the organiser, at the address emails come from."""

    def accessibility() -> Any:
        return render_template(
            "agora/accessibility.html",
            layout=f"{service}/layout.html",
            prepared_on=STATEMENT_PREPARED_ON,
            contact=mail_from_address(current_app.extensions["settings"].mail_from),
            site=request.host_url,
        )

    return accessibility


def mail_from_address(mail_from: str) -> str:
    """The address in MAIL_FROM as people write it: `Name <address>` (the name may hold an
    unquoted comma, as the default's does) or a bare address."""
    match = re.fullmatch(r".*<([^<>\s]+)>\s*", mail_from, flags=re.DOTALL)
    return match.group(1) if match else mail_from.strip()


@dataclass(frozen=True)
class SignIn:
    """Where a service's organiser sign-in lives and what it leads to.

    `rule`/`endpoint`: the sign-in page (on `home`'s services also the organisers' home page,
    shown once signed in); `landing`: where signing in leads without a `next` path;
    `next_prefix`: the paths `next` may lead to; `sign_out_rule`: the target of the sign-out
    form (`agora/sign_out.html`, endpoint `web.organiser_sign_out`), which leads back to the
    sign-in page.
    """

    rule: str = "/organiser"
    endpoint: str = "organiser_home"
    landing: str = "organiser_home"
    next_prefix: str = "/organiser/"
    sign_out_rule: str = "/organiser/sign-out"
    heading: Any = _l("Organisers")
    intro: Any = None


def refused(response: Response) -> bool:
    """A sign-in attempt with a wrong token (only those count against the limit)."""
    return response.status_code == 401


def add_organiser_sign_in(
    bp: Blueprint,
    service: str,
    auth: OrganiserAuth,
    where: SignIn,
    home: Callable[[], Any] | None = None,
) -> None:
    """The organiser sign-in and sign-out views of a service's pages, rate limited.

    The form takes an organiser token; a valid one signs the browser in (a session in Redis,
    its random id in a cookie, never the token) and leads to `next` or the landing page.
    """

    def sign_in_page(status: int = 200, error: str | None = None, **values: Any) -> Any:
        return render_template(
            "agora/organiser_sign_in.html",
            layout=f"{service}/layout.html",
            heading=where.heading,
            intro=where.intro,
            error=error,
            **values,
        ), status

    @limiter.limit(SIGN_IN_LIMIT, methods=["POST"], deduct_when=refused)
    def sign_in() -> Any:
        next_path = safe_next(request.values.get("next"), where.next_prefix)
        if request.method == "POST":
            token = request.form.get("token", "").strip()
            if auth.is_valid(token):
                response = redirect(next_path or url_for(f"web.{where.landing}"), 303)
                try:
                    return sign_organiser_in(response, token)
                except RedisError:
                    error = _("Signing in is not possible right now. Please try again in a minute.")
                    return sign_in_page(503, error=error, next=next_path)
            error = _("This organiser token is not valid.")
            return sign_in_page(401, error=error, next=next_path)
        if not organiser_signed_in():
            return sign_in_page(next=next_path)
        if home is not None:
            return home()
        return redirect(next_path or url_for(f"web.{where.landing}"))

    def sign_out() -> Any:
        flash(_("You are signed out."), "success")
        return sign_organiser_out(redirect(url_for(f"web.{where.endpoint}"), 303))

    bp.add_url_rule(where.rule, where.endpoint, sign_in, methods=["GET", "POST"])
    bp.add_url_rule(where.sign_out_rule, "organiser_sign_out", sign_out, methods=["POST"])


def organiser_home_page(
    service: str, heading: Any, events: list[tuple[Any, str]], event_endpoint: str
) -> tuple[str, int]:
    """The organisers' home page of a service: its events (with their titles), each a link."""
    page = render_template(
        "agora/organiser_home.html",
        layout=f"{service}/layout.html",
        heading=heading,
        events=events,
        event_endpoint=event_endpoint,
    )
    return page, 200
