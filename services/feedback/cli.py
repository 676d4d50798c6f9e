"""Command-line tools: organiser tokens, migrations, the outbox relay, the periodic jobs."""

from __future__ import annotations

import time

import click
import structlog
from flask import Flask
from flask.cli import with_appcontext

from services.feedback import tasks
from services.feedback.extensions import SERVICE, db
from services.feedback.models import OrganiserToken, Outbox
from services.feedback.report import store
from shared import audit
from shared.service import migrate_command, organiser_commands, relay_command

log = structlog.get_logger(__name__)


def run_periodic_jobs() -> tuple[int, int]:
    """Invite attendees of sessions over long enough; rebuild reports left out of date; delete
    audit entries past their retention."""
    done = tasks.send_invitations(), store.rebuild_stale(db)
    audit.purge_expired()
    return done


@click.command("invite-loop")
@click.option("--interval", default=60.0, show_default=True, help="Seconds between runs.")
@click.option("--once", is_flag=True, help="Run the jobs once and exit.")
@with_appcontext
def invite_loop(interval: float, once: bool) -> None:
    """Every INTERVAL seconds: feedback invitations due, and stale reports rebuilt."""
    log.info("feedback.periodic_started", interval=interval)
    while True:
        try:
            invited, rebuilt = run_periodic_jobs()
            if once:
                click.echo(f"{invited} invitation(s) written, {rebuilt} report(s) rebuilt")
        except Exception as error:  # the database may be briefly away: try again next time
            if once:
                raise
            log.warning("feedback.periodic_failed", error=str(error))
        if once:
            return
        time.sleep(interval)


@click.command("rebuild-report")
@click.argument("slug")
@with_appcontext
def rebuild_report(slug: str) -> None:
    """Build the report of the event SLUG now."""
    data = store.rebuild(db, slug)
    if data is None:
        raise click.ClickException(f"no event {slug!r}")
    click.echo(f"report of {slug} built: {data['headline']['responses']} responses")


def init_app(app: Flask) -> None:
    app.cli.add_command(organiser_commands(db, OrganiserToken))
    app.cli.add_command(migrate_command(SERVICE))
    app.cli.add_command(relay_command(db, Outbox))
    app.cli.add_command(invite_loop)
    app.cli.add_command(rebuild_report)
