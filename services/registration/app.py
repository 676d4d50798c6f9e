"""The registration service: programme, registration, seats, waiting lists."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from services.registration import api, cli, tasks, web
from services.registration.extensions import SERVICE, babel, csrf, db, organiser_auth
from services.registration.models import OrganiserToken
from shared.auth import ParticipantTokens
from shared.celery_app import bind_flask, make_celery
from shared.contracts import Queues
from shared.http import init_limiter
from shared.service import add_healthz, create_service_app


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app, settings = create_service_app(__name__, SERVICE, "Registration", test_config)
    db.init_app(app, settings.registration_database_url)
    organiser_auth.init_app(app, db, OrganiserToken, settings)
    app.extensions["participant_tokens"] = ParticipantTokens(settings.secret_key)
    celery_app = make_celery(SERVICE, settings, queues=[Queues.REGISTRATION])
    app.extensions["tasks"] = tasks.register_tasks(celery_app)
    bind_flask(celery_app, app)
    app.extensions["celery"] = celery_app
    csrf.init_app(app)
    init_limiter(app, settings)
    babel.init_app(app, locale_selector=web.select_locale)
    smorest = Api(app)
    for blueprint in api.blueprints:
        csrf.exempt(blueprint)
        smorest.register_blueprint(blueprint)
    app.register_blueprint(web.bp)
    cli.init_app(app)
    add_healthz(app, db, SERVICE)
    return app
