"""A worker's broker connection, once lost, is tried again every few seconds at most, so that
an event queued during a broker outage (a revoked token, an erasure) is acted on soon after."""

from __future__ import annotations

from typing import Any

import pytest

from shared.celery_app import RECONNECT_MAX_SECONDS, QuickReconnection, make_celery
from shared.config import Settings
from tests.helpers import free_port


class Enough(Exception):
    pass


def test_the_connections_of_a_service_reconnect_quickly() -> None:
    app = make_celery("test", Settings(redis_url="redis://127.0.0.1:6379/3"))
    assert isinstance(app.connection_for_read(), QuickReconnection)
    assert isinstance(app.connection_for_write(), QuickReconnection)


def test_the_wait_between_tries_never_passes_the_maximum() -> None:
    app = make_celery("test", Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    waits: list[float] = []

    def errback(_error: Exception, interval: float) -> None:
        waits.append(interval)
        if len(waits) == 3:
            raise Enough

    connection: Any = app.connection_for_read()
    # Steps of 3.9 s from 0.1 s: kombu alone would wait 0.1, 4.0, then 7.9 s between tries.
    with pytest.raises(Enough):
        connection.ensure_connection(errback, None, interval_start=0.1, interval_step=3.9)
    assert waits == pytest.approx([0.1, RECONNECT_MAX_SECONDS, RECONNECT_MAX_SECONDS])
