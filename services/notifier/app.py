"""The notifier: every participant email, in their language, delivered once."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_smorest import Api
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from services.notifier import api, cli, web
from services.notifier.emails import Links
from services.notifier.extensions import SERVICE, babel, csrf, db, organiser_auth
from services.notifier.logic import RetryPolicy
from services.notifier.mailer import MAILCATCHER_HOST, MAILCATCHER_PORT, Mailer, SmtpConfig
from services.notifier.models import OrganiserToken
from shared.auth import ParticipantTokens
from shared.celery_app import bind_flask, make_celery
from shared.contracts import Queues
from shared.service import add_healthz, create_service_app

# The notifier's own tuning (not in the shared settings): environment, then test overrides.
TUNABLES: dict[str, float | int | str] = {
    "NOTIFIER_RETRY_BASE_SECONDS": 30.0,
    "NOTIFIER_RETRY_MAX_SECONDS": 3600.0,
    "NOTIFIER_GIVE_UP_SECONDS": 12 * 3600.0,
    "NOTIFIER_SMTP_TIMEOUT_SECONDS": 20.0,
    # Where the local mail catcher listens (SMTP_HOST unset); another host in docker-compose.
    "NOTIFIER_MAILCATCHER_HOST": MAILCATCHER_HOST,
    "NOTIFIER_MAILCATCHER_PORT": MAILCATCHER_PORT,
}


def load_tunables(app: Flask, environ: Mapping[str, str]) -> None:
    for name, default in TUNABLES.items():
        if name in app.config:
            continue
        raw = environ.get(name, "").strip()
        if isinstance(default, str):
            app.config[name] = raw or default
            continue
        try:
            value = type(default)(raw) if raw else default
            if value <= 0:
                raise ValueError
        except ValueError:
            sys.exit(f"{SERVICE}: invalid setting: {name}: must be a positive number, got {raw!r}")
        app.config[name] = value


def configure_database(app: Flask, url: str) -> None:
    """The shared engine, plus two things for SQLite: kept connections, and secure delete."""
    db.init_app(app, url)
    if make_url(url).get_backend_name() != "sqlite":
        return
    # Closing the last connection to a WAL database checkpoints it: with a connection per
    # transaction that is a checkpoint and a new WAL per message. Keep a few open instead.
    db.configure(url, poolclass=QueuePool, pool_size=5, max_overflow=10)
    engine = db.engine
    assert engine is not None

    # Deleted rows are overwritten with zeros: an erased address is gone from the file too.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA secure_delete=ON")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app, settings = create_service_app(__name__, SERVICE, "Notifier", test_config)
    load_tunables(app, os.environ)
    configure_database(app, settings.notifier_database_url)
    organiser_auth.init_app(app, db, OrganiserToken, settings)
    app.extensions["links"] = Links(
        settings.public_base_url,
        settings.feedback_public_url,
        ParticipantTokens(settings.secret_key),
    )
    app.extensions["retry_policy"] = RetryPolicy(
        base_seconds=app.config["NOTIFIER_RETRY_BASE_SECONDS"],
        max_seconds=app.config["NOTIFIER_RETRY_MAX_SECONDS"],
        give_up_seconds=app.config["NOTIFIER_GIVE_UP_SECONDS"],
    )
    smtp = SmtpConfig.from_settings(
        settings,
        timeout=app.config["NOTIFIER_SMTP_TIMEOUT_SECONDS"],
        catcher=(app.config["NOTIFIER_MAILCATCHER_HOST"], app.config["NOTIFIER_MAILCATCHER_PORT"]),
    )
    app.extensions["mailer"] = Mailer(smtp)
    celery_app = make_celery(
        SERVICE, settings, queues=[Queues.NOTIFIER], include=["services.notifier.tasks"]
    )
    bind_flask(celery_app, app)
    app.extensions["celery"] = celery_app
    csrf.init_app(app)

    babel.init_app(app, locale_selector=web.select_locale)
    smorest = Api(app)
    for blueprint in api.blueprints:
        csrf.exempt(blueprint)
        smorest.register_blueprint(blueprint)
    app.register_blueprint(web.bp)
    cli.init_app(app)
    add_healthz(app, db, SERVICE)
    return app
