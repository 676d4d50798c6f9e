"""Command-line tools: organiser accounts and tokens, migrations, the sample programme, the
outbox relay and the loop that releases held seats whose email was not confirmed in time."""

from __future__ import annotations

import sys
import time

import click
import structlog
from flask import Flask, current_app
from flask.cli import with_appcontext
from marshmallow import ValidationError

from services.registration import organisers
from services.registration.extensions import SERVICE, db
from services.registration.models import OrganiserToken, Outbox
from shared import audit
from shared.accounts import ALL_EVENTS, ROLES
from shared.contracts import LANGUAGES
from shared.errors import RuleError
from shared.service import migrate_command, organiser_commands, relay_command
from shared.validation import check_email

log = structlog.get_logger(__name__)
# Holds last 5 minutes at the least: a release a minute late is within what people expect.
EXPIRE_INTERVAL_SECONDS = 60.0


@click.command("load-sample")
def load_sample() -> None:
    """Load the sample programme (the Brussels conference) unless it is there already."""
    from services.registration.sample import load_sample_programme

    with db.transaction() as session:
        created = load_sample_programme(session)
    click.echo("sample programme loaded" if created else "sample programme already present")


@click.command("expire-holds")
@with_appcontext
@click.option("--interval", default=EXPIRE_INTERVAL_SECONDS, show_default=True, type=float)
@click.option("--once", is_flag=True, help="Release once and exit.")
def expire_holds(interval: float, once: bool) -> None:
    """Release held seats whose email was not confirmed in time; the waiting lists move
    (runs forever unless --once). Audit entries past their retention are deleted too."""
    from services.registration.seats import expire_holds as release_due

    log.info("holds.loop_started", interval=interval)
    while True:
        try:
            with db.transaction() as session:
                count = len(release_due(session))
            audit.purge_expired()
        except Exception as error:  # the database briefly away: try again next time
            log.warning("holds.expiry_failed", error=type(error).__name__)
            count = 0
        if count:
            log.info("holds.released", count=count)
        if once:
            click.echo(f"{count} held seat(s) released")
            return
        time.sleep(interval)


@click.command("create-account")
@with_appcontext
@click.argument("email")
@click.option("--name", required=True, help="The organiser's name, as shown to other organisers.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--event", default=ALL_EVENTS, show_default=True, help="An event's slug, or *.")
@click.option("--language", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the account's password from stdin.")
def create_account(
    email: str, name: str, role: str, event: str, language: str, password_stdin: bool
) -> None:
    """Create an organiser account with one role and print how to sign in (with no password:
    a one-time sign-in link and a token for scripts)."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    base_url = current_app.extensions["settings"].public_base_url.rstrip("/")
    link: organisers.NewLink | None = None
    token = ""
    try:
        with db.transaction() as session:
            account = organisers.create_account(session, check_email(email), name, language)
            address = account.email
            organisers.set_roles(session, account, [{"event": event, "role": role}])
            if password is not None:
                organisers.set_password(session, account, password)
            else:
                link = organisers.new_link(session, account, organisers.SIGN_IN, base_url)
                _row, token = organisers.issue_token(session, account, "command line")
    except RuleError as refused:
        raise click.ClickException(refused.message) from None
    except ValidationError as invalid:
        raise click.ClickException(" ".join(map(str, invalid.messages))) from None
    click.echo(f"Created the organiser account {address} ({role} on {event}).")
    if link is None:
        click.echo(f"Sign in at {base_url}/organiser/sign-in with this address and your password.")
        return
    minutes = int(organisers.LINK_LIFETIMES[organisers.SIGN_IN].total_seconds() // 60)
    click.echo(f"Sign in once within {minutes} minutes at this link, then set a password:")
    click.echo(f"  {link.url}")
    click.echo("A token for scripts (shown only now; revoke it on your account page):")
    click.echo(f"  {token}")


def init_app(app: Flask) -> None:
    organiser = organiser_commands(db, OrganiserToken)
    organiser.add_command(create_account)
    app.cli.add_command(organiser)
    app.cli.add_command(migrate_command(SERVICE))
    app.cli.add_command(relay_command(db, Outbox))
    app.cli.add_command(load_sample)
    app.cli.add_command(expire_holds)
