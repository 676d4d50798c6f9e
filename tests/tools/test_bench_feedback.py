"""`make bench`, feedback part: the submission rush runs end to end, and its checks can fail.

As for the registration rush, no speed is asserted: the run must finish, print its figures
and find every submission stored once, as sent.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.tools.helpers import run_quick
from tools import bench_feedback
from tools.bench_feedback import Stored, Submission

CODES = ["B001", "B002", "B003"]
THEMES = {"B001": [1, 2], "B002": [3], "B003": [4, 5, 6]}


@pytest.mark.slow
def test_quick_feedback_benchmark_prints_its_figures_and_stores_each_submission_once() -> None:
    output = run_quick("tools.bench_feedback")
    for name in ("feedback", "bare"):
        assert re.search(rf"^{name} +requests +\d+ +errors +0 +throughput .* req/s", output, re.M)
    assert re.search(r"^throughput ratio feedback/bare +[\d.]+ +target >= 0.40", output, re.M)
    assert "database: sqlite" in output
    assert "storage check OK" in output


def test_submissions_are_distinct_and_carry_the_advertised_mix() -> None:
    made = bench_feedback.submissions(10, 120, CODES, THEMES)
    pairs = {(s.participant, s.code) for s in made}
    assert len(pairs) == 120
    assert min(s.participant for s in made) == 10
    assert {s.rating for s in made} == {1, 2, 3, 4, 5}
    assert sum(s.comment is not None for s in made) == 40  # one in three
    endorsing = [s for s in made if s.endorsements]
    assert len(endorsing) == 30  # one in four
    for s in endorsing:
        assert set(s.endorsements) == {str(rid) for rid in THEMES[s.code]}
        assert all(-2 <= v <= 2 for v in s.endorsements.values())
    # side by side, different people: a session's audience, not one person's answers
    assert made[0].participant != made[1].participant


def test_requests_carry_the_token_and_the_same_body_to_both_servers() -> None:
    made = bench_feedback.submissions(0, 8, CODES, THEMES)
    tokens = [f"token-{n}" for n in range(10)]
    to_service = bench_feedback.requests_for(None, "ev", tokens, made)
    to_bare = bench_feedback.bare_twins(made, tokens)
    for s, service, bare in zip(made, to_service, to_bare, strict=True):
        assert service.path == f"/api/v1/events/ev/sessions/{s.code}/feedback"
        assert bare.path == "/api/v1/bare"
        assert service.authorization == bare.authorization == f"Bearer token-{s.participant}"
        assert service.body == bare.body
        body = json.loads(service.body)
        assert body["rating"] == s.rating
        assert body.get("comment") == s.comment
        assert body.get("endorsements", {}) == s.endorsements


def stored_as_sent(sent: list[Submission]) -> Stored:
    from tools.feedback_seed import registration_id as rid

    ratings = {(rid(s.participant), s.code): s.rating for s in sent}
    endorsements = {(rid(s.participant), s.code): s.endorsements for s in sent if s.endorsements}
    responses: dict[str, int] = {}
    for person, _code in ratings:
        responses[person] = responses.get(person, 0) + 1
    return Stored(ratings, len(ratings), endorsements, responses)


def test_the_storage_check_passes_on_what_was_sent_and_catches_each_fault() -> None:
    from tools.feedback_seed import registration_id as rid

    sent = bench_feedback.submissions(0, 24, CODES, THEMES)
    good = stored_as_sent(sent)
    assert bench_feedback.check(good, sent, answered=24, spares=0) == []
    # spares: answered later than the count, still stored once
    assert bench_feedback.check(good, sent, answered=20, spares=4) == []

    twice = Stored(good.ratings, good.rows + 1, good.endorsements, good.responses)
    assert any("stored twice" in f for f in bench_feedback.check(twice, sent, 23, 0))

    lost = stored_as_sent(sent[1:])
    assert any("feedback rows for 24" in f for f in bench_feedback.check(lost, sent, 24, 0))

    key = (rid(sent[0].participant), sent[0].code)
    wrong = Stored({**good.ratings, key: 6 - sent[0].rating}, 24, good.endorsements,
                   good.responses)  # fmt: skip
    assert any("rating" in f for f in bench_feedback.check(wrong, sent, 24, 0))

    endorsing = next(s for s in sent if s.endorsements)
    key = (rid(endorsing.participant), endorsing.code)
    dropped = Stored(good.ratings, 24, {k: v for k, v in good.endorsements.items() if k != key},
                     good.responses)  # fmt: skip
    assert any("endorsements" in f for f in bench_feedback.check(dropped, sent, 24, 0))

    miscounted = Stored(good.ratings, 24, good.endorsements,
                        {**good.responses, key[0]: good.responses[key[0]] + 1})  # fmt: skip
    assert any("response counts" in f for f in bench_feedback.check(miscounted, sent, 24, 0))
