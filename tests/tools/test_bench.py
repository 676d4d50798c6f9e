"""`make bench`: the registration rush benchmark runs end to end, and its checks can fail.

Speed goals are not asserted here (a shared 2-core CI box says little about them); the run
must finish, print its figures, and find no oversold session.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.tools.helpers import run_quick
from tools import bench


@pytest.mark.slow
def test_quick_benchmark_prints_its_figures_and_finds_nothing_oversold() -> None:
    output = run_quick("tools.bench")
    for name in ("registration", "bare"):
        assert re.search(rf"^{name} +requests +\d+ +errors +0 +throughput .* req/s", output, re.M)
    assert re.search(r"^throughput ratio registration/bare +[\d.]+ +target", output, re.M)
    assert re.search(r"^p99 latency ratio registration/bare +[\d.]+ +target", output, re.M)
    assert "database: sqlite" in output
    assert "oversell check OK" in output


def session(code: str, capacity: int | None, taken: int, waiting: int) -> dict[str, object]:
    return {"code": code, "capacity": capacity, "seats_taken": taken, "waitlist_length": waiting}


def test_checks_catch_an_oversold_session_and_a_waiting_list_beside_free_seats() -> None:
    good = [session("FV1", 25, 25, 10), session("T4", None, 400, 0)]
    assert bench.api_failures(good) == []
    bad = [session("FV1", 25, 26, 10), session("T1", 60, 59, 1)]
    failures = bench.api_failures(bad)
    assert any("FV1 is oversold" in f for f in failures)
    assert any("T1 has a waiting list" in f for f in failures)


def test_checks_compare_the_tables_with_seats_taken_and_the_api() -> None:
    api = [session("FV1", 25, 25, 3)]
    right = bench.SeatCounts("FV1", 25, 25, 25, 3, 3)
    assert bench.database_failures([right], api) == []
    # a naive check-then-write claim: the counter stays at 25 while 27 rows were confirmed
    lost_update = bench.SeatCounts("FV1", 25, 25, 27, 3, 3)
    assert any("27 confirmed seat rows" in f for f in bench.database_failures([lost_update], api))
    same_number = bench.SeatCounts("FV1", 25, 25, 25, 3, 2)
    assert any("same waiting-list number" in f for f in bench.database_failures([same_number], api))


def test_waiting_list_positions_must_be_one_to_n() -> None:
    waiting = {"FV1": 3, "T1": 0}
    handed = [("FV1", 2), ("FV1", 1), ("FV1", 3)]
    assert bench.position_failures("answers", handed, waiting, complete=True) == []
    assert bench.position_failures("answers", handed[:2], waiting, complete=False) == []
    assert bench.position_failures("answers", handed[:2], waiting, complete=True)
    twice = [("FV1", 1), ("FV1", 1), ("FV1", 3)]
    assert bench.position_failures("answers", twice, waiting, complete=True)
    assert bench.position_failures("answers", twice, waiting, complete=False)
    assert bench.position_failures("answers", [("T1", 1)], waiting, complete=False)


def test_both_load_generators_send_the_same_request() -> None:
    request = bench.Request("/api/v1/x", '{"name":"Zoë"}'.encode(), authorization="Bearer t")
    raw = request.raw(8001)
    head, body = raw.split(b"\r\n\r\n")
    assert head.startswith(b"POST /api/v1/x HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t" in head
    assert f"Content-Length: {len(body)}".encode() in head and body == request.body
    # wrk reads one line per request: method, path, authorization, body
    fields = ["POST", "/api/v1/x", "Bearer t", '{"name":"Zoë"}']
    assert bench.wrk_line(request).split("\t") == fields
    with pytest.raises(bench.BenchError):
        bench.wrk_line(bench.Request("/x", b'{"a": 1,\n"b": 2}'))  # a line break in the body


def test_registrations_are_distinct_people() -> None:
    made = bench.registrations("/p", "rush", 50)
    emails = {json.loads(r.body)["email"] for r in made}
    assert len(emails) == 50 and all(r.path == "/p" for r in made)


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert bench.percentile(values, 0.50) == 50.0
    assert bench.percentile(values, 0.99) == 99.0
    assert bench.percentile([5.0], 0.99) == 5.0
    assert bench.percentile([], 0.5) == 0.0
