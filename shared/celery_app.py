"""The one Celery factory every service uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery, Task
from celery.app.amqp import AMQP
from kombu.connection import Connection
from kombu.entity import Queue

from shared.config import Settings

# Long enough for the slowest task (SMTP with retries is re-queued, not held),
# short enough that a task lost with a crashed worker comes back within minutes.
VISIBILITY_TIMEOUT_SECONDS = 300
CONFIG_MODULE_VARIABLE = "CELERY_CONFIG_MODULE"


# After a broker outage, a worker tries again at most this long apart (kombu waits up to 30 s):
# an event queued during the outage (a revoked token, an erasure) is acted on seconds after it.
RECONNECT_MAX_SECONDS = 4


class QuickReconnection(Connection):
    """A broker connection that, once lost, is tried again every few seconds at most."""

    def _ensure_connection(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) < 5:  # interval_max not given by position
            kwargs.setdefault("interval_max", RECONNECT_MAX_SECONDS)
        return super()._ensure_connection(*args, **kwargs)  # type: ignore[no-untyped-call]


class QuickReconnectionAMQP(AMQP):  # type: ignore[misc]
    Connection = QuickReconnection


def make_celery(name: str, settings: Settings, queues: Sequence[str] = ()) -> Celery:
    """A Celery app on the settings' broker; a service defines its tasks on it (`tasks.py`)."""
    app = Celery(name, broker=settings.redis_url, amqp=QuickReconnectionAMQP)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        # A failed task is not acknowledged (consumers retry or bury what fails, see
        # shared/consumer.py); a task whose worker died is delivered again.
        task_acks_on_failure_or_timeout=False,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        task_queues=[Queue(queue) for queue in queues],  # type: ignore[no-untyped-call]
        task_default_queue=queues[0] if queues else "celery",
        worker_hijack_root_logger=False,
        enable_utc=True,
        timezone="UTC",
    )
    # A deployment (or a test) may add Celery settings, e.g. `task_annotations` to change a
    # task's retry back-off, in a module named by CELERY_CONFIG_MODULE; the above stay.
    app.config_from_envvar(CONFIG_MODULE_VARIABLE, silent=True)
    return app


def bind_flask(celery_app: Celery, flask_app: Any) -> None:
    """Run every task inside the Flask app context (Flask's Celery pattern)."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery_app.Task = FlaskTask
    celery_app.set_default()
