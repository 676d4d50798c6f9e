"""docker-compose.yml, the Dockerfile and the README's architecture section agree.

The compose file is validated by `docker-compose config` (Debian's docker-compose v1, which
needs no Docker engine; `.ci/run` installs it) or the `docker compose` plugin when one is on
PATH, and always by parsing it with PyYAML and checking what the project relies on.

README convention, checked by `test_readme_architecture_services_are_in_compose`:
README.md has a heading `## Architecture`. In that section (down to the next `#` or `##`
heading) the compose services are named in backticks, in either or both of these forms:

- a markdown table with a column whose header contains the word "compose" (for example
  "Compose services"); every backticked name in that column, e.g.
  `| registration | `registration-web`, `registration-worker` | ... |`;
- list items labelled "Compose service(s):" (any case, bold allowed); every backticked name
  after the label, e.g. `- Compose services: `redis`, `postgres``.

Every name found must be a service in docker-compose.yml. A README without the section, or a
section naming no service this way, fails the test (it never skips).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # PyYAML: a dev requirement (requirements-dev.txt)
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
README = ROOT / "README.md"
DOCKERFILE = ROOT / "Dockerfile"

# Each app service is named `<service>-<role>`; it gets this service's database URL only.
DATABASE_VARIABLES = {
    "registration": "REGISTRATION_DATABASE_URL",
    "feedback": "FEEDBACK_DATABASE_URL",
    "notifier": "NOTIFIER_DATABASE_URL",
}
REQUIRED_VARIABLES = ("SECRET_KEY", "ORGANISER_TOKEN")
HOST_ENV = {
    "SECRET_KEY": "compose-test-secret-key-0123456789",
    "ORGANISER_TOKEN": "compose-test-organiser-token-0123456789",
}
LABELLED_ITEM = re.compile(
    r"\s*(?:[-*+]|\d+[.)])\s+[*_]*compose services?[*_]*\s*:[*_]*(?P<rest>.*)", re.IGNORECASE
)
BACKTICKED = re.compile(r"`([^`]+)`")


# --- helpers ---------------------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Resolve compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$` against env."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name, op, arg = match.group("name"), match.group("op") or "", match.group("arg")
        current = env.get(name)
        missing = not current if op.startswith(":") else current is None
        if missing and op.endswith("-"):
            return str(arg)
        if missing and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return current or ""

    return _VARIABLE.sub(replace, value)


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    raw = service.get("command") or []
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def healthcheck_of(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def run_compose(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    command = compose_command()
    if command is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed (parsed instead)")
    # An empty env file, so that a developer's own .env cannot change the outcome.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    full_env = {key: value for key, value in os.environ.items() if key not in REQUIRED_VARIABLES}
    full_env.update(env)
    return subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def architecture_section(text: str) -> list[str] | None:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.fullmatch(r"##\s+Architecture\s*#*\s*", line.strip(), flags=re.IGNORECASE):
            section = []
            for following in lines[index + 1 :]:
                if re.match(r"#{1,2}\s", following):
                    break
                section.append(following)
            return section
    return None


def table_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def names_in_tables(section: list[str]) -> list[str]:
    """Backticked names in the "compose" column of each markdown table of the section."""
    names: list[str] = []
    column: int | None = None
    previous = ""
    for line in section:
        if not line.strip().startswith("|"):
            column, previous = None, ""
            continue
        cells = table_cells(line)
        if any(cells) and all(re.fullmatch(r":?-+:?", cell) for cell in cells if cell):
            headers = table_cells(previous)
            matching = [i for i, header in enumerate(headers) if "compose" in header.lower()]
            column = matching[0] if matching else None
        elif column is not None and column < len(cells):
            names += BACKTICKED.findall(cells[column])
        previous = line
    return names


def names_in_lists(section: list[str]) -> list[str]:
    """Backticked names after the label of list items "- Compose services: `a`, `b`"."""
    names: list[str] = []
    for line in section:
        item = LABELLED_ITEM.match(line)
        if item:
            names += BACKTICKED.findall(item.group("rest"))
    return names


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    found = document.get("services")
    assert isinstance(found, dict) and found, "docker-compose.yml has no services"
    return found


@pytest.fixture(scope="module")
def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services run from the image built from this repository."""
    images = {svc.get("image") for svc in services.values() if "build" in svc} - {None}
    found = {
        name: svc
        for name, svc in services.items()
        if "build" in svc or (svc.get("image") is not None and svc.get("image") in images)
    }
    assert found, "no service in docker-compose.yml is built from this repository"
    return found


def each_app_service(app_services: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, Any]]:
    for name, svc in app_services.items():
        prefix = name.split("-", 1)[0]
        assert prefix in DATABASE_VARIABLES, (
            f"compose service {name!r} should be named <service>-<role> with <service> one of "
            f"{sorted(DATABASE_VARIABLES)}"
        )
        yield name, prefix, svc


# --- docker-compose itself ------------------------------------------------------------------


def test_docker_compose_config_accepts_the_file(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    result = run_compose(["config", "-q"], HOST_ENV, tmp_path)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    listed = run_compose(["config", "--services"], HOST_ENV, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == set(services)


@pytest.mark.parametrize("missing", REQUIRED_VARIABLES)
def test_docker_compose_refuses_to_start_without_the_secrets(missing: str, tmp_path: Path) -> None:
    env = {key: value for key, value in HOST_ENV.items() if key != missing}
    result = run_compose(["config", "-q"], env, tmp_path)
    assert result.returncode != 0
    assert missing in result.stderr


# --- the README ------------------------------------------------------------------------------


def test_readme_architecture_services_are_in_compose(services: dict[str, dict[str, Any]]) -> None:
    convention = (
        "see the top of tests/tools/test_compose.py: a '## Architecture' section with a table "
        "column headed '... compose ...' (or list items 'Compose services: ...') naming the "
        "compose services in backticks, e.g. `registration-web`"
    )
    assert README.is_file(), f"README.md is missing; {convention}"
    section = architecture_section(README.read_text(encoding="utf-8"))
    assert section is not None, f"README.md has no '## Architecture' heading; {convention}"
    named = names_in_tables(section) + names_in_lists(section)
    assert named, f"README.md's Architecture section names no compose service; {convention}"
    unknown = sorted(set(named) - set(services))
    assert not unknown, (
        f"README.md's Architecture section names {unknown}, which docker-compose.yml does not "
        f"define (it has {sorted(services)})"
    )


# --- what the project relies on in the file --------------------------------------------------


def test_redis_is_a_durable_broker_with_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    redis = services.get("redis")
    assert redis is not None, "no `redis` service"
    assert str(redis.get("image", "")).startswith("redis:7")
    command = " ".join(command_of(redis))
    assert "--maxmemory-policy noeviction" in command, "Celery messages must never be evicted"
    assert "--appendonly yes" in command
    assert "redis-cli ping" in healthcheck_of(redis)


def test_postgres_has_a_healthcheck_and_one_database_per_service(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = services.get("postgres")
    assert postgres is not None, "no `postgres` service"
    assert str(postgres.get("image", "")).startswith("postgres:15")
    assert "pg_isready" in healthcheck_of(postgres)
    assert environment_of(postgres).get("POSTGRES_PASSWORD"), "POSTGRES_PASSWORD is not set"
    init_scripts = [
        ROOT / str(volume).split(":", 1)[0]
        for volume in postgres.get("volumes", [])
        if "/docker-entrypoint-initdb.d" in str(volume)
    ]
    assert init_scripts, "no init script mounted in /docker-entrypoint-initdb.d"
    sql = " ".join(path.read_text() for path in init_scripts if path.is_file()).lower()
    for database in DATABASE_VARIABLES:
        assert f"create database {database}" in sql, f"no database {database!r} is created"


def test_app_services_get_redis_and_only_their_own_database(
    app_services: dict[str, dict[str, Any]],
) -> None:
    for name, prefix, svc in each_app_service(app_services):
        env = {key: interpolate(value, HOST_ENV) for key, value in environment_of(svc).items()}
        assert env.get("REDIS_URL", "").startswith("redis://redis:6379/"), name
        url = make_url(env.get(DATABASE_VARIABLES[prefix], "sqlite://"))
        assert url.drivername == "postgresql+psycopg", f"{name}: {url!r}"
        assert (url.host, url.database) == ("postgres", prefix), f"{name}: {url!r}"
        others = set(DATABASE_VARIABLES.values()) - {DATABASE_VARIABLES[prefix]}
        assert not others & set(env), f"{name} gets another service's database URL"
        assert env.get("PUBLIC_BASE_URL", "").startswith("http"), name


def test_app_services_require_the_secrets_from_the_host(
    app_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in app_services.items():
        env = environment_of(svc)
        for variable in REQUIRED_VARIABLES:
            assert env.get(variable, "").startswith(f"${{{variable}:?"), (
                f"{name}: {variable} must be a required variable, ${{{variable}:?message}}"
            )
            with pytest.raises(KeyError):
                interpolate(env[variable], {})


def test_app_services_wait_for_the_backends_and_their_migrations(
    services: dict[str, dict[str, Any]], app_services: dict[str, dict[str, Any]]
) -> None:
    for name, prefix, svc in each_app_service(app_services):
        waits_for = depends_on(svc)
        assert waits_for.get("postgres") == "service_healthy", name
        if name == f"{prefix}-migrate":
            assert str(svc.get("restart", "no")) == "no", f"{name} is one-shot"
            continue
        assert waits_for.get("redis") == "service_healthy", name
        if f"{prefix}-migrate" in services:
            assert waits_for.get(f"{prefix}-migrate") == "service_completed_successfully", name


def test_registration_processes(services: dict[str, dict[str, Any]]) -> None:
    expected = {"registration-migrate", "registration-web", "registration-worker"}
    assert expected | {"registration-relay"} <= set(services)
    migrate = " ".join(command_of(services["registration-migrate"]))
    assert "services.registration.app migrate" in migrate
    assert "services.registration.app load-sample" in migrate
    web = services["registration-web"]
    assert command_of(web)[:1] == ["gunicorn"]
    assert "0.0.0.0:8001" in command_of(web)
    assert command_of(web)[-1] == "services.registration.wsgi:app"
    assert environment_of(web).get("BIND_HOST") == "0.0.0.0"
    assert any(str(port).endswith(":8001") for port in web.get("ports", []))
    worker = command_of(services["registration-worker"])
    assert worker[:3] == ["celery", "-A", "services.registration.worker"]
    assert worker[worker.index("-Q") + 1] == "registration"
    relay = command_of(services["registration-relay"])
    assert relay[-1] == "relay"


def test_emails_go_out_from_a_worker_of_their_own(services: dict[str, dict[str, Any]]) -> None:
    events = command_of(services["notifier-worker"])
    deliveries = command_of(services["notifier-delivery"])
    for command in (events, deliveries):
        assert command[:3] == ["celery", "-A", "services.notifier.worker"]
    assert events[events.index("-Q") + 1] == "notifier"
    assert deliveries[deliveries.index("-Q") + 1] == "notifier.delivery"


def test_dockerfile_builds_a_non_root_python_image() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, flags=re.MULTILINE)
    assert "pip install -r requirements.txt" in dockerfile
    assert "PYTHONPATH=/app" in dockerfile
    assert "pybabel compile" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}, "the image must run as a non-root user"
