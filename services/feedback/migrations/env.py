"""Alembic environment for the feedback database."""

from services.feedback.models import Base
from shared.migrations import run_environment

run_environment(Base.metadata)
