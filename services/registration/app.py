"""The registration service: programme, registration, seats, waiting lists."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.registration import api, cli, tasks, web
from services.registration.extensions import SERVICE, babel, csrf, db, organiser_auth
from services.registration.models import OrganiserToken
from shared.auth import ParticipantTokens
from shared.contracts import Queues
from shared.service import ServiceParts, assemble_app, create_service_app

PARTS = ServiceParts(
    queue=Queues.REGISTRATION,
    api_blueprints=api.blueprints,
    pages=web.bp,
    locale_selector=web.select_locale,
    commands=cli.init_app,
    register_tasks=tasks.register_tasks,
)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app, settings = create_service_app(__name__, SERVICE, "Registration", test_config)
    db.init_app(app, settings.registration_database_url)
    organiser_auth.init_app(app, db, OrganiserToken, settings)
    app.extensions["participant_tokens"] = ParticipantTokens(settings.secret_key)
    assemble_app(app, settings, SERVICE, db, csrf, babel, PARTS)
    return app
