"""Input that used to make a 500 in the notifier (NUL and control characters in filters and
paths, numbers out of range), through the API and the pages, on SQLite and PostgreSQL: a 4xx
naming the field, or on the pages a filter that is ignored; nothing is changed."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from services.notifier.extensions import db
from services.notifier.models import Message
from shared.contracts import TaskNames
from tests import organisers
from tests.notifier.conftest import Messages

BAD_ADDRESSES = {
    "NUL": "ana%00@example.org",
    "escape character": "ana%1B@example.org",
    "line break": "ana@example.org%0D%0ABcc:x@example.org",
    "undecodable bytes": "ana%ED%A0%80@example",
    "accented local part": "j%C3%B6s%C3%A9@example.org",
    "very long": "a" * 300 + "@example.org",
    "not an address": "ana",
}
NUMBERS = {
    "page 10**30": "page=" + str(10**30),
    "page 1e400": "page=1e400",
    "page NaN": "page=NaN",
    "page 0": "page=0",
    "per_page -1": "per_page=-1",
    "per_page 1.5": "per_page=1.5",
    "page NUL": "page=%00",
}


def messages(app: Any) -> list[tuple[str, str, int]]:
    with app.app_context():
        rows = db.session.scalars(select(Message).order_by(Message.id)).all()
        return [(r.id, r.status, r.attempts) for r in rows]


@pytest.fixture
def logged(notifier_app, run_task, ana) -> list[tuple[str, str, int]]:
    """A delivery log with Ana's confirmation queued."""
    run_task(TaskNames.REGISTERED, **ana.registered())
    return messages(notifier_app)


@pytest.mark.parametrize("to", list(BAD_ADDRESSES.values()), ids=list(BAD_ADDRESSES))
def test_a_bad_recipient_filter_is_a_422(notifier_client, organiser, logged, to):
    response = notifier_client.get(f"/api/v1/messages?to={to}", headers=organiser)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["errors"]["query"]["to"]


@pytest.mark.parametrize("query", list(NUMBERS.values()), ids=list(NUMBERS))
def test_a_page_out_of_range_is_a_422(notifier_client, organiser, logged, query):
    response = notifier_client.get(f"/api/v1/messages?{query}", headers=organiser)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert set(response.get_json()["errors"]["query"]) <= {"page", "per_page"}


def test_a_recipient_typed_with_a_unicode_domain_finds_its_ascii_form(
    notifier_client, organiser, run_task
):
    jose = Messages(email="jose@xn--exmple-cua.org")
    run_task(TaskNames.REGISTERED, **jose.registered())
    response = notifier_client.get("/api/v1/messages?to=Jose@Exämple.org", headers=organiser)
    assert response.status_code == 200, response.get_json()
    assert {row["to"] for row in response.get_json()} == {"jose@xn--exmple-cua.org"}


ODD_IDS = ("%00", "abc%00", "abc%ED%A0%80", "a\x01c")


@pytest.mark.parametrize("odd", ODD_IDS)
def test_an_odd_message_id_is_a_404(notifier_app, notifier_client, organiser, logged, odd):
    assert notifier_client.get(f"/api/v1/messages/{odd}", headers=organiser).status_code == 404
    resend = notifier_client.post(f"/api/v1/messages/{odd}/resend", headers=organiser)
    assert resend.status_code == 404
    assert resend.get_json()["code"] == 404
    sign_in(notifier_client)
    assert notifier_client.get(f"/messages/{odd}").status_code == 404
    assert notifier_client.post(f"/messages/{odd}/resend").status_code == 404
    assert messages(notifier_app) == logged


def sign_in(client: Any) -> None:
    organisers.sign_in(client, client.application)


@pytest.mark.parametrize(
    "query",
    [f"to={to}" for to in BAD_ADDRESSES.values()]
    + list(NUMBERS.values())
    + ["status=%00", "template=%00", "status=sent%0A", "template=%ED%A0%80"],
)
def test_bad_filters_on_the_delivery_log_page_are_ignored(notifier_client, logged, query):
    sign_in(notifier_client)
    response = notifier_client.get(f"/messages?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert logged[0][0] in response.get_data(as_text=True)  # the unfiltered log


@pytest.mark.parametrize("target", ["/messages%0D%0ALocation:%20//evil.test", "/messages%00"])
def test_an_odd_next_address_at_sign_in_is_not_a_500(notifier_client, target):
    response = notifier_client.get(f"/sign-in?next={target}")
    assert response.status_code == 302  # to the registration service's sign-in
    assert "\n" not in response.headers["Location"]
    assert "evil" not in unquote(response.headers["Location"])
    sign_in(notifier_client)
    response = notifier_client.get(f"/sign-in?next={target}")
    assert response.status_code == 302
    assert "\n" not in response.headers["Location"] and "evil" not in response.headers["Location"]
