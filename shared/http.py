"""The HTTP layer of every service API: JSON errors, rule errors as responses, bearer auth,
rate limits, CSV downloads."""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from flask import Flask, Response, current_app, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, default_exceptions

from shared.auth import (
    OrganiserTokenMixin,
    ParticipantClaim,
    ParticipantTokens,
    bearer_token,
    hash_token,
    organiser_token_hash_is_valid,
)
from shared.config import Settings
from shared.db import Database
from shared.errors import RuleError

F = TypeVar("F", bound=Callable[..., Any])


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


class OrganiserAuth:
    """Checks organiser bearer tokens against ORGANISER_TOKEN and the service's token table."""

    def __init__(self) -> None:
        self.database: Database | None = None
        self.model: type[OrganiserTokenMixin] | None = None
        self.env_token: str | None = None

    def init_app(
        self, app: Flask, database: Database, model: type[OrganiserTokenMixin], settings: Settings
    ) -> None:
        self.database, self.model, self.env_token = database, model, settings.organiser_token
        app.extensions["organiser_auth"] = self

    def is_valid(self, token: str | None) -> bool:
        return bool(token) and self.hash_is_valid(hash_token(str(token)))

    def hash_is_valid(self, token_hash: str) -> bool:
        """Whether the token with this hash still holds (a web session keeps only the hash)."""
        if self.database is None or self.model is None:
            return False
        return organiser_token_hash_is_valid(
            self.database.session, self.model, token_hash, self.env_token
        )

    def required(self, view: F) -> F:
        """Only with a valid organiser token; a client that gave too many wrong ones gets 429
        whatever it sends, until the window passes (guessing is then too slow to matter)."""

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token(request.headers.get("Authorization"))
            if bearer_failures_exceeded():
                error(429, "Too many wrong organiser tokens from this address; try again later.")
            if not self.is_valid(token):
                if token:
                    count_bearer_failure()
                error(401, "An organiser bearer token is required.")
            g.organiser = True
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


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
