"""The registration service: programme, registration, seats, waiting lists."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.registration import api, cli, extensions, tasks, web
from services.registration.extensions import SERVICE, db
from services.registration.models import OrganiserToken
from shared.contracts import Queues
from shared.service import ServiceParts, assemble_app, create_service_app

# The queue, the organiser tokens, and the modules: extensions, api, web, cli, tasks.
PARTS = ServiceParts(Queues.REGISTRATION, OrganiserToken, extensions, api, web, cli, tasks)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app, settings = create_service_app(__name__, SERVICE, "Registration", test_config)
    db.init_app(app, settings.registration_database_url)
    assemble_app(app, settings, PARTS)
    return app
