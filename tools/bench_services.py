"""The notifier and feedback benchmarks (`make bench` runs them after the registration rush).

- notifier: emails per second from the worker to a local SMTP sink against a plain smtplib
  loop over one connection, and how long the confirmations of a 700-person rush take.
- feedback: the session and event summaries and the JSON report over 1,000,000 feedback rows,
  against a plain SQL GROUP BY over the same table (PostgreSQL when it answers, else SQLite).
"""

from __future__ import annotations

import argparse

from tools.bench import choose_backend, fresh_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=500, help="emails for the notifier rate")
    parser.add_argument("--rows", type=int, default=1_000_000, help="feedback rows")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from tools import feedback_seed as feedback_bench
    from tools.notifier_bench import run_bench

    print("\n== notifier ==")
    run_bench(args.emails)
    print("\n== feedback ==")
    url = fresh_database(choose_backend("auto"), "feedback", "agora_bench_feedback")
    seeded = feedback_bench.seed(url, feedback_bench.shape_for(args.rows))
    print(f"database: {url.split('@')[-1]}; seeded {seeded.rows:,} rows in {seeded.seconds:.1f} s")
    print(feedback_bench.format_figures(feedback_bench.measure(url, repeats=args.repeats)))


if __name__ == "__main__":
    main()
