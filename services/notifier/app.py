"""The notifier: every participant email, in their language, delivered once."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.notifier import api, cli, extensions, tasks, web
from services.notifier.delivery import RetryPolicy
from services.notifier.emails import Links
from services.notifier.extensions import SERVICE, init_database
from services.notifier.mailer import Mailer, SmtpConfig
from services.notifier.models import OrganiserAccount, OrganiserRole, OrganiserToken
from shared.auth import EmailConfirmationTokens, ParticipantTokens
from shared.contracts import Queues
from shared.http import OrganiserModels
from shared.service import ServiceParts, assemble_app, create_service_app

# The queue, the copy of the organiser accounts, and the modules: extensions, api, web, cli, tasks.
ORGANISERS = OrganiserModels(OrganiserAccount, OrganiserRole, OrganiserToken)
PARTS = ServiceParts(Queues.NOTIFIER, ORGANISERS, extensions, api, web, cli, tasks)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app, settings = create_service_app(__name__, SERVICE, "Notifier", test_config)
    init_database(app, settings.notifier_database_url)
    app.extensions["links"] = Links(
        settings.public_base_url,
        settings.feedback_public_url,
        ParticipantTokens(settings.secret_key),
        EmailConfirmationTokens(settings.secret_key),
    )
    app.extensions["retry_policy"] = RetryPolicy.from_settings(settings)
    app.extensions["mailer"] = Mailer(SmtpConfig.from_settings(settings))
    assemble_app(app, settings, PARTS)
    return app
