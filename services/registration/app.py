"""The registration service: programme, registration, seats, waiting lists."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.registration import account_pages, api, cli, extensions, tasks, web
from services.registration.extensions import SERVICE, db
from services.registration.models import OrganiserAccount, OrganiserRole, OrganiserToken
from shared.contracts import Queues
from shared.http import OrganiserModels
from shared.service import ServiceParts, assemble_app, create_service_app

# The queue, the copy of the organiser accounts, and the modules: extensions, api, web, cli, tasks.
ORGANISERS = OrganiserModels(OrganiserAccount, OrganiserRole, OrganiserToken)
PARTS = ServiceParts(Queues.REGISTRATION, ORGANISERS, extensions, api, web, cli, tasks)
# The organiser account pages, inside the pages' blueprint: its layout, headers, error pages.
web.bp.register_blueprint(account_pages.bp)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app, settings = create_service_app(__name__, SERVICE, "Registration", test_config)
    db.init_app(app, settings.registration_database_url)
    assemble_app(app, settings, PARTS)
    return app
