"""Run a service's Alembic migrations programmatically (CLI, tests, `make run`)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from shared.config import ROOT


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, url), revision)
