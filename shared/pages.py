"""What every service's server-rendered pages share: the language choice, the layout, headers
and error pages, the accessibility statement, and the organisers' one web sign-in (a session in
Redis that every service honours, checked against each service's own copy of the accounts;
`organiser_required` with the permission a page needs, and the 403 page)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from shared import formats
from shared.accounts import ENVIRONMENT_ACTOR_ID, Actor, Permission
from shared.auth import OrganiserSession, OrganiserSessions, hash_token
from shared.config import ROOT
from shared.contracts import LANGUAGES
from shared.http import (
    OrganiserAuth,
    error_response,
    event_of_request,
    mark_permission,
    public,
    wants_json,
)

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


# One cookie for every service: the services share a host, and a cookie is sent to every port
# of its host, so signing in on one signs the browser in on all.
ORGANISER_COOKIE = "agora_organiser"
# The registration service's sign-in page (the only one with passwords) that the other
# services send a visitor to, with `next` the absolute address to come back to.
REGISTRATION_SIGN_IN_PATH = "/organiser/sign-in"


def organiser_sessions() -> OrganiserSessions:
    sessions: OrganiserSessions = current_app.extensions["organiser_sessions"]
    return sessions


def organiser_auth() -> OrganiserAuth:
    auth: OrganiserAuth = current_app.extensions["organiser_auth"]
    return auth


def signed_in_actor() -> Actor | None:
    """The organiser this browser is signed in as, on this service: the cookie holds a random
    session id (never a token), the session in Redis an account id (and, for a sign-in with a
    token, the token's hash). The account is checked against this service's own copy at every
    request: unknown or disabled, nobody is signed in; a token known here as revoked ends the
    session."""
    if "signed_in_actor" not in g:
        session_id = request.cookies.get(ORGANISER_COOKIE)
        found = organiser_sessions().session(session_id) if session_id else None
        g.signed_in_actor = actor_of_session(found) if found is not None else None
        if found is not None and g.signed_in_actor is None and session_id:
            if found.token_hash and organiser_auth().token_revoked(found.token_hash):
                organiser_sessions().end(session_id)
    actor: Actor | None = g.signed_in_actor
    return actor


def actor_of_session(found: OrganiserSession) -> Actor | None:
    auth = organiser_auth()
    if found.account_id == ENVIRONMENT_ACTOR_ID:
        # Signed in with ORGANISER_TOKEN: as long as that is still the token.
        holds = found.token_hash is not None and auth.is_environment_token(found.token_hash)
        return Actor.environment_token() if holds else None
    if found.token_hash is not None and auth.token_revoked(found.token_hash):
        return None
    return auth.actor_for_account(found.account_id)


def start_organiser_session(
    response: BaseResponse, account_id: str, token_hash: str | None = None
) -> BaseResponse:
    """Sign the browser in as this account, on every service (RedisError when Redis is
    unreachable); `token_hash` for a sign-in with a token, whose revocation then ends it."""
    session_id = organiser_sessions().start(account_id, ORGANISER_SIGN_IN_SECONDS, token_hash)
    set_cookie(response, ORGANISER_COOKIE, session_id, ORGANISER_SIGN_IN_SECONDS)
    return response


def sign_organiser_in(response: BaseResponse, token: str) -> bool:
    """Sign the browser in with an organiser token (False if it does not hold here; RedisError
    when Redis is unreachable). ORGANISER_TOKEN signs in as `ENVIRONMENT_ACTOR_ID`."""
    actor = organiser_auth().actor_for_token(token)
    if actor is None:
        return False
    start_organiser_session(response, actor.account_id, hash_token(token))
    return True


def sign_organiser_out(response: BaseResponse) -> BaseResponse:
    """End this browser's session, on every service."""
    session_id = request.cookies.get(ORGANISER_COOKIE)
    if session_id:
        organiser_sessions().end(session_id)
    response.delete_cookie(
        ORGANISER_COOKIE, path="/", samesite="Lax", httponly=True, secure=cookie_is_secure()
    )
    return response


# The services whose layout has a sign-out form of its own (the others' pages show one).
LAYOUT_SIGNS_OUT = frozenset({"notifier"})


def forbidden_page() -> tuple[str, int]:
    """403: signed in, but this account's roles do not open this page."""
    service = current_app.extensions["service"]
    page = render_template(
        "agora/forbidden.html",
        layout=f"{service}/layout.html",
        sign_out=service not in LAYOUT_SIGNS_OUT,
    )
    return page, 403


def organiser_required(
    sign_in_endpoint: str,
    permission: Permission,
    *,
    keep_query: bool = False,
    every_event: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A page for organisers allowed `permission` (on the page's event, its `slug`; without
    one on at least one event, the page then showing only `events_for`; on every event with
    `every_event`): a visitor not signed in goes to the sign-in page and comes back; one
    signed in without the permission gets the 403 page. Sets `g.actor`."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = signed_in_actor()
            if actor is None:
                back = request.full_path.rstrip("?") if keep_query else request.path
                return redirect(url_for(sign_in_endpoint, next=back))
            if not actor.may(permission, event_of_request(every_event)):
                return forbidden_page()
            g.actor = actor
            return view(*args, **kwargs)

        return mark_permission(wrapper, permission, every_event)

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


def public_url(service: str) -> str:
    """Where a service's pages are, as visitors reach them."""
    settings = current_app.extensions["settings"]
    if service == "registration":
        return str(settings.public_base_url).rstrip("/")
    return str(getattr(settings, f"{service}_public_url")).rstrip("/")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def safe_return(target: str | None, prefix: str = "/") -> str | None:
    """Where a sign-in may lead back to: a path on this site under `prefix`, or an address on
    one of the three services' public origins (the others send their visitors here to sign
    in); nothing else, so no open redirect."""
    if safe_next(target, prefix) is not None:
        return target
    if not target or any(ord(c) < 32 or ord(c) == 127 for c in target) or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.username is not None or parts.password is not None:
        return None
    origins = {_origin(public_url(s)) for s in ("registration", "feedback", "notifier")}
    return target if (parts.scheme in ("http", "https") and _origin(target) in origins) else None


def registration_sign_in_url(back: str) -> str:
    """The registration service's sign-in page, leading back to the absolute address `back`."""
    return f"{public_url('registration')}{REGISTRATION_SIGN_IN_PATH}?{urlencode({'next': back})}"


# --- what every service's page blueprint installs ----------------------------------------------

# No script, no outside resource: the pages are plain HTML forms with inline styles. A form may
# lead to the three services only (`form-action` holds for the redirects after it too: signing
# in on the registration service leads back to the feedback or notifier page asked for).
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self' {origins}; base-uri 'none'; frame-ancestors 'none'"
)


def content_security_policy() -> str:
    origins = {"://".join(_origin(public_url(s))) for s in ("registration", "feedback", "notifier")}
    return CSP.format(origins=" ".join(sorted(origins)))


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
    bp.add_url_rule("/accessibility", "accessibility", public(accessibility_page(service)))

    @bp.context_processor
    def layout_context() -> dict[str, Any]:
        return {
            "language_links": language_links(fallback_endpoint),
            "current_language": current_language(),
            "language_names": LANGUAGE_NAMES,
            "signed_in": signed_in_actor() is not None,
            "may": may,
            "fmt": formats.For(current_language()),
            **(context() if context else {}),
        }

    @bp.after_request
    def page_headers(response: Response) -> Response:
        remember_language(response)
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
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


def refused(response: Response) -> bool:
    """A sign-in attempt with a wrong token (only those count against the limit)."""
    return response.status_code == 401


def may(permission: str, event: str | None = None) -> bool:
    """For templates: whether the signed-in organiser may do this (a link to a page they
    may not open is better left out)."""
    actor = signed_in_actor()
    return actor is not None and actor.may(Permission(permission), event)


def add_sign_in_elsewhere(bp: Blueprint, service: str, where: SignIn) -> None:
    """The sign-in and sign-out of a service whose organisers sign in on the registration
    service (it alone holds passwords): its sign-in page sends the browser there, with the
    address to come back to; signing out here ends the session on every service."""

    @public
    def sign_in() -> Any:
        target = safe_next(request.args.get("next"), where.next_prefix)
        if signed_in_actor() is not None:
            return redirect(target or url_for(f"web.{where.landing}"))
        back = public_url(service) + (target or url_for(f"web.{where.landing}"))
        return redirect(registration_sign_in_url(back))

    @public
    def sign_out() -> Any:
        back = public_url(service) + url_for(f"web.{where.landing}")
        return sign_organiser_out(redirect(registration_sign_in_url(back), 303))

    bp.add_url_rule(where.rule, where.endpoint, sign_in)
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
