"""Alembic environment for the registration database."""

from services.registration.models import Base
from shared.migrations import run_environment

run_environment(Base.metadata)
