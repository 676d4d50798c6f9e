"""Input that used to make a 500 (odd Unicode, NUL and control characters, extreme dates, odd
addresses, numbers out of range), through the API and the pages, on SQLite and PostgreSQL:
each is a 4xx naming the field, and nothing is stored."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.helpers import ORGANISER_TOKEN, bearer, event_body, now
from tests.registration.helpers import form
from tests.registration.test_validation import (
    assert_error,
    registration_body,
    registrations,
    seats,
    session_body,
)

ORGANISER = bearer(ORGANISER_TOKEN)
# What no single-line text may hold; "very long" checks that the length limits come first.
BAD_TEXT = {
    "lone surrogate": "Ana \ud800",
    "NUL": "Ana\x00",
    "escape character": "Ana\x1b[31m",
    "line break": "Ana\r\nBcc: x@example.org",
    "very long": "A" * 20_000,
}
# A multi-line text keeps its line breaks and tabs, but nothing else of that kind.
BAD_MULTILINE = {k: v for k, v in BAD_TEXT.items() if k != "line break"}
YEARS_OFF = {"year 1": "0001-01-01", "year 9999": "9999-12-31"}
MOMENTS_OFF = {
    "year 1": "0001-01-01T00:00:00+01:00",  # in UTC: before year 1
    "year 9999": "9999-12-31T23:00:00-05:00",  # in UTC: after year 9999
    "year 1999": "1999-12-31T10:00:00+01:00",
}


def cases(values: dict[str, Any], *fields: str) -> list[Any]:
    return [pytest.param(f, v, id=f"{f}-{name}") for f in fields for name, v in values.items()]


def post_json(client: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    """POST a body as JSON text, so lone surrogates travel escaped ("\\ud800") as a client
    sends them, and numbers such as 1e400 reach the parser."""
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", headers=headers)


def events(client: Any) -> list[str]:
    return [e["slug"] for e in client.get("/api/v1/events").get_json()]


@pytest.fixture
def event(make_event, make_session) -> dict[str, Any]:
    event = make_event()
    make_session(event["slug"], code="S1", capacity=1)
    return event


# --- registration through the API ----------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), cases(BAD_TEXT, "name", "organisation", "city"))
def test_a_bad_text_in_a_registration_is_a_422(registration_client, event, field, value):
    slug = event["slug"]
    path = f"/api/v1/events/{slug}/registrations"
    response = post_json(registration_client, path, registration_body(**{field: value}))
    assert_error(response, 422, field)
    assert registrations(registration_client, slug) == []
    assert seats(registration_client, slug) == {"S1": (0, 0)}


@pytest.mark.parametrize("code", ["S1\x00", "S\ud8001", "S1\n"])
def test_a_bad_session_code_in_a_registration_is_a_422(registration_client, event, code):
    slug = event["slug"]
    body = registration_body(session_codes=[code])
    response = post_json(registration_client, f"/api/v1/events/{slug}/registrations", body)
    assert_error(response, 422, "session_codes")
    assert registrations(registration_client, slug) == []


BAD_EMAILS = {
    "lone surrogate": "ana\ud800@example.org",
    "NUL": "ana\x00@example.org",
    "line break": "ana@example.org\r\nBcc: x@example.org",
    "accented local part": "jösé@example.org",
    "quoted local part": '"ana b"@example.org',
    "IP literal": "ana@[127.0.0.1]",
    "no dot in the domain": "ana@localhost",
    "very long": "a" * 300 + "@example.org",
    "very long domain": "ana@" + "b" * 300 + ".org",
    "not IDNA": "ana@xn--ls8h.la",
}


@pytest.mark.parametrize("email", list(BAD_EMAILS.values()), ids=list(BAD_EMAILS))
def test_an_address_we_cannot_send_to_is_a_422(registration_client, event, email):
    slug = event["slug"]
    body = registration_body(email=email)
    response = post_json(registration_client, f"/api/v1/events/{slug}/registrations", body)
    assert_error(response, 422, "email")
    assert registrations(registration_client, slug) == []


def test_an_accented_local_part_is_refused_with_a_clear_reason(registration_client, event):
    body = registration_body(email="jösé@example.org")
    response = registration_client.post(f"/api/v1/events/{event['slug']}/registrations", json=body)
    (message,) = assert_error(response, 422, "email")["errors"]["json"]["email"]
    assert "only Latin letters before the @" in message


def test_an_international_domain_is_stored_in_its_ascii_form(registration_client, event):
    body = registration_body(email="José@Exämple.ORG".replace("é", "e"))
    response = registration_client.post(f"/api/v1/events/{event['slug']}/registrations", json=body)
    assert response.status_code == 201, response.get_json()
    (row,) = registrations(registration_client, event["slug"])
    assert row["email"] == "jose@xn--exmple-cua.org"
    # the same person typing the Unicode form again is the same address
    again = registration_client.post(
        f"/api/v1/events/{event['slug']}/registrations",
        json=registration_body(email="jose@exämple.org"),
    )
    assert_error(again, 409)


@pytest.mark.parametrize("email", list(BAD_EMAILS.values()), ids=list(BAD_EMAILS))
def test_resend_link_with_a_bad_address_is_a_422(registration_client, event, email):
    path = f"/api/v1/events/{event['slug']}/registrations/resend-link"
    assert_error(post_json(registration_client, path, {"email": email}), 422, "email")


@pytest.mark.parametrize(("field", "value"), cases(BAD_TEXT, "name", "organisation", "city"))
def test_a_bad_text_in_a_correction_is_a_422(registration_client, event, register, field, value):
    token = register(event["slug"]).get_json()["manage_token"]
    before = registration_client.get("/api/v1/registrations/me", headers=bearer(token)).get_json()
    response = registration_client.patch(
        "/api/v1/registrations/me",
        data=json.dumps({field: value}),
        content_type="application/json",
        headers=bearer(token),
    )
    assert_error(response, 422, field)
    after = registration_client.get("/api/v1/registrations/me", headers=bearer(token)).get_json()
    assert after == before


# --- the programme through the API ---------------------------------------------------------------

EVENT_TEXTS = ("title", "city", "timezone")


@pytest.mark.parametrize(("field", "value"), cases(BAD_TEXT, *EVENT_TEXTS))
def test_a_bad_text_in_an_event_is_a_422(registration_client, field, value):
    body = event_body(**{field: value})
    assert_error(post_json(registration_client, "/api/v1/events", body, ORGANISER), 422, field)
    assert events(registration_client) == []


@pytest.mark.parametrize(
    ("field", "value"), cases(BAD_TEXT, "title_translations", "city_translations")
)
def test_a_bad_translation_in_an_event_is_a_422(registration_client, field, value):
    body = event_body(**{field: {"fr": value}})
    assert_error(post_json(registration_client, "/api/v1/events", body, ORGANISER), 422, field)
    assert events(registration_client) == []


@pytest.mark.parametrize("slug", ["sdc-2026\n", "sdc\x00", "sdc\ud800"])
def test_a_bad_slug_is_a_422(registration_client, slug):
    body = event_body(slug=slug)
    assert_error(post_json(registration_client, "/api/v1/events", body, ORGANISER), 422, "slug")
    assert events(registration_client) == []


@pytest.mark.parametrize(("field", "value"), cases(YEARS_OFF, "starts_on", "ends_on"))
def test_an_event_day_near_year_1_or_9999_is_a_422(registration_client, field, value):
    body = event_body(starts_on=value, ends_on=value)
    response = post_json(registration_client, "/api/v1/events", body, ORGANISER)
    assert_error(response, 422, field)
    assert events(registration_client) == []


@pytest.mark.parametrize(
    ("field", "value"),
    cases(MOMENTS_OFF, "registration_opens_at", "registration_closes_at", "feedback_closes_at"),
)
def test_an_event_moment_near_year_1_or_9999_is_a_422(registration_client, field, value):
    body = event_body(**{field: value})
    if field == "registration_opens_at":
        body["registration_closes_at"] = "9999-12-31T23:59:59+00:00"
    response = post_json(registration_client, "/api/v1/events", body, ORGANISER)
    assert_error(response, 422, field)
    assert events(registration_client) == []


SESSION_TEXTS = ("title", "theme", "room")
SESSION_LONG_TEXTS = ("description",)
SESSION_TRANSLATIONS = (
    "title_translations",
    "theme_translations",
    "room_translations",
    "description_translations",
)


def session_cases() -> list[Any]:
    """Every text of a session with every bad value; a speaker's texts under `speakers`."""
    speakers = {
        "speaker name": lambda v: [v],
        "speaker object name": lambda v: [{"name": v}],
        "speaker organisation": lambda v: [{"name": "A. Speaker", "organisation": v}],
    }
    multiline_speakers = {"speaker bio": lambda v: [{"name": "A", "bio": {"en": v}}]}
    found = [
        pytest.param({field: value}, field, id=f"{field}-{name}")
        for field in SESSION_TEXTS
        for name, value in BAD_TEXT.items()
    ]
    found += [
        pytest.param({field: value}, field, id=f"{field}-{name}")
        for field in SESSION_LONG_TEXTS
        for name, value in BAD_MULTILINE.items()
    ]
    found += [
        pytest.param({field: {"nl": value}}, field, id=f"{field}-{name}")
        for field in SESSION_TRANSLATIONS
        for name, value in BAD_MULTILINE.items()
    ]
    for shapes, values in ((speakers, BAD_TEXT), (multiline_speakers, BAD_MULTILINE)):
        found += [
            pytest.param({"speakers": shape(value)}, "speakers", id=f"{what}-{name}")
            for what, shape in shapes.items()
            for name, value in values.items()
        ]
    return found


@pytest.mark.parametrize(("change", "field"), session_cases())
def test_a_bad_text_in_a_new_session_is_a_422(registration_client, event, change, field):
    path = f"/api/v1/events/{event['slug']}/sessions"
    response = post_json(registration_client, path, session_body(**change), ORGANISER)
    assert_error(response, 422, field)
    assert set(seats(registration_client, event["slug"])) == {"S1"}


@pytest.mark.parametrize(("change", "field"), session_cases())
def test_a_bad_text_in_a_session_edit_is_a_422(registration_client, event, change, field):
    path = f"/api/v1/events/{event['slug']}/sessions/S1"
    before = registration_client.get(path).get_json()
    response = registration_client.patch(
        path, data=json.dumps(change), content_type="application/json", headers=ORGANISER
    )
    assert_error(response, 422, field)
    assert registration_client.get(path).get_json() == before


@pytest.mark.parametrize(("field", "value"), cases(MOMENTS_OFF, "starts_at", "ends_at"))
def test_a_session_time_near_year_1_or_9999_is_a_422(registration_client, event, field, value):
    body = session_body(**{field: value})
    if field == "starts_at":
        body["ends_at"] = "9999-12-31T23:59:59+00:00"
    path = f"/api/v1/events/{event['slug']}/sessions"
    assert_error(post_json(registration_client, path, body, ORGANISER), 422, field)
    assert set(seats(registration_client, event["slug"])) == {"S1"}


@pytest.mark.parametrize(("field", "value"), cases(MOMENTS_OFF, "starts_at", "ends_at"))
def test_a_session_edit_near_year_1_or_9999_is_a_422(registration_client, event, field, value):
    path = f"/api/v1/events/{event['slug']}/sessions/S1"
    before = registration_client.get(path).get_json()
    change = {field: value}
    if field == "starts_at":
        change["ends_at"] = "9999-12-31T23:59:59+00:00"
    response = registration_client.patch(path, json=change, headers=ORGANISER)
    assert_error(response, 422, field)
    assert registration_client.get(path).get_json() == before


CAPACITIES = {
    "1e400 (infinity)": "1e400",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "10**30": str(10**30),
    "negative": "-1",
    "a fraction": "2.5",
    "a boolean": "true",
}


@pytest.mark.parametrize("raw", list(CAPACITIES.values()), ids=list(CAPACITIES))
def test_a_capacity_out_of_range_is_a_422(registration_client, event, raw):
    slug = event["slug"]
    body = json.dumps(session_body(capacity=0)).replace('"capacity": 0', f'"capacity": {raw}')
    response = post_json(registration_client, f"/api/v1/events/{slug}/sessions", body, ORGANISER)
    assert_error(response, 422, "capacity")
    path = f"/api/v1/events/{slug}/sessions/S1"
    edit = registration_client.patch(
        path, data=f'{{"capacity": {raw}}}', content_type="application/json", headers=ORGANISER
    )
    assert_error(edit, 422, "capacity")
    assert seats(registration_client, slug) == {"S1": (0, 0)}
    assert registration_client.get(path).get_json()["capacity"] == 1


# --- addresses and query strings -----------------------------------------------------------------

ODD_PATHS = ("nope%00", "nope%ED%A0%80", "%00", "n\x01pe")


@pytest.mark.parametrize("slug", ODD_PATHS)
def test_an_odd_event_in_a_path_is_a_404(registration_client, slug):
    for path in (
        f"/api/v1/events/{slug}",
        f"/api/v1/events/{slug}/sessions",
        f"/api/v1/events/{slug}/sessions/S1",
    ):
        assert_error(registration_client.get(path), 404)
    for path in (f"/events/{slug}", f"/events/{slug}/register"):
        assert registration_client.get(path).status_code == 404
    body = registration_body(session_codes=[])
    response = registration_client.post(f"/api/v1/events/{slug}/registrations", json=body)
    assert_error(response, 404)


@pytest.mark.parametrize("code", ODD_PATHS)
def test_an_odd_session_in_a_path_is_a_404(registration_client, event, code):
    path = f"/api/v1/events/{event['slug']}/sessions/{code}"
    assert_error(registration_client.get(path), 404)
    assert_error(registration_client.patch(path, json={"capacity": 3}, headers=ORGANISER), 404)


def test_odd_programme_filters_are_ignored(registration_client, event):
    slug = event["slug"]
    for query in ("theme=%00&kind=%00", "theme=%ED%A0%80", "kind=" + "x" * 5000):
        assert registration_client.get(f"/events/{slug}?{query}").status_code == 200
    response = registration_client.get(
        f"/api/v1/events/{slug}/registrations?format=%00", headers=ORGANISER
    )
    assert_error(response, 422)


# --- the pages' forms ----------------------------------------------------------------------------

# What a form can carry: a browser sends UTF-8, so a lone surrogate arrives as its raw bytes
# (percent-encoded); NUL and control characters arrive as they are.
FORM_VALUES = {
    "lone surrogate bytes": "%ED%A0%80",
    "NUL": "%00",
    "escape character": "%1B",
    "line break": "%0D%0A",
}


def form_body(**raw: str) -> str:
    """A urlencoded registration form with some fields given raw (already percent-encoded)."""
    from urllib.parse import quote

    values = {k: v for k, v in form().items() if k not in raw and not isinstance(v, list)}
    encoded = [f"{k}={quote(str(v))}" for k, v in values.items()]
    return "&".join(encoded + [f"{k}={v}" for k, v in raw.items()])


def post_form(client: Any, path: str, body: str) -> Any:
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    ("field", "raw"), cases(FORM_VALUES, "name", "organisation", "city", "email")
)
def test_a_bad_character_in_the_registration_form_is_refused(
    registration_client, event, field, raw
):
    slug = event["slug"]
    value = f"Ana{raw}x" if field != "email" else f"ana{raw}@example.org"
    response = post_form(
        registration_client, f"/events/{slug}/register", form_body(**{field: value})
    )
    assert response.status_code < 500
    if raw == "%ED%A0%80":
        # undecodable bytes are kept as typed ("%ED%A0%80"): odd text, never a broken one
        stored = [row[field] for row in registrations(registration_client, slug)]
        assert stored == [value.lower() if field == "email" else value]
        return
    assert response.status_code == 422, response.get_data(as_text=True)
    assert registrations(registration_client, slug) == []


@pytest.mark.parametrize(("field", "raw"), cases(FORM_VALUES, "name", "organisation", "city"))
def test_a_bad_character_in_the_details_form_is_refused(
    registration_client, event, register, field, raw
):
    token = register(event["slug"]).get_json()["manage_token"]
    before = registration_client.get("/api/v1/registrations/me", headers=bearer(token)).get_json()
    fields = {k: before[k] for k in ("name", "organisation", "city", "country", "role", "language")}
    body = form_body(**{**fields, field: f"Ana{raw}x"})
    response = post_form(registration_client, f"/manage/{token}/details", body)
    assert response.status_code < 500
    if raw != "%ED%A0%80":
        assert response.status_code == 422, response.get_data(as_text=True)
        after = registration_client.get("/api/v1/registrations/me", headers=bearer(token))
        assert after.get_json() == before


@pytest.mark.parametrize("raw", list(FORM_VALUES.values()), ids=list(FORM_VALUES))
def test_a_bad_character_in_the_resend_link_form_is_refused(registration_client, event, raw):
    path = f"/events/{event['slug']}/resend-link"
    response = post_form(registration_client, path, f"email=ana{raw}@example.org")
    # undecodable bytes are kept as typed ("%ED..."), which makes an odd but valid address
    expected = 200 if raw == "%ED%A0%80" else 422
    assert response.status_code == expected, response.get_data(as_text=True)


@pytest.mark.parametrize("raw", ["S1%00", "S1%ED%A0%80", "%1B"])
def test_a_bad_session_code_in_the_forms_is_refused(registration_client, event, register, raw):
    slug = event["slug"]
    response = post_form(
        registration_client, f"/events/{slug}/register", form_body(session_codes=raw)
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert registrations(registration_client, slug) == []
    token = register(slug).get_json()["manage_token"]
    added = post_form(registration_client, f"/manage/{token}/sessions", f"code={raw}")
    assert added.status_code in (404, 422), added.get_data(as_text=True)
    assert seats(registration_client, slug) == {"S1": (0, 0)}


def test_an_event_far_ahead_and_behind_still_shows(registration_client, make_event):
    """The window's own edges are accepted, and their pages and default feedback window work."""
    body = event_body(
        slug="edges",
        starts_on="2100-12-30",
        ends_on="2100-12-31",
        registration_opens_at="2000-01-01T00:00:00+01:00",
        registration_closes_at=(now() + timedelta(days=3)).isoformat(),
    )
    response = registration_client.post("/api/v1/events", json=body, headers=ORGANISER)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["feedback_closes_at"].startswith("2101-01-1")
    assert registration_client.get("/events/edges").status_code == 200
