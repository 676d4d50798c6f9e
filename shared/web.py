"""Flask pieces every service uses: JSON errors, bearer auth, rate limits, health."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from flask import Flask, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from shared.auth import (
    OrganiserTokenMixin,
    ParticipantClaim,
    ParticipantTokens,
    bearer_token,
    organiser_token_is_valid,
)
from shared.config import Settings
from shared.db import Database

F = TypeVar("F", bound=Callable[..., Any])

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def init_limiter(app: Flask, settings: Settings) -> None:
    app.config.setdefault("RATELIMIT_ENABLED", settings.rate_limits_enabled)
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url)
    # With Redis down, count in memory rather than refuse the request.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.5})
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        if not wants_json():
            return error
        body: dict[str, Any] = {
            "code": error.code,
            "status": error.name,
            "message": error.description,
        }
        data = getattr(error, "data", None)
        if isinstance(data, dict):
            if "messages" in data:
                body["errors"] = data["messages"]
            if "message" in data:
                body["message"] = data["message"]
            if "errors" in data:
                body["errors"] = data["errors"]
        response = jsonify(body)
        response.status_code = error.code or 500
        if error.code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if error.code == 429:
            response.headers["Retry-After"] = str(60)
        return response


def error(status: int, message: str, field: str | None = None) -> NoReturn:
    """Abort with a JSON body; `field` puts the message under errors.json.<field>."""
    from werkzeug.exceptions import default_exceptions

    data: dict[str, Any] = {"message": message}
    if field:
        data["errors"] = {"json": {field: [message]}}
    exc = default_exceptions[status](description=message)
    exc.data = data  # type: ignore[attr-defined]
    raise exc


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

    def is_valid(self, token: str | None) -> bool:
        if not token or self.database is None or self.model is None:
            return False
        return organiser_token_is_valid(self.database.session, self.model, token, self.env_token)

    def required(self, view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not self.is_valid(bearer_token(request.headers.get("Authorization"))):
                error(401, "An organiser bearer token is required.")
            g.organiser = True
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def participant_claim(tokens: ParticipantTokens) -> ParticipantClaim:
    token = bearer_token(request.headers.get("Authorization"))
    claim = tokens.verify(token) if token else None
    if claim is None:
        error(401, "A valid participant token is required (the link from your email).")
    return claim  # type: ignore[return-value]
