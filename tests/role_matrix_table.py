"""Print the role matrix as a Markdown table (for a closing note or a review):

    TEST_REDIS_URL=redis://127.0.0.1:6379/12 python -m tests.role_matrix_table

It builds the three services' apps on fresh SQLite databases in a temporary folder, with the
Redis at TEST_REDIS_URL for the web sessions (the tests' default otherwise), and calls every
organiser route as every caller (tests/role_matrix.py).
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

from shared.config import Settings
from shared.migrations import upgrade
from tests import role_matrix
from tests.helpers import ORGANISER_TOKEN, REDIS_URL, SECRET_KEY


def main() -> int:
    settings = dataclasses.replace(
        Settings(),
        redis_url=REDIS_URL,
        secret_key=SECRET_KEY,
        organiser_token=ORGANISER_TOKEN,
        rate_limits_enabled=False,
        public_base_url="http://testserver",
    )
    with tempfile.TemporaryDirectory() as folder:
        databases = {}
        for service in role_matrix.SERVICES:
            databases[service] = f"sqlite:///{Path(folder) / f'{service}.sqlite3'}"
            upgrade(service, databases[service])
        matrix = role_matrix.build(role_matrix.make_apps(settings, databases))
        print(role_matrix.table(matrix))
        wrong = role_matrix.mismatches(matrix) + [r.label for r in matrix.undecided()]
        for line in wrong:
            print("MISMATCH:", line, file=sys.stderr)
        matrix.apps["notifier"].extensions["mailer"].close()
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
