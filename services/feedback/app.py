"""The feedback service: session ratings, organiser summaries, recommendations, the report."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.feedback import api, cli, tasks, web
from services.feedback.extensions import SERVICE, babel, csrf, db, organiser_auth
from services.feedback.models import OrganiserToken
from shared.auth import ParticipantTokens
from shared.contracts import Queues
from shared.service import ServiceParts, assemble_app, create_service_app

PARTS = ServiceParts(
    queue=Queues.FEEDBACK,
    api_blueprints=api.blueprints,
    pages=web.bp,
    locale_selector=web.select_locale,
    commands=cli.init_app,
    register_tasks=tasks.register_tasks,
)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    # The services share a host in development (ports differ, cookies do not): this app's
    # session cookie gets its own name so it never overwrites the registration one.
    test_config = {"SESSION_COOKIE_NAME": "feedback_session", **(test_config or {})}
    app, settings = create_service_app(__name__, SERVICE, "Feedback", test_config)
    db.init_app(app, settings.feedback_database_url)
    organiser_auth.init_app(app, db, OrganiserToken, settings)
    app.extensions["participant_tokens"] = ParticipantTokens(settings.secret_key)
    celery_app = assemble_app(app, settings, SERVICE, db, csrf, babel, PARTS)
    celery_app.conf.beat_schedule = tasks.BEAT_SCHEDULE
    return app
