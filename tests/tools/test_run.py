"""`make run`'s preparation: settings checked, secrets generated once, the right processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from shared.config import EMBEDDED_REDIS_PORT, ROOT, load_settings
from tools.run import prepare, set_up_databases


@pytest.fixture
def environ(tmp_path) -> dict[str, str]:
    return {
        f"{service.upper()}_DATABASE_URL": f"sqlite:///{tmp_path / f'{service}.sqlite3'}"
        for service in ("registration", "feedback", "notifier")
    }


def names(processes) -> list[str]:
    return [name for name, _ in processes]


def test_secret_and_organiser_token_are_generated_once_and_reused(environ, tmp_path):
    var = tmp_path / "var"
    first, _ = prepare(environ, var)
    second, _ = prepare(environ, var)
    for variable, filename in [
        ("SECRET_KEY", "secret_key"),
        ("ORGANISER_TOKEN", "organiser_token"),
    ]:
        assert first[variable] == second[variable]
        assert (var / filename).read_text().strip() == first[variable]
        assert stat.S_IMODE((var / filename).stat().st_mode) == 0o600
    settings = load_settings(first)
    assert settings.secret_key == first["SECRET_KEY"]
    assert settings.organiser_token == first["ORGANISER_TOKEN"]


def test_secrets_set_in_the_environment_are_used_and_not_stored(environ, tmp_path):
    environ.update(SECRET_KEY="s" * 32, ORGANISER_TOKEN="t" * 32)
    env, _ = prepare(environ, tmp_path / "var")
    assert (env["SECRET_KEY"], env["ORGANISER_TOKEN"]) == ("s" * 32, "t" * 32)
    assert not (tmp_path / "var" / "secret_key").exists()
    assert not (tmp_path / "var" / "organiser_token").exists()


def test_processes_are_web_worker_relay_and_embedded_redis(environ, tmp_path):
    _, processes = prepare(environ, tmp_path / "var")
    assert names(processes) == [
        "redis",
        "registration-web",
        "registration-worker",
        "registration-relay",
        "registration-holds",
        "notifier-web",
        "notifier-worker",
        "notifier-delivery",
        "notifier-relay",
        "notifier-sweeper",
        "feedback-web",
        "feedback-worker",
        "feedback-relay",
        "feedback-scheduler",
        "mail",
    ]
    commands = dict(processes)
    assert f"--port {EMBEDDED_REDIS_PORT}" in commands["redis"]
    web, worker = commands["registration-web"], commands["registration-worker"]
    assert "-m gunicorn -k gthread --threads 8 -w 2 -b 127.0.0.1:8001 " in web
    assert web.endswith("services.registration.wsgi:app")
    assert "-m celery -A services.registration.worker worker -Q registration " in worker
    assert commands["registration-relay"].endswith("--app services.registration.app relay")


def test_emails_go_out_from_a_worker_of_their_own(environ, tmp_path):
    _, processes = prepare(environ, tmp_path / "var")
    commands = dict(processes)
    events, deliveries = commands["notifier-worker"], commands["notifier-delivery"]
    assert "-A services.notifier.worker worker -Q notifier -n notifier@%h " in events
    assert "-A services.notifier.worker worker -Q notifier.delivery " in deliveries
    assert "-n notifier.delivery@%h " in deliveries


def test_no_embedded_redis_when_redis_url_is_set(environ, tmp_path):
    environ.update(REDIS_URL="redis://127.0.0.1:6379/3", REGISTRATION_PORT="9001")
    _, processes = prepare(environ, tmp_path / "var")
    assert "redis" not in names(processes)
    environ.update(SMTP_HOST="smtp.example.org")
    _, processes = prepare(environ, tmp_path / "var")
    assert "mail" not in names(processes)
    assert "-b 127.0.0.1:9001" in dict(processes)["registration-web"]


def test_a_bad_setting_stops_make_run_naming_the_variable():
    env = {**os.environ, "REGISTRATION_PORT": "abc"}
    result = subprocess.run(
        [sys.executable, "-m", "tools.run"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "REGISTRATION_PORT" in result.stderr
    assert "abc" in result.stderr


def test_databases_are_migrated_and_the_sample_loaded_once(environ, tmp_path):
    env, _ = prepare({**environ, "PATH": os.environ["PATH"]}, tmp_path / "var")
    set_up_databases(env)
    set_up_databases(env)  # a second `make run` finds everything in place
    engine = create_engine(environ["REGISTRATION_DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT slug FROM events")).scalars().all() == ["sdc-brussels"]
        assert conn.execute(text("SELECT count(*) FROM sessions")).scalar_one() >= 27
    engine.dispose()
