"""The notifier and feedback benchmarks (`make bench` runs them after the registration rush).

- notifier: emails per second from the worker to a local SMTP sink against a plain smtplib
  loop over one connection, and how long the confirmations of a 700-person rush take.
- feedback: the session and event summaries and the JSON report over 1,000,000 feedback rows,
  against a plain SQL GROUP BY over the same table (PostgreSQL when it answers, else SQLite).
"""

from __future__ import annotations

import argparse
import socket

from sqlalchemy import create_engine, text

from shared.config import ROOT

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


def postgres_answers() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 5432)) == 0


def fresh_feedback_database() -> str:
    if postgres_answers():
        admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "agora_bench_feedback" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "agora_bench_feedback"'))
        admin.dispose()
        return f"{POSTGRES}/agora_bench_feedback"
    path = ROOT / "var" / "bench" / "feedback.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("feedback.sqlite3*"):
        stale.unlink()
    return f"sqlite:///{path}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=500, help="emails for the notifier rate")
    parser.add_argument("--rows", type=int, default=1_000_000, help="feedback rows")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from services.feedback import bench as feedback_bench
    from services.notifier.bench import run_bench

    print("\n== notifier ==")
    run_bench(args.emails)
    print("\n== feedback ==")
    url = fresh_feedback_database()
    seeded = feedback_bench.seed(url, feedback_bench.shape_for(args.rows))
    print(f"database: {url.split('@')[-1]}; seeded {seeded.rows:,} rows in {seeded.seconds:.1f} s")
    print(feedback_bench.format_figures(feedback_bench.measure(url, repeats=args.repeats)))


if __name__ == "__main__":
    main()
