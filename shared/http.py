"""The HTTP layer of every service API: JSON errors, rule errors as responses, organiser
bearer tokens and the permission each route needs (`OrganiserAuth.requires`, `public`),
rate limits, CSV downloads."""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from flask import Flask, Response, current_app, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, default_exceptions

from shared.accounts import ALL_EVENTS, Actor, Permission, load_actor
from shared.auth import (
    OrganiserTokenMixin,
    ParticipantClaim,
    ParticipantTokens,
    bearer_token,
    hash_token,
)
from shared.config import Settings
from shared.db import Database
from shared.errors import RuleError

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def client_key() -> str:
    """The client's address, within this service: each service counts its own attempts."""
    return f"{current_app.extensions['service']}/client/{get_remote_address()}"


def field_key(name: str) -> Callable[[], str]:
    """A key function counting per value of the form or JSON field `name` (an email address,
    trimmed and lower-cased) within this service; the value is kept only as an HMAC, so no
    address is written to Redis. Without a value, the client's address counts."""

    def key() -> str:
        body = request.get_json(silent=True) if request.is_json else request.form
        value = body.get(name) if isinstance(body, Mapping) else None
        if not isinstance(value, str) or not value.strip():
            return client_key()
        secret = current_app.config["SECRET_KEY"].encode()
        digest = hmac.new(secret, value.strip().lower().encode(), hashlib.sha256).hexdigest()
        return f"{current_app.extensions['service']}/{name}/{digest[:32]}"

    return key


limiter = Limiter(key_func=client_key, default_limits=[], headers_enabled=True)
# Wrong organiser tokens from one client, on every organiser API of a service: then 429.
BEARER_FAILURE_LIMITS = parse_many("20 per minute;200 per hour")


def init_limiter(app: Flask, settings: Settings) -> None:
    app.config.setdefault("RATELIMIT_ENABLED", settings.rate_limits_enabled)
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url)
    # With Redis down, count in memory rather than refuse the request.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    # Short timeouts: an unreachable Redis must cost a request well under a second.
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    )
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    # The limiter is module-level: a new app gets a new storage, not yet known to be down
    # (else an earlier app's dead Redis would keep this one on the in-memory fallback).
    limiter._storage_dead = False
    limiter.init_app(app)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app: Flask) -> None:
    """JSON errors `{code, status, message, errors}` for the API, the usual pages elsewhere.

    The handler is registered for each HTTP status code as well as for HTTPException: Flask
    prefers a handler registered for a code, so flask-smorest's generic HTTPException handler
    (registered later, when the Api is created) does not replace this one.
    """

    def _http_error(error: HTTPException) -> Any:
        if not wants_json():
            return error
        return error_response(error)

    app.register_error_handler(HTTPException, _http_error)
    for code in default_exceptions:
        app.register_error_handler(code, _http_error)


def error_response(error: HTTPException) -> Any:
    status = error.code or 500
    data = getattr(error, "data", None)
    data = data if isinstance(data, dict) else {}
    response = jsonify(error_body(status, error.name, error.description or "", data))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="agora"'
    if status == 429:
        response.headers["Retry-After"] = "60"  # Flask-Limiter puts the exact figure after this
    if isinstance(data.get("headers"), dict):
        response.headers.update(data["headers"])
    return response


def error_body(status: int, name: str, description: str, data: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"code": status, "status": name, "message": description}
    for key in ("messages", "errors"):  # webargs says "messages", error() says "errors"
        if isinstance(data.get(key), dict):
            body["errors"] = data[key]
    if data.get("message"):
        body["message"] = data["message"]
    elif status == 422 and body.get("errors"):
        body["message"] = "Invalid input: " + ", ".join(_error_fields(body["errors"])) + "."
    elif status == 400 and body.get("errors"):
        body["message"] = "The request body is not valid JSON."
    elif status == 429:
        body["message"] = f"Too many requests ({description}); please try again later."
    elif status == 413 and current_app.config.get("MAX_CONTENT_LENGTH"):
        limit = int(current_app.config["MAX_CONTENT_LENGTH"]) // 1024
        body["message"] = f"The request body is too large (at most {limit} KiB)."
    return body


def _error_fields(errors: dict[str, Any]) -> list[str]:
    """The names of the invalid fields, over every location (json, query, ...)."""
    names: list[str] = []
    for messages in errors.values():
        if isinstance(messages, dict):
            names.extend(str(name) for name in messages)
    return names or ["the request"]


def error(status: int, message: str, field: str | None = None) -> NoReturn:
    """Abort with a JSON body; `field` puts the message under errors.json.<field>."""
    data: dict[str, Any] = {"message": message}
    if field:
        data["errors"] = {"json": {field: [message]}}
    exc = default_exceptions[status](description=message)
    exc.data = data  # type: ignore[attr-defined]
    raise exc


CONFLICT = "This conflicts with data that already exists (a duplicate?)."


def run_rules(
    database: Database,
    call: Callable[..., Any],
    *args: Any,
    fields: Mapping[str, str] | None = None,
    conflict: str = CONFLICT,
    **kwargs: Any,
) -> Any:
    """Call domain code; turn its rule errors into HTTP errors (the transaction rolled back).

    `fields` renames the field a rule error names to the one this endpoint's body uses. A
    unique constraint that fires anyway (two identical requests racing) is a 409 `conflict`.
    """
    try:
        return call(*args, **kwargs)
    except RuleError as rule:
        database.session.rollback()
        field = (fields or {}).get(rule.field, rule.field) if rule.field else None
        error(rule.status, rule.message, field)
    except IntegrityError:
        database.session.rollback()
        error(409, conflict)


def csv_safe(value: Any) -> Any:
    """A cell starting with = + - @ (or a tab or return) is a formula to a spreadsheet:
    neutralised with a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], filename: str
) -> Response:
    """A CSV download of `rows` (their `columns`, in that order), every cell made safe."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: csv_safe(value) for key, value in row.items()})
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _bearer_failure_keys() -> tuple[str, str]:
    return client_key(), "organiser-bearer-failures"


def bearer_failures_exceeded() -> bool:
    """Whether this client has given too many wrong organiser tokens to this service lately."""
    if not limiter.enabled:
        return False
    try:
        return not all(
            limiter.limiter.test(limit, *_bearer_failure_keys()) for limit in BEARER_FAILURE_LIMITS
        )
    except Exception:  # Redis unreachable: as Flask-Limiter does (RATELIMIT_SWALLOW_ERRORS)
        return False


def count_bearer_failure() -> None:
    if not limiter.enabled:
        return
    try:
        for limit in BEARER_FAILURE_LIMITS:
            limiter.limiter.hit(limit, *_bearer_failure_keys())
    except Exception:
        pass  # Redis unreachable: the attempt goes uncounted rather than the request failing


# What a view decided about who may call it: the attributes `public` and `requires` set (and
# `functools.wraps` carries to every decorator above), which the role-matrix test reads.
PUBLIC_ATTRIBUTE = "agora_public"
PERMISSION_ATTRIBUTE = "agora_permission"
EVERY_EVENT_ATTRIBUTE = "agora_every_event"


def public(view: F) -> F:
    """Marks a view anyone may call (programme, registration, a participant's own routes,
    sign-in pages...): it decides nothing, it says that the route made its decision."""
    setattr(view, PUBLIC_ATTRIBUTE, True)
    return view


def mark_permission(view: F, permission: Permission, every_event: bool = False) -> F:
    setattr(view, PERMISSION_ATTRIBUTE, permission)
    setattr(view, EVERY_EVENT_ATTRIBUTE, every_event)
    return view


def decision(view: Any) -> Permission | str | None:
    """What a view decided: its permission, "public", or None (no decision: a fault)."""
    permission = getattr(view, PERMISSION_ATTRIBUTE, None)
    if permission is not None:
        return Permission(permission)
    return "public" if getattr(view, PUBLIC_ATTRIBUTE, False) else None


def needs_every_event(view: Any) -> bool:
    """Whether a view's permission must hold on every event (a grant on `*`)."""
    return bool(getattr(view, EVERY_EVENT_ATTRIBUTE, False))


def current_actor() -> Actor | None:
    """The organiser this request acts for, once an organiser route let it in."""
    actor: Actor | None = g.get("actor")
    return actor


def route_actor() -> Actor:
    """The organiser an organiser route let in (only inside one: elsewhere a fault)."""
    actor = current_actor()
    if actor is None:
        raise RuntimeError("route_actor() outside an organiser route")
    return actor


@dataclass(frozen=True)
class OrganiserModels:
    """A service's copy of the organiser accounts: accounts, their roles, their tokens."""

    accounts: type[Any]
    roles: type[Any]
    tokens: type[OrganiserTokenMixin]


def event_of_request(every_event: bool) -> str | None:
    """The event a route is about: `*` for a route only a grant on every event opens, the
    route's `slug`, or None (the route then shows only the events the actor may see)."""
    if every_event:
        return ALL_EVENTS
    slug = (request.view_args or {}).get("slug")
    return slug if isinstance(slug, str) else None


def _token_row(session: Session, models: OrganiserModels, token_hash: str) -> Any:
    tokens = models.tokens
    return session.scalar(select(tokens).where(tokens.token_hash == token_hash))


class OrganiserAuth:
    """Resolves organiser bearer tokens to actors (ORGANISER_TOKEN, or a stored unrevoked
    token of an account of this service's copy that is not disabled) and checks a route's
    permission: 401 without valid credentials, 403 outside the actor's roles."""

    def __init__(self) -> None:
        self.database: Database | None = None
        self.models: OrganiserModels | None = None
        self.env_token: str | None = None

    def init_app(
        self, app: Flask, database: Database, models: OrganiserModels, settings: Settings
    ) -> None:
        self.database, self.models, self.env_token = database, models, settings.organiser_token
        app.extensions["organiser_auth"] = self

    def is_environment_token(self, token_hash: str) -> bool:
        return bool(self.env_token) and hmac.compare_digest(
            token_hash, hash_token(str(self.env_token))
        )

    def _look_up(self, look: Callable[[Session, OrganiserModels], T]) -> T | None:
        """Read the copy of the accounts in the request's session; a transaction begun for
        this alone ends here, so that it holds no lock (SQLite: every transaction takes the
        write lock) while the view runs."""
        if self.database is None or self.models is None:
            return None
        session = self.database.session
        fresh = not session.in_transaction()
        try:
            return look(session, self.models)
        finally:
            if fresh:
                session.commit()

    def actor_for_token(self, token: str | None) -> Actor | None:
        return self.actor_for_hash(hash_token(token)) if token else None

    def actor_for_hash(self, token_hash: str) -> Actor | None:
        """The actor of the token with this SHA-256, if the token holds here."""
        if self.is_environment_token(token_hash):
            return Actor.environment_token()

        def look(session: Session, models: OrganiserModels) -> Actor | None:
            row = _token_row(session, models, token_hash)
            if row is None or row.revoked_at is not None or row.account_id is None:
                return None
            return load_actor(session, models.accounts, models.roles, row.account_id)

        return self._look_up(look)

    def actor_for_account(self, account_id: str) -> Actor | None:
        """The account as this service's copy knows it; None if unknown or disabled."""
        return self._look_up(
            lambda session, models: load_actor(session, models.accounts, models.roles, account_id)
        )

    def token_revoked(self, token_hash: str) -> bool:
        """Whether this service knows the token with this hash, revoked."""

        def look(session: Session, models: OrganiserModels) -> bool:
            row = _token_row(session, models, token_hash)
            return row is not None and row.revoked_at is not None

        return bool(self._look_up(look))

    def requires(self, permission: Permission, *, every_event: bool = False) -> Callable[[F], F]:
        """A route for organisers allowed `permission` on the route's event (its `slug`), on at
        least one event (no `slug`: the view then shows only `events_for`), or on every event
        (`every_event`). Checked before the body is read; sets `g.actor`. A client that gave
        too many wrong tokens gets 429 whatever it sends, until the window passes (guessing is
        then too slow to matter)."""

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                g.actor = self.authorise(permission, every_event)
                return view(*args, **kwargs)

            return mark_permission(wrapper, permission, every_event)  # type: ignore[return-value]

        return decorate

    def authorise(self, permission: Permission, every_event: bool = False) -> Actor:
        """The request's actor, if its bearer token holds and allows `permission`."""
        token = bearer_token(request.headers.get("Authorization"))
        if bearer_failures_exceeded():
            error(429, "Too many wrong organiser tokens from this address; try again later.")
        actor = self.actor_for_token(token)
        if actor is None:
            if token:
                count_bearer_failure()
            error(401, "An organiser bearer token is required.")
        if not actor.may(permission, event_of_request(every_event)):
            error(403, "This organiser account may not do this: its roles do not allow it.")
        return actor


def keep_private_responses_private(app: Flask) -> None:
    """Every API answer to an authenticated request (a participant's or an organiser's: their
    registration, lists, CSV, the report, the delivery log) or to a change (a new registration
    carries its manage link) is kept out of caches; no answer is content-sniffed."""

    @app.after_request
    def private_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        personal = "Authorization" in request.headers or request.method not in ("GET", "HEAD")
        if request.path.startswith("/api/") and personal:
            response.headers["Cache-Control"] = "no-store"
        return response


def participant_claim(tokens: ParticipantTokens) -> ParticipantClaim:
    token = bearer_token(request.headers.get("Authorization"))
    claim = tokens.verify(token) if token else None
    if claim is None:
        error(401, "A valid participant token is required (the link from your email).")
    return claim
