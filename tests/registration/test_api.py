"""The registration API: programme, registration, seats, participant and organiser calls."""

from __future__ import annotations

from tests.helpers import bearer


def test_programme_lists_seats_and_waitlist(
    registration_client, make_event, make_session, register
):
    event = make_event()
    make_session(event["slug"], code="FV1", capacity=1, kind="field_visit")
    register(event["slug"], ["FV1"])
    register(event["slug"], ["FV1"])
    rows = registration_client.get(f"/api/v1/events/{event['slug']}/sessions").get_json()
    assert rows[0]["code"] == "FV1"
    assert (rows[0]["seats_taken"], rows[0]["seats_left"], rows[0]["waitlist_length"]) == (1, 0, 1)


def test_register_confirms_then_waitlists_in_order(make_event, make_session, register):
    event = make_event()
    make_session(event["slug"], code="FV1", capacity=1)
    first = register(event["slug"], ["FV1"])
    second = register(event["slug"], ["FV1"])
    third = register(event["slug"], ["FV1"])
    assert first.status_code == 201
    assert first.get_json()["sessions"] == [
        {"code": "FV1", "status": "confirmed", "waitlist_position": None, "hold_expires_at": None}
    ]
    assert second.get_json()["sessions"][0] == {
        "code": "FV1",
        "status": "waitlisted",
        "waitlist_position": 1,
        "hold_expires_at": None,
    }
    assert third.get_json()["sessions"][0]["waitlist_position"] == 2
    assert first.get_json()["manage_token"]


def test_same_email_twice_is_a_conflict(registration_client, make_event, register):
    event = make_event()
    assert register(event["slug"], email="dup@example.org").status_code == 201
    again = register(event["slug"], email="DUP@example.org")
    assert again.status_code == 409
    rows = registration_client.get(
        f"/api/v1/events/{event['slug']}/registrations",
        headers=bearer("test-organiser-token-0123456789"),
    ).get_json()
    assert len(rows) == 1


def test_dropping_a_seat_promotes_the_head_of_the_waitlist(
    registration_client, make_event, make_session, register
):
    event = make_event()
    make_session(event["slug"], code="FV1", capacity=1)
    first = register(event["slug"], ["FV1"]).get_json()
    second = register(event["slug"], ["FV1"]).get_json()
    response = registration_client.delete(
        "/api/v1/registrations/me/sessions/FV1", headers=bearer(first["manage_token"])
    )
    assert response.status_code == 204
    me = registration_client.get(
        "/api/v1/registrations/me", headers=bearer(second["manage_token"])
    ).get_json()
    assert me["sessions"] == [
        {"code": "FV1", "status": "confirmed", "waitlist_position": None, "hold_expires_at": None}
    ]
