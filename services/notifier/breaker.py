"""The circuit breaker in front of the SMTP server, shared by every delivery process.

After `failures` consecutive connections that could not be opened, the breaker opens: for a
cool-down no delivery tries to connect; each is put off until the cool-down ends, without
holding a worker slot or counting as an attempt. When it ends, one delivery at a time (the
probe) may connect: success closes the breaker, failure opens it again for twice as long, up
to `max_cooldown_seconds`. Its state is in Redis, so every worker process and every machine
sees the same server state; without Redis it stays closed (every delivery tries).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
import structlog

from shared.config import Settings

log = structlog.get_logger(__name__)
KEY_PREFIX = "notifier:smtp-breaker"


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 3
    cooldown_seconds: float = 30.0
    max_cooldown_seconds: float = 300.0
    # How long a probe may take before another delivery may probe instead.
    probe_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerPolicy:
        return cls(
            failures=settings.notifier_breaker_failures,
            cooldown_seconds=settings.notifier_breaker_cooldown_seconds,
            max_cooldown_seconds=settings.notifier_breaker_max_cooldown_seconds,
            probe_seconds=settings.notifier_smtp_connect_timeout_seconds
            + settings.notifier_smtp_timeout_seconds
            + 5.0,
        )


class Breaker:
    """Whether deliveries may connect to the SMTP server now; told how connecting went."""

    def __init__(self, redis_url: str, policy: BreakerPolicy, prefix: str = KEY_PREFIX) -> None:
        self.policy = policy
        self.client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.failures_key = f"{prefix}:failures"
        self.open_until_key = f"{prefix}:open-until"
        self.cooldown_key = f"{prefix}:cooldown"
        self.probe_key = f"{prefix}:probe"

    def wait(self) -> float:
        """0 when a delivery may connect now; otherwise how many seconds to put it off."""
        try:
            raw = self.client.get(self.open_until_key)
            if raw is None:
                return 0.0
            remaining = float(raw) - time.time()
            if remaining > 0:
                return remaining
            # Cooled down: this delivery probes, unless another one is probing already.
            probe = self.client.set(self.probe_key, "1", nx=True, ex=int(self.policy.probe_seconds))
        except redis.RedisError as error:
            log.warning("breaker.unavailable", error=str(error))
            return 0.0
        return 0.0 if probe else self.policy.probe_seconds

    def unreachable(self) -> None:
        """A connection could not be opened: count it; open (or reopen) when it is time to."""
        try:
            raw = self.client.get(self.open_until_key)
            if raw is not None:
                if float(raw) > time.time():
                    return  # a connection begun before the breaker opened: already counted
                self._open(self._cooldown_after_probe())  # the probe failed
                return
            failures = self.client.incr(self.failures_key)
            self.client.expire(self.failures_key, int(self.policy.max_cooldown_seconds))
            if int(failures) >= self.policy.failures:  # type: ignore[arg-type]
                self._open(self.policy.cooldown_seconds)
        except redis.RedisError as error:
            log.warning("breaker.unavailable", error=str(error))

    def reachable(self) -> None:
        """The server answered: close the breaker and forget the failures."""
        try:
            self.client.delete(
                self.failures_key, self.open_until_key, self.cooldown_key, self.probe_key
            )
        except redis.RedisError as error:
            log.warning("breaker.unavailable", error=str(error))

    def _cooldown_after_probe(self) -> float:
        previous = self.client.get(self.cooldown_key)
        last = float(previous) if previous is not None else self.policy.cooldown_seconds
        return min(self.policy.max_cooldown_seconds, last * 2)

    def _open(self, cooldown: float) -> None:
        with self.client.pipeline() as pipe:
            pipe.set(self.cooldown_key, cooldown)
            pipe.set(self.open_until_key, time.time() + cooldown)
            pipe.delete(self.probe_key, self.failures_key)
            pipe.execute()
        log.warning("breaker.open", cooldown=cooldown)
