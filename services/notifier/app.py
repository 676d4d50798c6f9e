"""The notifier: every participant email, in their language, delivered once."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from services.notifier import api, cli, tasks, web
from services.notifier.delivery import RetryPolicy
from services.notifier.emails import Links
from services.notifier.extensions import SERVICE, babel, csrf, db, init_database, organiser_auth
from services.notifier.mailer import Mailer, SmtpConfig
from services.notifier.models import OrganiserToken
from shared.auth import ParticipantTokens
from shared.celery_app import bind_flask, make_celery
from shared.contracts import Queues
from shared.service import add_healthz, create_service_app


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app, settings = create_service_app(__name__, SERVICE, "Notifier", test_config)
    init_database(app, settings.notifier_database_url)
    organiser_auth.init_app(app, db, OrganiserToken, settings)
    app.extensions["links"] = Links(
        settings.public_base_url,
        settings.feedback_public_url,
        ParticipantTokens(settings.secret_key),
    )
    app.extensions["retry_policy"] = RetryPolicy.from_settings(settings)
    app.extensions["mailer"] = Mailer(SmtpConfig.from_settings(settings))
    celery_app = make_celery(SERVICE, settings, queues=[Queues.NOTIFIER])
    app.extensions["tasks"] = tasks.register_tasks(celery_app)
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
