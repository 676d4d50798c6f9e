"""Benchmark helpers for `make bench`: summaries and the report over a million feedback rows.

`seed(url)` fills a fresh feedback database quickly (COPY on PostgreSQL, executemany on
SQLite); `measure(url, slug)` times, through the real Flask endpoints, the session summary,
the event summary and the JSON report, against a plain `SELECT session_id, rating, count(*)
FROM feedback GROUP BY session_id, rating` over the same table; it also times a cold and a
warm build of the report. `python -m tools.feedback_seed --url URL` runs both.

Submissions per second are measured over HTTP by tools/bench.py (POST
/api/v1/events/{slug}/sessions/{code}/feedback with a participant token: see `participants`).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text

from services.feedback.models import Event, Feedback, ProgrammeSession, Recommendation, Report
from shared.auth import ParticipantTokens
from shared.config import Settings
from shared.db import make_engine
from shared.migrations import upgrade

SLUG = "bench-feedback"
THEMES = (
    "Drugs and organised crime",
    "Mental health in public space",
    "Night-time governance",
    "Crises at local level",
    "Trust in institutions",
    "Living together and polarisation",
    "Public space",
    "Prevention",
)
COMMENTS = {
    "fr": (
        "La médiation sociale dans le métro fonctionne bien",
        "il faut financer la prévention dans chaque quartier",
        "les salles de consommation réduisent les nuisances",
        "plus de coordination entre police et travail social",
        "des exemples concrets de villes européennes",
        "trop d'intervenants, pas assez de débat",
    ),
    "nl": (
        "Preventie bij jongeren werkt beter dan repressie",
        "meer straathoekwerk in de Brusselse wijken",
        "goede sessie maar te weinig tijd voor vragen",
        "het nachtleven vraagt om een nachtburgemeester",
    ),
    "en": (
        "Very concrete examples from Bologna and Budapest",
        "night-time governance needs a dedicated mayor",
        "mental health teams should work with the police",
        "too many speakers and not enough debate",
        "trust in institutions starts at local level",
    ),
}
LANGUAGES = ("fr", "nl", "en")


@dataclass(frozen=True)
class Shape:
    """What `seed` creates: every participant rates every session (rows = product)."""

    sessions: int = 40
    participants: int = 25_000
    comment_share: float = 0.10
    recommendations_per_theme: int = 3
    seed: int = 2024
    # False: seats and people only, nothing rated yet (for a POST submissions benchmark).
    rated: bool = True

    @property
    def rows(self) -> int:
        return self.sessions * self.participants


@dataclass
class Seeded:
    slug: str
    session_codes: list[str]
    rows: int
    seconds: float


def shape_for(rows: int) -> Shape:
    """A shape with about `rows` feedback rows over 40 sessions."""
    sessions = 40 if rows >= 4000 else 4
    return Shape(sessions=sessions, participants=max(rows // sessions, 1))


def registration_id(n: int) -> str:
    """The registration id of the seeded participant number `n`."""
    return f"{n:032x}"


def _copy_or_insert(
    engine: Engine, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]
) -> None:
    """COPY on PostgreSQL (one round trip per megabyte), executemany on SQLite."""
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            _skip_foreign_key_checks(cursor)
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    marks = ", ".join("?" for _ in columns)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        batch: list[tuple] = []
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        for row in rows:
            batch.append(row)
            if len(batch) == 50_000:
                cursor.executemany(statement, batch)
                batch.clear()
        if batch:
            cursor.executemany(statement, batch)
        cursor.execute("COMMIT")
    finally:
        raw.close()


def _skip_foreign_key_checks(cursor: Any) -> None:
    """The seed is consistent by construction: skip the per-row foreign key triggers when the
    role may (a superuser, as on a development server); otherwise load with them."""
    try:
        cursor.execute("SAVEPOINT replica")
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("RELEASE SAVEPOINT replica")
    except Exception:  # not allowed for this role: keep the checks
        cursor.execute("ROLLBACK TO SAVEPOINT replica")


def _sqlite_value(value: Any) -> Any:
    # The raw SQLite driver gets what SQLAlchemy's UTCDateTime would have stored.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return value


class _Seeder:
    """Writes the benchmark's event, programme, people, feedback and endorsements."""

    def __init__(self, engine: Engine, shape: Shape) -> None:
        self.engine, self.shape = engine, shape
        self.rng = random.Random(shape.seed)
        self.now = datetime.now(UTC).replace(microsecond=0)
        postgres = engine.dialect.name == "postgresql"
        self.stamp = self.now if postgres else _sqlite_value(self.now)
        self.languages = [LANGUAGES[p % 3] for p in range(shape.participants)]
        self.event_id = 0
        self.sessions: list[tuple[int, str, str]] = []  # (id, theme, code), in id order
        self.recommendations: dict[str, list[int]] = {}

    def programme(self) -> None:
        now = self.now
        with self.engine.begin() as conn:
            if conn.scalar(select(func.count()).select_from(Feedback)):
                raise SystemExit("the feedback table is not empty; give a fresh database")
            self.event_id = conn.execute(
                Event.__table__.insert().returning(Event.id),
                {
                    "slug": SLUG,
                    "title": "Security, Democracy & Cities (benchmark)",
                    "title_translations": {},
                    "city": "Brussels",
                    "timezone": "Europe/Brussels",
                    "starts_on": (now - timedelta(days=2)).date(),
                    "ends_on": now.date(),
                    "feedback_closes_at": now + timedelta(days=14),
                },
            ).scalar_one()
            conn.execute(
                Report.__table__.insert(), {"event_id": self.event_id, "keyword_cache": {}}
            )
            conn.execute(
                ProgrammeSession.__table__.insert(),
                [self._session(n) for n in range(self.shape.sessions)],
            )
            self.sessions = [
                tuple(row)  # type: ignore[misc]
                for row in conn.execute(
                    select(
                        ProgrammeSession.id, ProgrammeSession.theme, ProgrammeSession.code
                    ).order_by(ProgrammeSession.id)
                )
            ]
            conn.execute(
                Recommendation.__table__.insert(),
                [
                    {
                        "event_id": self.event_id,
                        "theme": theme,
                        "text": f"{theme}: proposal {k + 1}.",
                    }
                    for theme in THEMES
                    for k in range(self.shape.recommendations_per_theme)
                ],
            )
            for rid, theme in conn.execute(select(Recommendation.id, Recommendation.theme)):
                self.recommendations.setdefault(theme, []).append(rid)

    def _session(self, n: int) -> dict[str, Any]:
        starts = self.now - timedelta(days=2) + timedelta(hours=n)
        return {
            "event_id": self.event_id,
            "code": f"B{n + 1:03d}",
            "title": f"Benchmark session {n + 1}",
            "title_translations": {},
            "kind": "thematic",
            "theme": THEMES[n % len(THEMES)],
            "starts_at": starts,
            "ends_at": starts + timedelta(minutes=90),
            "room": "",
            "language": "en",
            "attendees": self.shape.participants,
        }

    def people(self) -> None:
        """Participants (who all rated every session), their themes and their seats."""
        everyone = range(self.shape.participants)
        countries = ("BE", "BE", "BE", "FR", "FR", "NL", "NL", "DE", "IT", "ES", "HU", "PL")
        cities = ("Brussels", "Liège", "Gent", "Paris", "Lyon", "Rotterdam", "Bologna", "Budapest")
        roles = ("local_government", "police_security", "social_worker", "researcher")
        columns = "registration_id event_id token_version language country city role status"
        _copy_or_insert(
            self.engine,
            "participants",
            [*columns.split(), "responses", "updated_at"],
            (
                (
                    registration_id(p),
                    self.event_id,
                    1,
                    self.languages[p],
                    countries[p % len(countries)],
                    cities[p % len(cities)],
                    roles[p % len(roles)],
                    "active",
                    self.shape.sessions if self.shape.rated else 0,
                    self.stamp,
                )
                for p in everyone
            ),
        )
        per_theme = Counter(theme for _id, theme, _code in self.sessions)
        _copy_or_insert(
            self.engine,
            "theme_members",
            ["event_id", "theme", "registration_id", "seats"],
            (
                (self.event_id, theme, registration_id(p), seats)
                for theme, seats in sorted(per_theme.items())
                for p in everyone
            ),
        )
        _copy_or_insert(
            self.engine,
            "attendance",
            ["registration_id", "session_id", "status"],
            (
                (registration_id(p), session_id, "confirmed")
                for session_id, _theme, _code in self.sessions
                for p in everyone
            ),
        )

    def feedback(self) -> None:
        """Ratings around 3.6; a share of them with a comment in the person's language."""
        columns = "id registration_id session_id rating comment language created_at updated_at"
        _copy_or_insert(self.engine, "feedback", columns.split(), self._feedback_rows())

    def _feedback_rows(self) -> Iterator[tuple[Any, ...]]:
        rng, fid = self.rng, 0
        for session_id, _theme, _code in self.sessions:
            for p in range(self.shape.participants):
                fid += 1
                comment = None
                if rng.random() < self.shape.comment_share:
                    phrases = COMMENTS[self.languages[p]]
                    comment = f"{rng.choice(phrases)}; {rng.choice(phrases).lower()}."
                rating = min(5, max(1, round(rng.gauss(3.6, 1.0))))
                language = self.languages[p]
                person = registration_id(p)
                yield (fid, person, session_id, rating, comment, language, self.stamp, self.stamp)

    def endorsements(self) -> None:
        """Each participant answers the recommendations of one theme, from its first session."""
        first_session: dict[str, int] = {}
        for index, (_sid, theme, _code) in enumerate(self.sessions):
            first_session.setdefault(theme, index)
        # Feedback ids follow session order, then participant order.
        rows = (
            (
                registration_id(p),
                rid,
                first_session[THEMES[p % len(THEMES)]] * self.shape.participants + p + 1,
                self.rng.randint(-2, 2),
                self.stamp,
            )
            for p in range(self.shape.participants)
            if THEMES[p % len(THEMES)] in first_session
            for rid in self.recommendations[THEMES[p % len(THEMES)]]
        )
        columns = ["registration_id", "recommendation_id", "feedback_id", "value", "updated_at"]
        _copy_or_insert(self.engine, "endorsements", columns, rows)


def seed(url: str, shape: Shape | None = None) -> Seeded:
    """Migrate `url` and fill it with one event and `shape.rows` feedback rows; it must be empty."""
    shape = shape or Shape()
    started = time.perf_counter()
    upgrade("feedback", url)
    engine = make_engine(url)
    seeder = _Seeder(engine, shape)
    seeder.programme()
    seeder.people()
    if shape.rated:
        seeder.feedback()
        seeder.endorsements()
    _analyse(engine)
    engine.dispose()
    codes = [code for _id, _theme, code in seeder.sessions]
    return Seeded(SLUG, codes, shape.rows, time.perf_counter() - started)


def _analyse(engine: Engine) -> None:
    """Fresh statistics (and, on PostgreSQL, the visibility map index-only scans rely on)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('feedback', 'id'), max(id)) FROM feedback"
                )
            )
            conn.execute(text("VACUUM ANALYZE"))
    else:
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("ANALYZE")
        finally:
            raw.close()


def _median_time(call: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(
    url: str, slug: str = SLUG, repeats: int = 5, secret_key: str | None = None
) -> dict[str, Any]:
    """Time the summaries and the report through the Flask endpoints, and the plain GROUP BY.

    Every figure is the median of `repeats` runs after one warm-up, in seconds.
    """
    from services.feedback.app import create_app
    from services.feedback.extensions import db
    from services.feedback.report import store

    token = "bench-organiser-token-0123456789"
    settings = dataclasses.replace(
        Settings(),
        feedback_database_url=url,
        organiser_token=token,
        secret_key=secret_key or Settings().secret_key,
        rate_limits_enabled=False,
        development_mode=True,  # the default key is fine for a measurement that keeps nothing
        redis_url="redis://127.0.0.1:1/0",  # never reached: nothing here schedules a task
    )
    app = create_app({"SETTINGS": settings})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(Feedback))
        session_code = conn.scalar(select(ProgrammeSession.code).order_by(ProgrammeSession.id))

    def plain_group_by() -> None:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT session_id, rating, count(*) FROM feedback GROUP BY session_id, rating"
                )
            ).all()

    def get(path: str) -> Callable[[], None]:
        def call() -> None:
            response = client.get(path, headers=auth)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]

        return call

    def build(cache: bool) -> Callable[[], None]:
        def call() -> None:
            with app.app_context():
                if not cache:
                    with db.transaction() as session:
                        session.execute(Report.__table__.update().values(keyword_cache={}))
                store.rebuild(db, slug)

        return call

    base = f"/api/v1/events/{slug}"
    steps = {
        "group_by": plain_group_by,
        "session_summary": get(f"{base}/sessions/{session_code}/summary"),
        "event_summary": get(f"{base}/summary?comments=false"),
        "event_summary_with_comments": get(f"{base}/summary"),
        "report_build_cold": build(cache=False),
        "report_build_warm": build(cache=True),
        "report_json": get(f"{base}/report?format=json"),
    }
    figures: dict[str, Any] = {"rows": rows, "backend": engine.dialect.name}
    for call in steps.values():
        call()  # warm-up (and, for the report, the stored copy the next GETs serve)
    # Round robin, so the baseline and the endpoints share whatever else the machine does.
    quick = {name: call for name, call in steps.items() if not name.startswith("report_build")}
    times: dict[str, list[float]] = {name: [] for name in quick}
    for _ in range(repeats):
        for name, call in quick.items():
            times[name].append(_median_time(call, 1))
    figures.update({name: statistics.median(values) for name, values in times.items()})
    figures["report_build_warm"] = _median_time(steps["report_build_warm"], 3)
    figures["report_build_cold"] = _median_time(steps["report_build_cold"], 1)
    baseline = figures["group_by"]
    figures["summary_plus_report"] = figures["event_summary"] + figures["report_json"]
    figures["ratio_summary_plus_report"] = figures["summary_plus_report"] / baseline
    figures["ratio_session_summary_plus_report"] = (
        figures["session_summary"] + figures["report_json"]
    ) / baseline
    figures["ratio_warm_build"] = figures["report_build_warm"] / baseline
    engine.dispose()
    return figures


def participants(slug: str, secret_key: str, count: int) -> list[str]:
    """Participant tokens of the first `count` seeded participants (for an HTTP benchmark).

    Each has a confirmed seat in every seeded session (`Seeded.session_codes`); seed with
    `Shape(rated=False)` to POST /api/v1/events/{slug}/sessions/{code}/feedback once per
    (token, code), or PUT to replace what a rated seed holds.
    """
    tokens = ParticipantTokens(secret_key)
    return [tokens.sign(registration_id(p), 1) for p in range(count)]


def format_figures(figures: dict[str, Any]) -> str:
    lines = [f"feedback over {figures['rows']:,} rows ({figures['backend']}), median seconds:"]
    for key in (
        "group_by", "session_summary", "event_summary", "event_summary_with_comments",
        "report_json", "report_build_warm", "report_build_cold",
    ):  # fmt: skip
        lines.append(f"  {key:<30} {figures[key]:8.3f}")
    lines.append(
        f"  summary + JSON report          {figures['summary_plus_report']:8.3f}"
        f"  = {figures['ratio_summary_plus_report']:.2f} x GROUP BY (target <= 1.5, <= 2 s)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a fresh (empty) feedback database URL")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-seed", action="store_true", help="the database is seeded already")
    args = parser.parse_args()
    if not args.skip_seed:
        seeded = seed(args.url, shape_for(args.rows))
        print(f"seeded {seeded.rows:,} feedback rows in {seeded.seconds:.1f} s")
    print(format_figures(measure(args.url, repeats=args.repeats)))


if __name__ == "__main__":
    main()
