"""Command-line tools: organiser tokens, migrations, the sample programme, the outbox relay."""

from __future__ import annotations

import click
from flask import Flask, current_app
from sqlalchemy import select

from services.registration.app import db
from services.registration.models import OrganiserToken, Outbox
from shared.auth import hash_token, new_organiser_token
from shared.db import utcnow
from shared.migrations import upgrade
from shared.outbox import run_relay


@click.group("organiser")
def organiser() -> None:
    """Organiser bearer tokens."""


@organiser.command("create-token")
@click.argument("name")
def create_token(name: str) -> None:
    """Create a token named NAME and print it (it is shown only once)."""
    token = new_organiser_token()
    with db.transaction() as session:
        session.add(OrganiserToken(name=name, token_hash=hash_token(token)))
    click.echo(token)


@organiser.command("revoke-token")
@click.argument("name")
def revoke_token(name: str) -> None:
    """Revoke every token named NAME."""
    with db.transaction() as session:
        rows = session.scalars(
            select(OrganiserToken).where(
                OrganiserToken.name == name, OrganiserToken.revoked_at.is_(None)
            )
        ).all()
        for row in rows:
            row.revoked_at = utcnow()
    click.echo(f"revoked {len(rows)} token(s) named {name!r}")


@click.command("migrate")
def migrate() -> None:
    """Apply the database migrations."""
    upgrade("registration", current_app.extensions["settings"].registration_database_url)


@click.command("load-sample")
def load_sample() -> None:
    """Load the sample programme (the Brussels conference) unless it is there already."""
    from services.registration.sample import load_sample_programme

    with db.transaction() as session:
        created = load_sample_programme(session)
    click.echo("sample programme loaded" if created else "sample programme already present")


@click.command("relay")
def relay() -> None:
    """Publish committed outbox events to Redis, forever."""
    run_relay(db, Outbox, current_app.extensions["celery"])


def init_app(app: Flask) -> None:
    for command in (organiser, migrate, load_sample, relay):
        app.cli.add_command(command)
