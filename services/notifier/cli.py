"""Command-line tools: migrations, organiser tokens, the outbox relay, the sweeper and the
local mail catcher."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import click
import structlog
from flask import Flask, current_app
from flask.cli import with_appcontext

from services.notifier import delivery
from services.notifier.extensions import SERVICE, db
from services.notifier.models import OrganiserToken, Outbox
from shared import audit
from shared.service import migrate_command, organiser_commands, relay_command

log = structlog.get_logger(__name__)
SWEEP_INTERVAL_SECONDS = 60.0
# The mail catcher binds to the loopback unless told otherwise (0.0.0.0 in docker-compose).
CATCHER_BIND_HOST = "127.0.0.1"


@click.command("sweep")
@with_appcontext
@click.option("--interval", default=SWEEP_INTERVAL_SECONDS, show_default=True, type=float)
@click.option("--once", is_flag=True, help="Sweep once and exit.")
def sweep(interval: float, once: bool) -> None:
    """Queue again the emails whose delivery task was lost, and delete audit entries past
    their retention (runs forever unless --once)."""
    celery_app = current_app.extensions["celery"]
    log.info("sweeper.started", interval=interval)
    while True:
        try:
            count = delivery.sweep(db, celery_app)
            audit.purge_expired()
        except Exception as error:  # database or broker briefly away: try again next time
            log.warning("sweep.failed", error=str(error))
            count = 0
        if once:
            click.echo(f"{count} message(s) queued again")
            return
        time.sleep(interval)


@click.command("mailcatcher")
@with_appcontext
@click.option("--host", default=CATCHER_BIND_HOST, show_default=True, help="Address to bind.")
@click.option("--port", type=int, help="Default: NOTIFIER_MAILCATCHER_PORT, else 1025.")
def mailcatcher(host: str, port: int | None) -> None:
    """Run the local SMTP mail catcher; what it receives shows on the notifier's pages."""
    from services.notifier.catcher import start

    port = port or current_app.extensions["settings"].notifier_mailcatcher_port
    # aiosmtpd logs every envelope address at INFO: the log must not keep anyone's address.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = start(db, host, port)
    stopping = threading.Event()

    def stop(*_args: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"mail catcher listening on {host}:{port}")
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        controller.stop()


def init_app(app: Flask) -> None:
    app.cli.add_command(organiser_commands(db, OrganiserToken))
    app.cli.add_command(migrate_command(SERVICE))
    app.cli.add_command(relay_command(db, Outbox))
    app.cli.add_command(sweep)
    app.cli.add_command(mailcatcher)
