"""Input that used to make a 500 in the feedback service (odd Unicode, NUL and control
characters, numbers out of range, odd paths), through the API and the pages, on SQLite and
PostgreSQL: each is a 4xx naming the field, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.feedback.helpers import ORGANISER, THEME, feedback_url

BAD_COMMENTS = {
    "lone surrogate": "Très utile \ud800",
    "NUL": "Très\x00utile",
    "escape character": "Très utile\x1b[31m",
    "very long": "A" * 2001,
}
BAD_LINES = {**BAD_COMMENTS, "line break": "Prevention\nBcc: x@example.org"}


@pytest.fixture
def rated(world):
    """An event, a session that is over, and a participant with a confirmed place in it."""
    event = world.event()
    session = world.session(event)
    person = world.person(event, confirmed=[session])
    return event, session, person


def send_json(client: Any, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    """A body as JSON text, so lone surrogates travel escaped ("\\ud800") as a client sends
    them, and numbers such as 1e400 reach the parser."""
    data = body if isinstance(body, str) else json.dumps(body)
    return getattr(client, method)(
        path, data=data, content_type="application/json", headers=headers
    )


def assert_refused(response: Any, field: str | None = None, status: int = 422) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status and body["message"]
    if field:
        assert body["errors"]["json"][field], body


def nothing_rated(client: Any, event: dict[str, Any], session: dict[str, Any], person) -> None:
    assert client.get(feedback_url(event, session), headers=person.auth).status_code == 404
    assert client.get("/api/v1/feedback/me", headers=person.auth).get_json() == []


@pytest.mark.parametrize("method", ["post", "put"])
@pytest.mark.parametrize("comment", list(BAD_COMMENTS.values()), ids=list(BAD_COMMENTS))
def test_a_bad_comment_is_a_422(feedback_client, rated, method, comment):
    event, session, person = rated
    body = {"rating": 4, "comment": comment}
    path = feedback_url(event, session)
    assert_refused(send_json(feedback_client, method, path, body, person.auth), "comment")
    nothing_rated(feedback_client, event, session, person)


def test_a_comment_keeps_its_line_breaks_and_tabs(feedback_client, rated):
    event, session, person = rated
    comment = "Useful.\r\n\tMore of this, please."
    body = {"rating": 4, "comment": comment}
    path = feedback_url(event, session)
    assert send_json(feedback_client, "post", path, body, person.auth).status_code == 201
    stored = feedback_client.get(path, headers=person.auth).get_json()["comment"]
    assert stored == comment.strip()


@pytest.mark.parametrize("key", ["\ud800", "1\x00", "1\n", "1" * 5000])
def test_an_odd_recommendation_key_is_a_422(feedback_client, rated, key):
    event, session, person = rated
    body = {"rating": 4, "endorsements": {key: 1}}
    path = feedback_url(event, session)
    assert_refused(send_json(feedback_client, "put", path, body, person.auth), "endorsements")
    nothing_rated(feedback_client, event, session, person)


RATINGS = {
    "1e400 (infinity)": "1e400",
    "NaN": "NaN",
    "-Infinity": "-Infinity",
    "10**30": str(10**30),
    "a fraction": "4.5",
}


@pytest.mark.parametrize("raw", list(RATINGS.values()), ids=list(RATINGS))
def test_a_rating_or_endorsement_out_of_range_is_a_422(feedback_client, rated, raw):
    event, session, person = rated
    path = feedback_url(event, session)
    for body, field in (
        (f'{{"rating": {raw}}}', "rating"),
        (f'{{"rating": 4, "endorsements": {{"1": {raw}}}}}', "endorsements"),
    ):
        assert_refused(send_json(feedback_client, "put", path, body, person.auth), field)
    nothing_rated(feedback_client, event, session, person)


def recommendations(client: Any, event: dict[str, Any]) -> list[Any]:
    path = f"/api/v1/events/{event['slug']}/recommendations"
    return list(client.get(path, headers=ORGANISER).get_json())


@pytest.mark.parametrize(
    ("field", "value"),
    [pytest.param("theme", v, id=f"theme-{k}") for k, v in BAD_LINES.items()]
    + [pytest.param("text", v, id=f"text-{k}") for k, v in BAD_COMMENTS.items()],
)
def test_a_bad_recommendation_is_a_422(feedback_client, world, field, value):
    event = world.event()
    world.session(event)
    body = {"theme": THEME, "text": "Fund mediation teams.", field: value}
    path = f"/api/v1/events/{event['slug']}/recommendations"
    assert_refused(send_json(feedback_client, "post", path, body, ORGANISER), field)
    assert recommendations(feedback_client, event) == []


@pytest.mark.parametrize("query", ["format=%00", "lang=%00", "format=%ED%A0%80", "lang=\x1b"])
def test_odd_report_arguments_are_a_422(feedback_client, world, query):
    event = world.event()
    response = feedback_client.get(
        f"/api/v1/events/{event['slug']}/report?{query}", headers=ORGANISER
    )
    assert_refused(response)


ODD_PATHS = ("nope%00", "%00", "nope%ED%A0%80", "n\x01pe")


@pytest.mark.parametrize("odd", ODD_PATHS)
def test_an_odd_event_or_session_in_a_path_is_a_404(feedback_client, rated, odd):
    event, session, person = rated
    for path in (
        feedback_url({"slug": odd}, session),
        feedback_url(event, {"code": odd}),
    ):
        assert_refused(feedback_client.get(path, headers=person.auth), status=404)
        response = feedback_client.put(path, json={"rating": 4}, headers=person.auth)
        assert_refused(response, status=404)
    for path in (
        f"/api/v1/events/{odd}/summary",
        f"/api/v1/events/{event['slug']}/sessions/{odd}/summary",
        f"/api/v1/events/{odd}/recommendations",
    ):
        assert_refused(feedback_client.get(path, headers=ORGANISER), status=404)
    nothing_rated(feedback_client, event, session, person)


# --- the pages' forms ----------------------------------------------------------------------------


def sign_in(client: Any) -> None:
    from tests.organisers import sign_in as start_session

    start_session(client, client.application)


def post_form(client: Any, path: str, body: str) -> Any:
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("raw", ["%00", "%1B", "%ED%A0%80"])
def test_a_bad_character_in_the_rate_form_is_refused(feedback_client, rated, raw):
    event, session, person = rated
    path = f"/rate/{person.token}/sessions/{session['code']}"
    response = post_form(feedback_client, path, f"rating=4&comment=Useful{raw}")
    if raw == "%ED%A0%80":
        # undecodable bytes are kept as typed ("%ED%A0%80"): odd text, never a broken one
        assert response.status_code == 303, response.get_data(as_text=True)
        mine = feedback_client.get(feedback_url(event, session), headers=person.auth)
        assert mine.get_json()["comment"] == "Useful%ED%A0%80"
        return
    assert response.status_code == 422, response.get_data(as_text=True)
    nothing_rated(feedback_client, event, session, person)


@pytest.mark.parametrize("raw", ["%00", "%1B", "S1%00"])
def test_a_bad_character_in_a_rate_form_address_is_refused(feedback_client, rated, raw):
    event, session, person = rated
    path = f"/rate/{person.token}/sessions/{raw}"
    response = post_form(feedback_client, path, "rating=4")
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    nothing_rated(feedback_client, event, session, person)


@pytest.mark.parametrize(
    ("field", "raw"),
    [("theme", "%00"), ("theme", "%0A"), ("text", "%00"), ("text", "%1B"), ("language", "%00")],
)
def test_a_bad_character_in_the_recommendation_form_is_refused(feedback_client, world, field, raw):
    event = world.event()
    world.session(event)
    sign_in(feedback_client)
    values = {"theme": THEME.replace(" ", "+"), "text": "Fund+it", "language": "en"}
    values[field] += raw
    body = "&".join(f"{k}={v}" for k, v in values.items())
    response = post_form(
        feedback_client, f"/organiser/events/{event['slug']}/recommendations", body
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert recommendations(feedback_client, event) == []
