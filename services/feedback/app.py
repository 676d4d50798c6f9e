"""The feedback service: session ratings, organiser summaries, recommendations, the report."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.feedback import api, cli, extensions, tasks, web
from services.feedback.extensions import SERVICE, db
from services.feedback.models import OrganiserAccount, OrganiserRole, OrganiserToken
from shared.contracts import Queues
from shared.http import OrganiserModels
from shared.service import ServiceParts, assemble_app, create_service_app

# The queue, the copy of the organiser accounts, and the modules: extensions, api, web, cli, tasks.
ORGANISERS = OrganiserModels(OrganiserAccount, OrganiserRole, OrganiserToken)
PARTS = ServiceParts(Queues.FEEDBACK, ORGANISERS, extensions, api, web, cli, tasks)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app, settings = create_service_app(__name__, SERVICE, "Feedback", test_config)
    db.init_app(app, settings.feedback_database_url)
    celery_app = assemble_app(app, settings, PARTS)
    celery_app.conf.beat_schedule = tasks.BEAT_SCHEDULE
    return app
