"""The benchmark helpers work on both databases (at a small size; `make bench` runs 1,000,000)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, func, select, text

from services.feedback.models import Endorsement, Feedback, Participant, ThemeMember
from tests.helpers import POSTGRES_URL, create_postgres_database
from tools import feedback_seed as bench

NAME = f"agora_test_feedback_bench_{os.getpid()}"


@pytest.fixture
def fresh_url(backend, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'bench.sqlite3'}"
        return
    yield create_postgres_database(NAME)
    admin = create_engine(f"{POSTGRES_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
    admin.dispose()


def test_seed_then_measure(backend, fresh_url):
    url = fresh_url
    shape = bench.Shape(sessions=8, participants=30, comment_share=0.5)
    seeded = bench.seed(url, shape)
    assert seeded.rows == 240 and len(seeded.session_codes) == 8
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Feedback)) == 240
        assert conn.scalar(select(func.count()).select_from(ThemeMember)) == 30 * 8
        assert conn.scalar(select(func.sum(Participant.responses))) == 240
        assert conn.scalar(select(func.count()).select_from(Endorsement)) == 30 * 3
    engine.dispose()

    figures = bench.measure(url, repeats=1)
    assert figures["rows"] == 240 and figures["backend"] == backend
    for key in ("group_by", "event_summary", "report_json", "report_build_cold"):
        assert figures[key] > 0
    assert "x GROUP BY" in bench.format_figures(figures)
    assert len(bench.participants(bench.SLUG, "k" * 32, 3)) == 3
