"""The SMTP circuit breaker, on real Redis and a real silent server: after three connections
that could not be opened nobody connects for the cool-down, then one probe at a time."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from services.notifier.breaker import Breaker, BreakerPolicy
from services.notifier.mailer import Mailer, PutOff, SmtpConfig, Unreachable

POLICY = BreakerPolicy(failures=3, cooldown_seconds=0.5, max_cooldown_seconds=1.5, probe_seconds=5)


@pytest.fixture
def breaker(redis_url: str, broker) -> Breaker:
    return Breaker(redis_url, POLICY)


@pytest.fixture
def silent_port() -> Iterator[tuple[socket.socket, int]]:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel accepts; no greeting ever comes
        yield silent, silent.getsockname()[1]


def test_three_failures_open_the_breaker_then_one_probe_at_a_time(breaker):
    for _ in range(2):
        breaker.unreachable()
        assert breaker.wait() == 0
    breaker.unreachable()
    assert 0 < breaker.wait() <= 0.5
    time.sleep(0.6)
    assert breaker.wait() == 0  # this one probes
    assert breaker.wait() > 0  # the others wait for it
    breaker.unreachable()  # the probe failed: twice as long
    assert 0.5 < breaker.wait() <= 1.0
    time.sleep(1.1)
    assert breaker.wait() == 0
    breaker.reachable()
    assert breaker.wait() == 0 and breaker.wait() == 0


def test_a_silent_server_is_known_within_the_connect_timeout_and_then_left_alone(
    redis_url, broker, silent_port
):
    listener, port = silent_port
    config = SmtpConfig(
        "127.0.0.1", port, timeout=30, connect_timeout=0.3, breaker_redis_url=redis_url,
        breaker=POLICY,
    )  # fmt: skip
    mailers = [Mailer(config) for _ in range(2)]  # two worker processes share the breaker
    started = time.monotonic()
    for attempt in range(3):
        with pytest.raises(Unreachable):
            mailers[attempt % 2].send(b"x", "ana@example.org")
    assert time.monotonic() - started < 3  # the connect time-out, not the send time-out
    for mailer in mailers:
        with pytest.raises(PutOff):
            mailer.send(b"x", "ana@example.org")
    listener.settimeout(0.1)
    accepted = 0
    while True:
        try:
            listener.accept()[0].close()
            accepted += 1
        except TimeoutError:
            break
    assert accepted == 3  # the put-off sends never connected
