"""The three services as `make run` starts them, on free ports, for the browser suite.

The same preparation and process list as `make run` (tools/run.py): gunicorn for each web
service, a Celery worker, an outbox relay, the notifier's sweeper and mail catcher, the
feedback scheduler; SQLite databases in a temporary folder; a Redis database of its own, so
no other test's worker takes its tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from shared.config import ROOT
from tests.helpers import ORGANISER_TOKEN, SECRET_KEY, bearer, free_port
from tools.run import prepare, set_up_databases

SERVICES = ("registration", "feedback", "notifier")
START_SECONDS = 60


@dataclass
class Stack:
    urls: dict[str, str]
    logs: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def registration(self) -> str:
        return self.urls["registration"]

    @property
    def feedback(self) -> str:
        return self.urls["feedback"]

    @property
    def notifier(self) -> str:
        return self.urls["notifier"]

    def api(self, service: str = "registration") -> httpx.Client:
        """An organiser's API client of one service."""
        return httpx.Client(base_url=self.urls[service], headers=bearer(ORGANISER_TOKEN))

    def check_alive(self) -> None:
        dead = [name for name, process in self.processes if process.poll() is not None]
        if dead:
            raise RuntimeError(f"stopped: {', '.join(dead)}; see the logs in {self.logs}")


def environment(folder: Path, redis_url: str) -> dict[str, str]:
    ports = {service: free_port() for service in SERVICES}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "TEST_"))},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "ORGANISER_TOKEN": ORGANISER_TOKEN,
        # One address, many test participants and organisers: limits are tested below the browser.
        "RATE_LIMITS_ENABLED": "false",
        "NOTIFIER_MAILCATCHER_PORT": str(free_port()),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['registration']}",
        "FEEDBACK_PUBLIC_URL": f"http://127.0.0.1:{ports['feedback']}",
        "NOTIFIER_PUBLIC_URL": f"http://127.0.0.1:{ports['notifier']}",
        "MAIL_FROM": "Agora <no-reply@agora.test>",
    }
    for service, port in ports.items():
        env[f"{service.upper()}_PORT"] = str(port)
        env[f"{service.upper()}_DATABASE_URL"] = f"sqlite:///{folder / f'{service}.sqlite3'}"
    return env


def wait_until_healthy(stack: Stack) -> None:
    deadline = time.monotonic() + START_SECONDS
    waiting = dict(stack.urls)
    while waiting:
        stack.check_alive()
        for service, url in list(waiting.items()):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    del waiting[service]
            except httpx.TransportError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"not healthy after {START_SECONDS} s: {', '.join(waiting)}")
        time.sleep(0.2)


def stop(processes: list[tuple[str, subprocess.Popen[Any]]]) -> None:
    for _, process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for _, process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@contextmanager
def running_stack(folder: Path, redis_url: str) -> Iterator[Stack]:
    """Everything `make run` starts, ready to serve; stopped (all processes) on exit."""
    redis.Redis.from_url(redis_url).flushdb()
    env, commands = prepare(environment(folder, redis_url), folder / "var")
    set_up_databases(env)
    urls = {s: f"http://127.0.0.1:{env[f'{s.upper()}_PORT']}" for s in SERVICES}
    stack = Stack(urls=urls, logs=folder / "logs")
    stack.logs.mkdir()
    try:
        for name, command in commands:
            with (stack.logs / f"{name}.log").open("wb") as log:  # the child keeps it open
                process = subprocess.Popen(
                    command, shell=True, env=env, cwd=ROOT, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            stack.processes.append((name, process))
        wait_until_healthy(stack)
        yield stack
    finally:
        stop(stack.processes)
