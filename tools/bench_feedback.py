"""Feedback submission rush (`make bench` runs it after the registration rush).

What it does, in one run:

1. A fresh feedback database (PostgreSQL `agora_bench_rush` when the server answers, else
   SQLite under var/bench/), filled by `tools.feedback_seed.seed` with an event whose
   sessions have all started and whose feedback window is open, and participants with a
   confirmed seat in every session; nothing is rated yet.
2. The feedback service and the bare Flask endpoint (tools/bare_app.py), each on gunicorn
   with the registration rush's settings (tools/bench.py), on free ports.
3. The rush: N submissions, each a distinct (participant, session), from C concurrent
   keep-alive connections, each with its participant token; then the same requests to the
   bare endpoint. The mix is what the "rate my sessions" form sends: every submission has a
   rating, one in three a comment, one in four endorsements of the theme's recommendations.
4. Figures (throughput, p50, p99 and the ratio to the bare endpoint, with the target), then
   the checks, straight from the tables: one feedback row per answered submission and none
   twice, each with the rating sent, each participant's response count matching their rows,
   and the endorsements of every submission that carried them. A failed check exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tools import bench
from tools.bench import Processes, Request, Result

TARGET_RATIO = 0.40
DATABASE = "agora_bench_rush"
SESSIONS = 8  # one per theme of the seed: each submission's theme has recommendations
FEEDBACK_PATH = "/api/v1/events/{slug}/sessions/{code}/feedback"


@dataclass(frozen=True)
class Submission:
    """One request of the rush, and what it must leave in the database."""

    participant: int
    code: str
    rating: int
    comment: str | None
    endorsements: dict[str, int]


def submissions(
    first: int, count: int, codes: Sequence[str], themes: dict[str, list[int]]
) -> list[Submission]:
    """`count` submissions of participants from `first` on, each (participant, session) once.

    Session after session: requests side by side come from different people, as when a
    session's audience answers its invitation (one person's own answers come one by one).
    `themes` maps each session code to its theme's recommendation ids.
    """
    from tools.feedback_seed import COMMENTS, LANGUAGES

    made, people = [], -(-count // len(codes))
    for n in range(count):
        participant, code = first + n % people, codes[n // people]
        language = LANGUAGES[participant % 3]  # the seed's language of this participant
        phrases = COMMENTS[language]
        comment = phrases[n % len(phrases)] if n % 3 == 0 else None
        wanted = themes[code] if n % 4 == 1 else []
        endorsements = {str(rid): (n + k) % 5 - 2 for k, rid in enumerate(wanted)}
        made.append(Submission(participant, code, n % 5 + 1, comment, endorsements))
    return made


def requests_for(
    path: str | None, slug: str, tokens: Sequence[str], made: Sequence[Submission]
) -> list[Request]:
    """The submissions as HTTP requests; to `path` instead (the bare endpoint) when given."""
    requests = []
    for s in made:
        body: dict[str, Any] = {"rating": s.rating}
        if s.comment is not None:
            body["comment"] = s.comment
        if s.endorsements:
            body["endorsements"] = s.endorsements
        to = path or FEEDBACK_PATH.format(slug=slug, code=s.code)
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        requests.append(Request(to, encoded, authorization=f"Bearer {tokens[s.participant]}"))
    return requests


def bare_twins(made: Sequence[Submission], tokens: Sequence[str]) -> list[Request]:
    """The same requests (bodies, tokens) to the bare endpoint."""
    return requests_for(bench.BARE_PATH, "", tokens, made)


def recommendations_by_code(url: str, slug: str) -> dict[str, list[int]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT s.code, r.id FROM sessions s JOIN events e ON e.id = s.event_id "
                    "JOIN recommendations r ON r.event_id = e.id AND r.theme = s.theme "
                    "WHERE e.slug = :slug ORDER BY s.code, r.id"
                ),
                {"slug": slug},
            ).all()
    finally:
        engine.dispose()
    found: dict[str, list[int]] = {}
    for code, rid in rows:
        found.setdefault(code, []).append(int(rid))
    return found


# --- the checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """What the tables hold after the rush, keyed by (registration id, session code)."""

    ratings: dict[tuple[str, str], int]
    rows: int
    endorsements: dict[tuple[str, str], dict[str, int]]
    responses: dict[str, int]  # participants.responses


def stored(url: str) -> Stored:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            feedback = conn.execute(
                text(
                    "SELECT f.registration_id, s.code, f.rating FROM feedback f "
                    "JOIN sessions s ON s.id = f.session_id"
                )
            ).all()
            endorsed = conn.execute(
                text(
                    "SELECT f.registration_id, s.code, e.recommendation_id, e.value "
                    "FROM endorsements e JOIN feedback f ON f.id = e.feedback_id "
                    "JOIN sessions s ON s.id = f.session_id"
                )
            ).all()
            responses = conn.execute(
                text("SELECT registration_id, responses FROM participants WHERE responses > 0")
            ).all()
    finally:
        engine.dispose()
    endorsements: dict[tuple[str, str], dict[str, int]] = {}
    for rid, code, recommendation, value in endorsed:
        endorsements.setdefault((rid, code), {})[str(recommendation)] = value
    return Stored(
        ratings={(rid, code): rating for rid, code, rating in feedback},
        rows=len(feedback),
        endorsements=endorsements,
        responses={rid: n for rid, n in responses},
    )


def check(found: Stored, sent: Sequence[Submission], answered: int, spares: int) -> list[str]:
    """The tables against the submissions sent (the first `answered` + up to `spares` more)."""
    from tools.feedback_seed import registration_id

    failures = []
    if len(found.ratings) != found.rows:
        failures.append(f"{found.rows - len(found.ratings)} submissions were stored twice")
    if not answered <= found.rows <= answered + spares:
        failures.append(f"{found.rows} feedback rows for {answered} answered submissions")
    expected = {(registration_id(s.participant), s.code): s for s in sent}
    per_person: dict[str, int] = {}
    for key, rating in found.ratings.items():
        submission = expected.get(key)
        if submission is None:
            failures.append(f"a feedback row nobody sent: {key}")
            continue
        per_person[key[0]] = per_person.get(key[0], 0) + 1
        if rating != submission.rating:
            failures.append(f"{key}: rating {rating}, {submission.rating} sent")
        if found.endorsements.get(key, {}) != submission.endorsements:
            failures.append(f"{key}: endorsements {found.endorsements.get(key)} differ")
    if per_person != found.responses:
        failures.append("participants' response counts do not match their feedback rows")
    return failures[:20]


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace, processes: Processes) -> int:
    from tools.feedback_seed import Shape, participants, seed

    bench.BENCH_DIR.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    backend, client = bench.choose_backend(args.db), bench.choose_client(args.client)
    concurrency = args.concurrency
    warm_count, rush_count = args.warmup + concurrency, args.requests + concurrency
    warm_people, rush_people = -(-warm_count // SESSIONS), -(-rush_count // SESSIONS)  # ceiling
    people = warm_people + rush_people
    url = bench.fresh_database(backend, "feedback", DATABASE)
    seeded = seed(url, Shape(sessions=SESSIONS, participants=people, rated=False))
    tokens = participants(seeded.slug, bench.SECRET_KEY, people)
    themes = recommendations_by_code(url, seeded.slug)
    codes = seeded.session_codes
    warm = submissions(0, warm_count, codes, themes)
    rush = submissions(warm_people, rush_count, codes, themes)

    env = {**bench.server_env(url, bench.redis_url(processes)), "FEEDBACK_DATABASE_URL": url}
    settings = shlex.split(args.gunicorn)
    service = bench.gunicorn(processes, "feedback", "services.feedback.wsgi:app", env, settings)
    bare = bench.gunicorn(processes, "bare-feedback", "tools.bare_app:app", env, settings)
    bench.wait_healthy(processes, service, "the feedback service")
    bench.wait_healthy(processes, bare, "the bare app")

    slug = seeded.slug
    if args.warmup:
        print(f"warming up: {args.warmup} requests to each server ...", flush=True)
        to_service, to_bare = requests_for(None, slug, tokens, warm), bare_twins(warm, tokens)
        warmed = bench.load(client, "warmup-feedback", service, to_service, concurrency)
        bench.drain(url, warmed, "feedback")
        bench.load(client, "warmup-bare", bare, to_bare, concurrency)
    answered_before = stored(url).rows
    print(f"rush: {args.requests} submissions to each, {concurrency} connections ...", flush=True)
    to_service, to_bare = requests_for(None, slug, tokens, rush), bare_twins(rush, tokens)
    result = bench.load(client, "feedback", service, to_service, concurrency)
    bench.drain(url, result, "feedback")
    bare_result = bench.load(client, "bare", bare, to_bare, concurrency)
    processes.check_alive()
    database = f"{backend} {bench.database_version(url)}; {people} participants"
    bench.print_setting(args, client, load_before, f"{database}, {len(codes)} sessions")
    report(result, bare_result)
    failures = []
    if result.errors:
        failures.append(f"{result.errors} submissions failed: {dict(result.statuses)}")
    answered = answered_before + result.requests
    failures += check(stored(url), [*warm, *rush], answered, concurrency)
    if failures:
        print("storage check FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("storage check OK: each submission stored once, with its rating and endorsements")
    return 0


def report(feedback: Result, bare: Result) -> None:
    print(feedback.line())
    print(bare.line())
    ratio = feedback.throughput / bare.throughput if bare.throughput else 0.0
    print(bench.target_line("throughput ratio feedback/bare", ratio, ">=", TARGET_RATIO,
                            ratio >= TARGET_RATIO))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    description = __doc__.split("\n\n")[0]
    prog = "python -m tools.bench_feedback"
    return bench.run_rush(run, bench.parse_rush_args(prog, description, "submissions", argv))


if __name__ == "__main__":
    sys.exit(main())
