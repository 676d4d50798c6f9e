"""Each service's migrations build exactly the tables its models describe (on both databases),
so a model changed without its migration fails here, not in production."""

from __future__ import annotations

import importlib
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from shared.migrations import upgrade
from tests.helpers import create_postgres_database

SERVICES = ("registration", "feedback", "notifier")


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_the_models(service: str, backend: str, tmp_path) -> None:
    if backend == "postgresql":
        url = create_postgres_database(f"agora_match_{service}_{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path / f'{service}.sqlite3'}"
    upgrade(service, url)
    metadata = importlib.import_module(f"services.{service}.models").Base.metadata
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []
