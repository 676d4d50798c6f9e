"""What every service's app factory and CLI share: the app with its settings, the parts every
service binds to it, health, and the organiser-token, migrate and relay commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import click
from celery import Celery
from flask import Flask, Response, current_app, jsonify, request
from flask.cli import with_appcontext
from flask.sessions import SecureCookieSessionInterface
from flask_smorest import Api
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shared import audit, deadletters, validation
from shared.accounts import ADMIN, ALL_EVENTS, LEGACY_ACCOUNT_ID
from shared.auth import OrganiserSessions, ParticipantTokens, hash_token, new_organiser_token
from shared.celery_app import bind_flask, make_celery
from shared.config import ROOT, Settings, SettingsError, check_secret_key, load_settings
from shared.db import Database, utcnow
from shared.http import (
    OrganiserModels,
    decision,
    init_limiter,
    keep_private_responses_private,
    public,
    register_error_handlers,
)
from shared.logging import configure_logging


def translation_directories(service: str) -> str:
    """The catalogues an app loads: the shared pages' one, then the service's own."""
    return ";".join(
        str(ROOT / folder / "translations") for folder in ("shared", f"services/{service}")
    )


class SessionCookie(SecureCookieSessionInterface):
    """The session cookie is Secure behind HTTPS: PUBLIC_BASE_URL says so, or the request."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure


def create_service_app(
    import_name: str, service: str, title: str, test_config: dict[str, Any] | None
) -> tuple[Flask, Settings]:
    """A Flask app with the project's defaults, then the environment, then test overrides."""
    app = Flask(import_name)
    test_config = dict(test_config or {})
    try:
        settings = test_config.pop("SETTINGS", None) or load_settings()
        check_secret_key(settings)
    except SettingsError as error:
        sys.exit(f"{service}: invalid setting: {error}")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # The services share a host in development (ports differ, cookies do not): each its
        # own cookie name, never sent to another site's requests, Secure behind HTTPS.
        SESSION_COOKIE_NAME=f"{service}_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "organiser": {"type": "http", "scheme": "bearer"},
                    "participant": {"type": "http", "scheme": "bearer"},
                }
            }
        },
        BABEL_DEFAULT_LOCALE="en",
        BABEL_TRANSLATION_DIRECTORIES=translation_directories(service),
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update(test_config)
    app.session_interface = SessionCookie()
    app.extensions["settings"] = settings
    app.extensions["service"] = service
    configure_logging()
    register_error_handlers(app)
    return app, settings


@dataclass(frozen=True)
class ServiceParts:
    """The modules of a service that its app binds, each in the project's shape: `extensions`
    (`SERVICE`, `db`, `organiser_auth`, `csrf`, `babel`), `api` (`blueprints`), `web` (`bp`,
    `select_locale`), `cli` (`init_app`) and `tasks` (`register_tasks`); plus its queue and its
    copy of the organiser accounts (accounts, roles, tokens)."""

    queue: str
    organiser_models: OrganiserModels
    extensions: ModuleType
    api: ModuleType
    web: ModuleType
    cli: ModuleType
    tasks: ModuleType


def assemble_app(app: Flask, settings: Settings, parts: ServiceParts) -> Celery:
    """Bind the rest of a service to its app (its database is bound already): organiser and
    participant tokens, organiser web sessions, its Celery app and tasks, CSRF (pages only),
    rate limits, private API answers kept out of caches, languages, the API and its OpenAPI
    document, the pages, the commands, `/healthz` and `/favicon.ico`."""
    ext = parts.extensions
    ext.organiser_auth.init_app(app, ext.db, parts.organiser_models, settings)
    app.extensions["organiser_sessions"] = OrganiserSessions(settings.redis_url)
    app.extensions["participant_tokens"] = ParticipantTokens(settings.secret_key)
    celery_app = make_celery(ext.SERVICE, settings, queues=[parts.queue])
    app.extensions["tasks"] = parts.tasks.register_tasks(celery_app)
    bind_flask(celery_app, app)
    app.extensions["celery"] = celery_app
    ext.csrf.init_app(app)
    init_limiter(app, settings)
    keep_private_responses_private(app)
    ext.babel.init_app(app, locale_selector=parts.web.select_locale)
    smorest = Api(app)
    for blueprint in parts.api.blueprints:
        ext.csrf.exempt(blueprint)
        smorest.register_blueprint(blueprint)
    # Before any look-up, pages and API alike: PostgreSQL refuses a NUL even in a WHERE clause.
    app.before_request(validation.refuse_control_characters_in_path)
    app.register_blueprint(parts.web.bp)
    deadletters.mount(app, smorest, ext, parts.tasks.DeadLetter, celery_app)
    audit.mount(app, smorest, ext, audit.model_beside(parts.organiser_models.tokens))
    parts.cli.init_app(app)
    add_healthz(app, ext.db, ext.SERVICE)
    add_favicon(app)
    mark_framework_routes_public(app)
    return celery_app


# Routes that Flask and flask-smorest add: the static files and the OpenAPI document.
FRAMEWORK_ENDPOINTS = ("static", "api-docs.openapi_json")


def mark_framework_routes_public(app: Flask) -> None:
    """Say of the routes the frameworks add that anyone may read them, as every route of ours
    says (`shared.http.public`)."""
    for endpoint in FRAMEWORK_ENDPOINTS:
        view = app.view_functions.get(endpoint)
        if view is not None and decision(view) is None:
            app.view_functions[endpoint] = public(functools.wraps(view)(_calling(view)))


def _calling(view: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    return call


def add_healthz(app: Flask, database: Database, service: str) -> None:
    @app.get("/healthz")
    @public
    def healthz() -> Any:
        try:
            database.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return jsonify(status="unavailable", service=service, database="down"), 503
        return jsonify(status="ok", service=service)


FAVICON = ROOT / "shared" / "static" / "favicon.svg"
FAVICON_SECONDS = 7 * 24 * 3600


def add_favicon(app: Flask) -> None:
    """The icon browsers ask for at /favicon.ico: an SVG (Chromium and Firefox show one), cached
    for a week; on the app, not the pages' blueprint, whose headers keep some pages uncached."""
    icon = FAVICON.read_bytes()

    @app.get("/favicon.ico")
    @public
    def favicon() -> Any:
        response = Response(icon, mimetype="image/svg+xml")
        response.cache_control.public = True
        response.cache_control.max_age = FAVICON_SECONDS
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response.make_conditional(request)


def organiser_commands(database: Database, model: type[Any]) -> click.Group:
    """`organiser create-token NAME` and `organiser revoke-token NAME` for one service: tokens
    of the legacy account (a full admin of this service, as the tokens made before accounts
    are), for scripts and for a service started without the registration service's accounts."""

    @click.group("organiser")
    def organiser() -> None:
        """Organiser accounts and bearer tokens."""

    @organiser.command("create-token")
    @click.argument("name")
    @with_appcontext
    def create_token(name: str) -> None:
        """Create a token named NAME and print it (it is shown only once)."""
        token = new_organiser_token()
        models = current_app.extensions["organiser_auth"].models
        with database.transaction() as session:
            ensure_legacy_account(session, models)
            session.add(
                model(name=name, token_hash=hash_token(token), account_id=LEGACY_ACCOUNT_ID)
            )
        click.echo(token)

    @organiser.command("revoke-token")
    @click.argument("name")
    def revoke_token(name: str) -> None:
        """Revoke every token named NAME."""
        with database.transaction() as session:
            rows = session.scalars(
                select(model).where(model.name == name, model.revoked_at.is_(None))
            ).all()
            for row in rows:
                row.revoked_at = utcnow()
        click.echo(f"revoked {len(rows)} token(s) named {name!r}")

    return organiser


# The account the tokens made before accounts existed belong to; the migrations that brought
# accounts create it the same way.
LEGACY_ACCOUNT = {
    "id": LEGACY_ACCOUNT_ID,
    "email": "legacy@organisers.invalid",
    "name": "Tokens made before accounts",
    "language": "en",
    "version": 1,
}


def ensure_legacy_account(session: Session, models: OrganiserModels) -> None:
    """The legacy account, a full admin, if this copy has lost it (an emptied database)."""
    if session.get(models.accounts, LEGACY_ACCOUNT_ID) is not None:
        return
    session.add(models.accounts(**LEGACY_ACCOUNT))
    session.flush()
    session.add(models.roles(account_id=LEGACY_ACCOUNT_ID, event=ALL_EVENTS, role=ADMIN))
    session.flush()


def migrate_command(service: str) -> click.Command:
    @click.command("migrate")
    def migrate() -> None:
        """Apply the database migrations."""
        from shared.migrations import upgrade

        upgrade(service, current_app.extensions["settings"].database_url(service))

    return migrate


def relay_command(database: Database, outbox_model: type[Any]) -> click.Command:
    @click.command("relay")
    def relay() -> None:
        """Publish committed outbox events to Redis, forever."""
        from shared.outbox import run_relay

        run_relay(database, outbox_model, current_app.extensions["celery"])

    return relay
