"""Email delivery under real faults, counted (tools/fault_table.py at a small scale): an SMTP
server stopped, one that never answers, and workers killed with SIGKILL in a burst (of events on
the notifier's queue, and of registrations sent to the registration service's API, with its
outbox relay killed too). Nothing may be lost; what was sent twice is printed (only a kill
between the server's acceptance and its record can cause it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port
from tools.fault_table import (
    Rig,
    Server,
    outage,
    registration_kills,
    table,
    worker_kills,
)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]
OUTAGE_SECONDS = 20.0


@pytest.fixture
def rig(notifier_db: str, redis_url: str, broker: Any, tmp_path: Path) -> Iterator[Rig]:
    broker.delete("unacked", "unacked_index", "unacked_mutex")
    server = Server(free_port())
    server.start()
    rig = Rig(notifier_db, redis_url, server, tmp_path)
    yield rig
    rig.stop_workers()
    server.stop()


def test_smtp_stopped_for_a_while_every_email_arrives_once_and_erasure_goes_on(rig):
    row = outage(rig, 20, OUTAGE_SECONDS, silent=False, timeout=60)
    print("\n" + table([row]))
    assert (row.lost, row.twice) == (0, 0)
    assert rig.server.received() == 20


def test_a_silent_smtp_server_holds_up_neither_erasure_nor_the_emails_after_it(rig):
    row = outage(rig, 20, OUTAGE_SECONDS, silent=True, timeout=60)
    print("\n" + table([row]))
    assert (row.lost, row.twice) == (0, 0)
    # The circuit breaker: a few connections, not one per email and retry.
    assert rig.server.silent_connections <= 8


def test_workers_killed_twice_in_a_burst_of_100_registrations_lose_no_email(rig):
    row = worker_kills(rig, 100, timeout=50)
    print("\n" + table([row]))
    assert row.lost == 0
    assert row.twice <= 4  # at most one per kill of each of the two workers


def test_registrations_through_the_api_with_the_relay_and_workers_killed_lose_no_email(rig):
    row = registration_kills(rig, 30, timeout=40, burst_seconds=12)
    report = "\n" + table([row])
    print(report)
    assert row.registrations == row.emails == 30, report
    assert 0 < row.facts["first_kill_after"] < row.facts["second_kill_after"] < 30, report
    assert row.lost == 0, report
    assert row.twice <= 4, report  # at most one per kill of each of the two workers
