"""The registration service: programme, registration, seats, waiting lists."""

from __future__ import annotations

import sys
from typing import Any

from flask import Flask, jsonify
from flask_babel import Babel
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

from services.registration.models import OrganiserToken
from shared.auth import ParticipantTokens
from shared.celery_app import bind_flask, make_celery
from shared.config import ROOT, Settings, SettingsError, load_settings
from shared.contracts import Queues
from shared.db import Database
from shared.logging import configure_logging
from shared.web import OrganiserAuth, init_limiter, register_error_handlers

SERVICE = "registration"
db = Database()
organiser_auth = OrganiserAuth()
csrf = CSRFProtect()
babel = Babel()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    if test_config and "SETTINGS" in test_config:
        settings = test_config["SETTINGS"]
    else:
        try:
            settings = load_settings()
        except SettingsError as error:
            sys.exit(f"registration: invalid setting: {error}")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE="Registration",
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
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "shared" / "translations"),
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k != "SETTINGS"})
    app.extensions["settings"] = settings
    configure_logging()

    db.init_app(app, settings.registration_database_url)
    organiser_auth.init_app(app, db, OrganiserToken, settings)
    app.extensions["participant_tokens"] = ParticipantTokens(settings.secret_key)
    celery_app = make_celery(
        SERVICE, settings, queues=[Queues.REGISTRATION], include=["services.registration.tasks"]
    )
    bind_flask(celery_app, app)
    app.extensions["celery"] = celery_app
    csrf.init_app(app)
    init_limiter(app, settings)
    register_error_handlers(app)

    from services.registration import api, cli, web

    babel.init_app(app, locale_selector=web.select_locale)
    smorest = Api(app)
    for blueprint in api.blueprints:
        csrf.exempt(blueprint)
        smorest.register_blueprint(blueprint)
    app.register_blueprint(web.bp)
    cli.init_app(app)

    @app.get("/healthz")
    def healthz() -> Any:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return jsonify(status="unavailable", service=SERVICE, database="down"), 503
        return jsonify(status="ok", service=SERVICE)

    return app
