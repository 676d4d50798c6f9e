"""Bad input on the registration and organiser endpoints: 4xx with a JSON body, nothing written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.helpers import ORGANISER_TOKEN, bearer, event_body, now

ORGANISER = bearer(ORGANISER_TOKEN)


def registration_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Ana Participant",
        "email": "ana@example.org",
        "organisation": "City of Liège",
        "city": "Liège",
        "country": "BE",
        "role": "local_government",
        "language": "fr",
        "session_codes": ["S1"],
        "consent": True,
        **overrides,
    }


def registrations(registration_client: Any, slug: str) -> list[dict[str, Any]]:
    response = registration_client.get(f"/api/v1/events/{slug}/registrations", headers=ORGANISER)
    assert response.status_code == 200
    return list(response.get_json())


def seats(registration_client: Any, slug: str) -> dict[str, tuple[int, int]]:
    rows = registration_client.get(f"/api/v1/events/{slug}/sessions").get_json()
    return {row["code"]: (row["seats_taken"], row["waitlist_length"]) for row in rows}


def assert_error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The error body: {code, status, message, errors: {json: {field: [...]}}}."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    if field is not None:
        messages = body["errors"]["json"][field]
        # A list of messages, or for a list field {index: [messages]}.
        assert isinstance(messages, list | dict) and messages, body
        if isinstance(messages, list):
            assert all(isinstance(m, str) and m for m in messages), body
    return dict(body)


@pytest.fixture
def event(make_event, make_session) -> dict[str, Any]:
    event = make_event()
    make_session(event["slug"], code="S1", capacity=1)
    return event


def _without(key: str) -> dict[str, Any]:
    body = registration_body()
    del body[key]
    return body


BAD_REGISTRATIONS = {
    "missing name": (_without("name"), "name"),
    "blank name": (registration_body(name="   "), "name"),
    "name not a string": (registration_body(name=42), "name"),
    "bad email syntax": (registration_body(email="ana.example.org"), "email"),
    "email with two @": (registration_body(email="ana@@example.org"), "email"),
    "missing email": (_without("email"), "email"),
    "unknown country XX": (registration_body(country="XX"), "country"),
    "country as a name": (registration_body(country="belgium"), "country"),
    "missing country": (_without("country"), "country"),
    "role not in list": (registration_body(role="king"), "role"),
    "language de": (registration_body(language="de"), "language"),
    "consent false": (registration_body(consent=False), "consent"),
    "consent missing": (_without("consent"), "consent"),
    "consent null": (registration_body(consent=None), "consent"),
    "session_codes not a list": (registration_body(session_codes="S1"), "session_codes"),
    "session_codes of numbers": (registration_body(session_codes=[1]), "session_codes"),
    "unknown session code": (registration_body(session_codes=["S1", "NOPE"]), "session_codes"),
    "unknown field": (registration_body(shoe_size=42), "shoe_size"),
}


@pytest.mark.parametrize(
    ("body", "field"), list(BAD_REGISTRATIONS.values()), ids=list(BAD_REGISTRATIONS)
)
def test_each_wrong_registration_field_is_a_422_naming_it(registration_client, event, body, field):
    before = seats(registration_client, event["slug"])
    response = registration_client.post(f"/api/v1/events/{event['slug']}/registrations", json=body)
    assert_error(response, 422, field)
    assert registrations(registration_client, event["slug"]) == []
    assert seats(registration_client, event["slug"]) == before == {"S1": (0, 0)}


def test_every_wrong_field_is_reported_at_once(registration_client, event):
    body = registration_body(email="nope", country="XX", role="king", language="de", consent=False)
    response = registration_client.post(f"/api/v1/events/{event['slug']}/registrations", json=body)
    errors = assert_error(response, 422)["errors"]["json"]
    assert {"email", "country", "role", "language", "consent"} <= set(errors)


def test_a_lower_case_country_is_accepted_and_normalised(registration_client, event):
    body = registration_body(country="be", email="  Ana@Example.ORG ")
    response = registration_client.post(f"/api/v1/events/{event['slug']}/registrations", json=body)
    assert response.status_code == 201, response.get_json()
    (row,) = registrations(registration_client, event["slug"])
    assert (row["country"], row["email"]) == ("BE", "ana@example.org")


RAW_BODIES = {
    "truncated JSON": (b'{"name":', "application/json", 400),
    "not JSON at all": (b"name=Ana&email=a@b.org", "application/json", 400),
    "not UTF-8": (b'{"name": "\xff\xfe"}', "application/json", 400),
    "a JSON array": (b'[{"name": "Ana"}]', "application/json", 422),
    "a JSON string": (b'"Ana"', "application/json", 422),
    "JSON null": (b"null", "application/json", 422),
}


@pytest.mark.parametrize(
    ("data", "content_type", "status"), list(RAW_BODIES.values()), ids=list(RAW_BODIES)
)
def test_a_malformed_body_is_refused_with_json(
    registration_client, event, data, content_type, status
):
    response = registration_client.post(
        f"/api/v1/events/{event['slug']}/registrations", data=data, content_type=content_type
    )
    assert_error(response, status)
    assert registrations(registration_client, event["slug"]) == []
    assert seats(registration_client, event["slug"]) == {"S1": (0, 0)}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_declared_json_is_refused(registration_client, event, content_type):
    import json

    data = json.dumps(registration_body()).encode()
    response = registration_client.post(
        f"/api/v1/events/{event['slug']}/registrations", data=data, content_type=content_type
    )
    # Either "unsupported media type" or "required fields missing": never a registration.
    assert response.status_code in (415, 422), response.get_data(as_text=True)
    assert_error(response, response.status_code)
    assert registrations(registration_client, event["slug"]) == []


def test_an_oversized_body_is_a_413_with_json(registration_app, registration_client, event):
    limit = registration_app.extensions["settings"].max_request_bytes
    assert limit == 64 * 1024
    body = registration_body(organisation="x" * (limit + 1))
    response = registration_client.post(f"/api/v1/events/{event['slug']}/registrations", json=body)
    assert "64 KiB" in assert_error(response, 413)["message"]
    assert registrations(registration_client, event["slug"]) == []
    assert seats(registration_client, event["slug"]) == {"S1": (0, 0)}


def test_an_oversized_body_on_an_organiser_endpoint_is_a_413(registration_app, registration_client):
    body = {"slug": "big", "title": "x" * (70 * 1024)}
    response = registration_client.post("/api/v1/events", json=body, headers=ORGANISER)
    assert_error(response, 413)
    assert registration_client.get("/api/v1/events").get_json() == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/events/nope", None),
        ("get", "/api/v1/events/nope/sessions", None),
        ("get", "/api/v1/events/nope/sessions/S1", None),
        ("post", "/api/v1/events/nope/registrations", registration_body(session_codes=[])),
        ("post", "/api/v1/events/nope/registrations/resend-link", {"email": "a@example.org"}),
        ("post", "/api/v1/events/nope/sessions", None),
        ("get", "/api/v1/events/nope/registrations", None),
        ("get", "/api/v1/no-such-endpoint", None),
    ],
)
def test_an_unknown_thing_is_a_404_with_json(registration_client, method, path, body):
    if body is None and method == "post":
        body = {
            "code": "S1",
            "title": "T",
            "kind": "panel",
            "theme": "Cities",
            "starts_at": (now() + timedelta(days=3)).isoformat(),
            "ends_at": (now() + timedelta(days=3, hours=1)).isoformat(),
            "capacity": 5,
        }
    response = getattr(registration_client, method)(path, json=body, headers=ORGANISER)
    assert_error(response, 404)


def test_an_unknown_session_of_a_known_event_is_a_404(registration_client, event):
    assert_error(registration_client.get(f"/api/v1/events/{event['slug']}/sessions/NOPE"), 404)
    response = registration_client.patch(
        f"/api/v1/events/{event['slug']}/sessions/NOPE", json={"capacity": 3}, headers=ORGANISER
    )
    assert_error(response, 404)


def test_a_wrong_method_is_a_405_with_json(registration_client):
    assert_error(registration_client.put("/api/v1/events"), 405)


# --- event creation ----------------------------------------------------------------------------


BAD_EVENTS = {
    "bad slug": (event_body(slug="Bad Slug!"), "slug"),
    "slug with a slash": (event_body(slug="a/b"), "slug"),
    "unknown timezone": (event_body(timezone="Mars/Olympus"), "timezone"),
    "timezone that is a directory": (event_body(timezone="Europe"), "timezone"),
    "timezone with a path": (event_body(timezone="../../etc/passwd"), "timezone"),
    "ends_on before starts_on": (
        event_body(starts_on="2030-05-10", ends_on="2030-05-09"),
        "ends_on",
    ),
    "not a date": (event_body(starts_on="10/05/2030"), "starts_on"),
    "closes before opens": (
        event_body(
            registration_opens_at="2030-01-10T09:00:00+01:00",
            registration_closes_at="2030-01-09T09:00:00+01:00",
        ),
        "registration_closes_at",
    ),
    "naive datetime": (
        event_body(registration_opens_at="2030-01-10T09:00:00"),
        "registration_opens_at",
    ),
    "unknown language": (event_body(languages=["fr", "de"]), "languages"),
    "no language": (event_body(languages=[]), "languages"),
    "missing title": ({k: v for k, v in event_body().items() if k != "title"}, "title"),
    "unknown field": (event_body(colour="blue"), "colour"),
}


@pytest.mark.parametrize(("body", "field"), list(BAD_EVENTS.values()), ids=list(BAD_EVENTS))
def test_a_bad_event_is_a_422_naming_the_field(registration_client, body, field):
    response = registration_client.post("/api/v1/events", json=body, headers=ORGANISER)
    assert_error(response, 422, field)
    assert registration_client.get("/api/v1/events").get_json() == []


def test_a_duplicate_event_slug_is_a_409(registration_client):
    assert (
        registration_client.post("/api/v1/events", json=event_body(), headers=ORGANISER).status_code
        == 201
    )
    again = registration_client.post(
        "/api/v1/events", json=event_body(title="Other"), headers=ORGANISER
    )
    assert_error(again, 409, "slug")
    (event,) = registration_client.get("/api/v1/events").get_json()
    assert event["title"] == "Security, Democracy & Cities"


def test_feedback_closes_at_defaults_to_two_weeks_after_the_end(registration_client):
    response = registration_client.post(
        "/api/v1/events", json=event_body(ends_on="2030-05-12"), headers=ORGANISER
    )
    assert response.status_code == 201, response.get_json()
    closes = response.get_json()["feedback_closes_at"]
    assert closes[:10] in ("2030-05-26", "2030-05-27")


# --- session creation and edits --------------------------------------------------------------


def session_body(**overrides: Any) -> dict[str, Any]:
    start = now() + timedelta(days=30)
    return {
        "code": "P1",
        "title": "Panel",
        "kind": "panel",
        "theme": "Prevention",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "room": "Room B",
        "capacity": 5,
        "speakers": ["A. Speaker"],
        "language": "en",
        **overrides,
    }


BAD_SESSIONS = {
    "bad kind": (session_body(kind="workshop"), "kind"),
    "ends before starts": (
        session_body(starts_at="2030-05-10T10:00:00+02:00", ends_at="2030-05-10T09:00:00+02:00"),
        "ends_at",
    ),
    "ends when it starts": (
        session_body(starts_at="2030-05-10T10:00:00+02:00", ends_at="2030-05-10T10:00:00+02:00"),
        "ends_at",
    ),
    "negative capacity": (session_body(capacity=-1), "capacity"),
    "capacity not a number": (session_body(capacity="ten"), "capacity"),
    "bad code": (session_body(code="P 1!"), "code"),
    "speakers not a list": (session_body(speakers="A. Speaker"), "speakers"),
    "language de": (session_body(language="de"), "language"),
    "unknown field": (session_body(seats=3), "seats"),
}


@pytest.mark.parametrize(("body", "field"), list(BAD_SESSIONS.values()), ids=list(BAD_SESSIONS))
def test_a_bad_session_is_a_422_naming_the_field(registration_client, event, body, field):
    response = registration_client.post(
        f"/api/v1/events/{event['slug']}/sessions", json=body, headers=ORGANISER
    )
    assert_error(response, 422, field)
    assert set(seats(registration_client, event["slug"])) == {"S1"}


def test_a_duplicate_session_code_is_a_409(registration_client, event):
    response = registration_client.post(
        f"/api/v1/events/{event['slug']}/sessions", json=session_body(code="S1"), headers=ORGANISER
    )
    assert_error(response, 409, "code")
    assert set(seats(registration_client, event["slug"])) == {"S1"}


def test_unlimited_capacity_is_null(registration_client, event):
    response = registration_client.post(
        f"/api/v1/events/{event['slug']}/sessions",
        json=session_body(capacity=None),
        headers=ORGANISER,
    )
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["capacity"], response.get_json()["seats_left"]) == (None, None)


BAD_PATCHES = {
    "bad kind": ({"kind": "workshop"}, "kind"),
    "negative capacity": ({"capacity": -3}, "capacity"),
    "ends before the stored start": (
        {"ends_at": (now() - timedelta(days=1)).isoformat()},
        "ends_at",
    ),
    "unknown field": ({"seats_taken": 0}, "seats_taken"),
    "code is not editable": ({"code": "S9"}, "code"),
}


@pytest.mark.parametrize(("body", "field"), list(BAD_PATCHES.values()), ids=list(BAD_PATCHES))
def test_a_bad_session_edit_is_a_422_naming_the_field(registration_client, event, body, field):
    before = registration_client.get(f"/api/v1/events/{event['slug']}/sessions/S1").get_json()
    response = registration_client.patch(
        f"/api/v1/events/{event['slug']}/sessions/S1", json=body, headers=ORGANISER
    )
    assert_error(response, 422, field)
    assert (
        registration_client.get(f"/api/v1/events/{event['slug']}/sessions/S1").get_json() == before
    )


def test_lowering_capacity_below_seats_taken_is_a_409(
    registration_client, event, make_session, register
):
    slug = event["slug"]
    make_session(slug, code="BIG", capacity=5)
    for _ in range(3):
        assert register(slug, ["BIG"]).status_code == 201
    response = registration_client.patch(
        f"/api/v1/events/{slug}/sessions/BIG", json={"capacity": 2}, headers=ORGANISER
    )
    assert_error(response, 409, "capacity")
    row = registration_client.get(f"/api/v1/events/{slug}/sessions/BIG").get_json()
    assert (row["capacity"], row["seats_taken"], row["seats_left"]) == (5, 3, 2)
    # Down to exactly the seats taken is fine.
    response = registration_client.patch(
        f"/api/v1/events/{slug}/sessions/BIG", json={"capacity": 3}, headers=ORGANISER
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["seats_left"] == 0


def test_raising_capacity_promotes_from_the_waiting_list(registration_client, event, register):
    slug = event["slug"]
    tokens = [register(slug, ["S1"]).get_json()["manage_token"] for _ in range(4)]
    assert seats(registration_client, slug) == {"S1": (1, 3)}
    response = registration_client.patch(
        f"/api/v1/events/{slug}/sessions/S1", json={"capacity": 3}, headers=ORGANISER
    )
    assert response.status_code == 200, response.get_json()
    row = response.get_json()
    assert (row["capacity"], row["seats_taken"], row["seats_left"], row["waitlist_length"]) == (
        3,
        3,
        0,
        1,
    )
    mine = [
        registration_client.get("/api/v1/registrations/me", headers=bearer(t)).get_json()[
            "sessions"
        ]
        for t in tokens
    ]
    assert (
        mine[1]
        == mine[2]
        == [
            {
                "code": "S1",
                "status": "confirmed",
                "waitlist_position": None,
                "hold_expires_at": None,
            }
        ]
    )
    assert mine[3] == [
        {"code": "S1", "status": "waitlisted", "waitlist_position": 1, "hold_expires_at": None}
    ]
    # Unlimited capacity takes everyone left.
    response = registration_client.patch(
        f"/api/v1/events/{slug}/sessions/S1", json={"capacity": None}, headers=ORGANISER
    )
    assert response.status_code == 200
    assert (response.get_json()["seats_taken"], response.get_json()["waitlist_length"]) == (4, 0)


# --- the registration window, started and overlapping sessions ------------------------------


def test_registering_before_the_window_opens_is_a_409(
    registration_client, make_event, make_session, register
):
    event = make_event(
        registration_opens_at=(now() + timedelta(days=2)).isoformat(),
        registration_closes_at=(now() + timedelta(days=20)).isoformat(),
    )
    make_session(event["slug"], code="S1")
    body = assert_error(register(event["slug"], ["S1"]), 409)
    assert "opens" in body["message"].lower()
    assert registrations(registration_client, event["slug"]) == []
    assert seats(registration_client, event["slug"]) == {"S1": (0, 0)}


def test_registering_after_the_window_closes_is_a_409(
    registration_client, make_event, make_session, register
):
    event = make_event(
        registration_opens_at=(now() - timedelta(days=20)).isoformat(),
        registration_closes_at=(now() - timedelta(minutes=1)).isoformat(),
    )
    make_session(event["slug"], code="S1")
    body = assert_error(register(event["slug"], ["S1"]), 409)
    assert "closed" in body["message"].lower()
    assert registrations(registration_client, event["slug"]) == []
    assert seats(registration_client, event["slug"]) == {"S1": (0, 0)}


def test_registering_for_a_session_that_has_started_is_a_409(
    registration_client, make_event, make_session, register
):
    event = make_event()
    started = now() - timedelta(minutes=10)
    make_session(
        event["slug"],
        code="LIVE",
        starts_at=started.isoformat(),
        ends_at=(started + timedelta(hours=1)).isoformat(),
    )
    make_session(event["slug"], code="LATER")
    body = assert_error(register(event["slug"], ["LATER", "LIVE"]), 409, "session_codes")
    assert "LIVE" in body["message"] and "started" in body["message"]
    assert registrations(registration_client, event["slug"]) == []
    assert seats(registration_client, event["slug"]) == {"LIVE": (0, 0), "LATER": (0, 0)}


def test_two_overlapping_sessions_in_one_registration_is_a_422(
    registration_client, make_event, make_session, register
):
    event = make_event()
    start = now() + timedelta(days=30)
    make_session(
        event["slug"],
        code="A",
        starts_at=start.isoformat(),
        ends_at=(start + timedelta(hours=2)).isoformat(),
    )
    make_session(
        event["slug"],
        code="B",
        starts_at=(start + timedelta(hours=1)).isoformat(),
        ends_at=(start + timedelta(hours=3)).isoformat(),
    )
    make_session(
        event["slug"],
        code="C",
        starts_at=(start + timedelta(hours=2)).isoformat(),
        ends_at=(start + timedelta(hours=3)).isoformat(),
    )
    body = assert_error(register(event["slug"], ["A", "B"]), 422, "session_codes")
    assert "A" in body["message"] and "B" in body["message"]
    assert registrations(registration_client, event["slug"]) == []
    assert seats(registration_client, event["slug"]) == {"A": (0, 0), "B": (0, 0), "C": (0, 0)}
    # Back to back is not an overlap.
    assert register(event["slug"], ["A", "C"]).status_code == 201


def test_the_same_code_twice_counts_once(registration_client, event, register):
    response = register(event["slug"], ["S1", "S1"])
    assert response.status_code == 201, response.get_json()
    assert len(response.get_json()["sessions"]) == 1
    assert seats(registration_client, event["slug"]) == {"S1": (1, 0)}


def test_adding_a_session_that_overlaps_a_held_one_is_a_409(
    registration_client, make_event, make_session, register
):
    event = make_event()
    start = now() + timedelta(days=30)
    make_session(
        event["slug"],
        code="A",
        starts_at=start.isoformat(),
        ends_at=(start + timedelta(hours=2)).isoformat(),
    )
    make_session(
        event["slug"],
        code="B",
        starts_at=(start + timedelta(hours=1)).isoformat(),
        ends_at=(start + timedelta(hours=3)).isoformat(),
    )
    token = register(event["slug"], ["A"]).get_json()["manage_token"]
    response = registration_client.post(
        "/api/v1/registrations/me/sessions", json={"code": "B"}, headers=bearer(token)
    )
    assert_error(response, 409, "code")
    me = registration_client.get("/api/v1/registrations/me", headers=bearer(token)).get_json()
    assert [s["code"] for s in me["sessions"]] == ["A"]
    assert seats(registration_client, event["slug"]) == {"A": (1, 0), "B": (0, 0)}


BAD_ADDS = {
    "unknown code": ({"code": "NOPE"}, 422),
    "missing code": ({}, 422),
    "code not a string": ({"code": ["S1"]}, 422),
    "unknown field": ({"code": "S1", "extra": 1}, 422),
}


@pytest.mark.parametrize(("body", "status"), list(BAD_ADDS.values()), ids=list(BAD_ADDS))
def test_a_bad_session_to_add_is_a_422_naming_code(
    registration_client, event, make_session, register, body, status
):
    make_session(event["slug"], code="S2")
    token = register(event["slug"], ["S2"]).get_json()["manage_token"]
    response = registration_client.post(
        "/api/v1/registrations/me/sessions", json=body, headers=bearer(token)
    )
    errors = assert_error(response, status)["errors"]["json"]
    assert set(errors) & {"code", "extra"}, errors
    assert seats(registration_client, event["slug"])["S1"] == (0, 0)


def test_adding_a_session_held_already_is_a_409(registration_client, event, register):
    token = register(event["slug"], ["S1"]).get_json()["manage_token"]
    response = registration_client.post(
        "/api/v1/registrations/me/sessions", json={"code": "S1"}, headers=bearer(token)
    )
    assert_error(response, 409, "code")
    assert seats(registration_client, event["slug"]) == {"S1": (1, 0)}


def test_dropping_a_session_not_held_is_a_404(registration_client, event, register):
    token = register(event["slug"], []).get_json()["manage_token"]
    response = registration_client.delete(
        "/api/v1/registrations/me/sessions/S1", headers=bearer(token)
    )
    assert_error(response, 404)


def test_cancelling_twice_is_a_409(registration_client, event, register):
    token = register(event["slug"], ["S1"]).get_json()["manage_token"]
    assert (
        registration_client.delete("/api/v1/registrations/me", headers=bearer(token)).status_code
        == 200
    )
    assert seats(registration_client, event["slug"]) == {"S1": (0, 0)}
    assert_error(registration_client.delete("/api/v1/registrations/me", headers=bearer(token)), 409)


BAD_RESENDS = {
    "bad email": ({"email": "nope"}, "email"),
    "missing email": ({}, "email"),
    "unknown field": ({"email": "a@example.org", "x": 1}, "x"),
}


@pytest.mark.parametrize(("body", "field"), list(BAD_RESENDS.values()), ids=list(BAD_RESENDS))
def test_a_bad_resend_request_is_a_422(registration_client, event, body, field):
    response = registration_client.post(
        f"/api/v1/events/{event['slug']}/registrations/resend-link", json=body
    )
    assert_error(response, 422, field)


def test_listing_in_an_unknown_format_is_a_422(registration_client, event):
    response = registration_client.get(
        f"/api/v1/events/{event['slug']}/registrations?format=xml", headers=ORGANISER
    )
    body = assert_error(response, 422)
    assert "format" in body["errors"]["query"]
