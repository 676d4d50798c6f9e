"""Dead letters without a worker: what counts as transient, a broken message kept with its
reason and its subject, the organiser API and page, and erasure forgetting them."""

from __future__ import annotations

import smtplib
import sqlite3

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from services.registration.extensions import db
from services.registration.models import DeadLetter
from shared import deadletters
from shared.consumer import transient
from shared.contracts import TaskNames
from tests.helpers import ORGANISER_TOKEN, bearer


class LockNotAvailable(Exception):
    sqlstate = "55P03"


class UndefinedColumn(Exception):
    sqlstate = "42703"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OperationalError("x", {}, sqlite3.OperationalError("database is locked")), True),
        (OperationalError("x", {}, sqlite3.OperationalError("no such table: events")), False),
        (OperationalError("x", {}, LockNotAvailable()), True),
        (OperationalError("x", {}, UndefinedColumn()), False),
        (IntegrityError("x", {}, sqlite3.IntegrityError("UNIQUE")), False),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (smtplib.SMTPResponseException(451, b"try later"), True),
        (smtplib.SMTPResponseException(550, b"no such user"), False),
        (KeyError("x"), False),
    ],
)
def test_only_what_waiting_can_cure_is_transient(error, expected):
    assert transient(error) is expected


def test_a_broken_message_is_kept_with_its_reason_and_listed_for_organisers(
    registration_app, registration_client
):
    task = registration_app.extensions["tasks"][TaskNames.ERASURE_CONFIRMED]
    task(registration_id="r" * 32, service="feedback", surprise=True)  # no event id either

    listed = registration_client.get("/api/v1/dead-letters", headers=bearer(ORGANISER_TOKEN))
    assert listed.status_code == 200
    [row] = listed.get_json()
    assert row["task_name"] == TaskNames.ERASURE_CONFIRMED
    assert row["error"].startswith("contract:") and "surprise" in row["error"]
    assert row["subject"] == "r" * 32 and row["attempts"] == 1 and row["replayed_at"] is None
    other = registration_client.get(
        "/api/v1/dead-letters", query_string={"task": TaskNames.EXPORT_PART},
        headers=bearer(ORGANISER_TOKEN),
    )  # fmt: skip
    assert other.get_json() == []
    assert registration_client.get("/api/v1/dead-letters").status_code == 401
    page = registration_client.get("/organiser/dead-letters")
    assert page.status_code == 302 and "/organiser?next=" in page.headers["Location"]

    with registration_app.app_context():
        deadletters.forget(db.session, DeadLetter, "r" * 32)
        db.session.commit()
        assert db.session.scalars(select(DeadLetter)).all() == []


def test_the_dead_letter_endpoints_are_in_the_openapi_document(registration_client):
    paths = registration_client.get("/openapi.json").get_json()["paths"]
    assert "get" in paths["/api/v1/dead-letters"]
    assert "post" in paths["/api/v1/dead-letters/{dead_letter_id}/replay"]
