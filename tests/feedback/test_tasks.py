"""The worker's tasks: registered on the feedback Celery app only, under the contract's names.

Checked in a fresh interpreter that imports the worker entry point, as `celery -A` does: the
test process also imports other services, whose shared tasks would muddle the registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from shared.config import ROOT
from shared.contracts import SUBSCRIBERS, OwnTasks, Queues
from tests.helpers import SECRET_KEY

PROBE = """
import json
from services.feedback.worker import celery_app
celery_app.finalize()
ours = {name: task.__module__ for name, task in celery_app.tasks.items()
        if not name.startswith("celery.")}
ran = celery_app.tasks["feedback.rebuild_stale_reports"].apply().successful()
print(json.dumps({"tasks": ours, "ran": ran}))
"""


def test_the_worker_consumes_every_event_sent_to_its_queue(settings, feedback_db):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FEEDBACK_DATABASE_URL": feedback_db,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": SECRET_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    wanted = {name for name, queues in SUBSCRIBERS.items() if Queues.FEEDBACK in queues}
    own = {
        OwnTasks.REBUILD_REPORT,
        OwnTasks.SEND_INVITATIONS,
        OwnTasks.REBUILD_STALE_REPORTS,
    }
    assert set(found["tasks"]) == wanted | own
    assert set(found["tasks"].values()) <= {"services.feedback.tasks", "shared.consumer"}
    assert found["ran"] is True  # in the Flask app context, against the database
