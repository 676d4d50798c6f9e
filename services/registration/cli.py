"""Command-line tools: organiser tokens, migrations, the sample programme, the outbox relay."""

from __future__ import annotations

import click
from flask import Flask

from services.registration.extensions import SERVICE, db
from services.registration.models import OrganiserToken, Outbox
from shared.service import migrate_command, organiser_commands, relay_command


@click.command("load-sample")
def load_sample() -> None:
    """Load the sample programme (the Brussels conference) unless it is there already."""
    from services.registration.sample import load_sample_programme

    with db.transaction() as session:
        created = load_sample_programme(session)
    click.echo("sample programme loaded" if created else "sample programme already present")


def init_app(app: Flask) -> None:
    app.cli.add_command(organiser_commands(db, OrganiserToken))
    app.cli.add_command(migrate_command(SERVICE))
    app.cli.add_command(relay_command(db, Outbox))
    app.cli.add_command(load_sample)
