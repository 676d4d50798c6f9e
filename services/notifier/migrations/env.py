"""Alembic environment for the notifier database."""

from services.notifier.models import Base
from shared.migrations import run_environment

run_environment(Base.metadata)
