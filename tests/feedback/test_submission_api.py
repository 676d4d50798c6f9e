"""Giving feedback through the API: who may rate what, when, and what counts as valid."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.feedback.helpers import ORGANISER, OTHER_THEME, feedback_url
from tests.helpers import bearer, now


@pytest.fixture
def rated(world):
    """An event, a session that is over, and a participant with a confirmed place in it."""
    event = world.event()
    session = world.session(event)
    person = world.person(event, confirmed=[session])
    return event, session, person


def post(feedback_client, event, session, person, **body):
    return feedback_client.post(
        feedback_url(event, session), json={"rating": 4, **body}, headers=person.auth
    )


def test_a_confirmed_participant_rates_a_session_once_then_replaces_it(feedback_client, rated):
    event, session, person = rated
    first = post(feedback_client, event, session, person, comment="  Clear and useful.  ")
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["comment"] == "Clear and useful."

    again = post(feedback_client, event, session, person, rating=2)
    assert again.status_code == 409
    assert "PUT" in again.get_json()["message"]

    replaced = feedback_client.put(
        feedback_url(event, session), json={"rating": 5}, headers=person.auth
    )
    assert replaced.status_code == 200
    mine = feedback_client.get(feedback_url(event, session), headers=person.auth).get_json()
    assert (mine["rating"], mine["comment"]) == (5, None)


def test_put_gives_feedback_when_there_is_none_yet(feedback_client, rated):
    event, session, person = rated
    response = feedback_client.put(
        feedback_url(event, session), json={"rating": 3}, headers=person.auth
    )
    assert response.status_code == 201
    assert (
        feedback_client.get(feedback_url(event, session), headers=person.auth).get_json()["rating"]
        == 3
    )


def test_my_feedback_is_404_before_i_rate(feedback_client, rated):
    event, session, person = rated
    assert feedback_client.get(feedback_url(event, session), headers=person.auth).status_code == 404


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token"), {"Authorization": "Basic abc"}])
def test_without_a_valid_participant_token_401(feedback_client, rated, headers):
    event, session, _person = rated
    response = feedback_client.post(
        feedback_url(event, session), json={"rating": 9}, headers=headers
    )
    assert response.status_code == 401  # before the body is even looked at
    assert "token" in response.get_json()["message"]


def test_an_organiser_token_is_not_a_participant_token(feedback_client, rated):
    event, session, _person = rated
    response = feedback_client.post(
        feedback_url(event, session), json={"rating": 4}, headers=ORGANISER
    )
    assert response.status_code == 401


def test_a_revoked_link_is_refused(feedback_client, world, rated):
    event, session, person = rated
    # The registration service bumps token_version to revoke old links.
    world.seat("registration.seat_confirmed", event, person, session, "confirmed")
    person.info["token_version"] = 2
    world.seat("registration.seat_confirmed", event, person, session, "confirmed")
    response = post(feedback_client, event, session, person)
    assert response.status_code == 401
    assert response.get_json()["message"] == "This link is no longer valid."
    fresh = world.tokens.sign(person.registration_id, 2)
    assert (
        feedback_client.post(
            feedback_url(event, session), json={"rating": 4}, headers=bearer(fresh)
        ).status_code
        == 201
    )


def test_only_participants_confirmed_for_the_session_may_rate_it(feedback_client, world):
    event = world.event()
    session, other = world.session(event), world.session(event)
    elsewhere = world.person(event, confirmed=[other])
    waiting = world.person(event, waitlisted=[session])
    for person in (elsewhere, waiting):
        response = post(feedback_client, event, session, person)
        assert response.status_code == 403
        assert response.get_json()["message"] == (
            "Only participants with a confirmed place in this session can rate it."
        )


def test_a_participant_of_another_event_may_not_rate(feedback_client, world, rated):
    event, session, _ = rated
    other_event = world.event()
    stranger = world.person(other_event, confirmed=[world.session(other_event)])
    response = post(feedback_client, event, session, stranger)
    assert response.status_code == 403
    assert "another event" in response.get_json()["message"]


def test_released_and_cancelled_participants_may_not_rate(feedback_client, world):
    event = world.event()
    session = world.session(event)
    released = world.person(event, confirmed=[session])
    world.seat("registration.seat_released", event, released, session, "confirmed")
    cancelled = world.person(event, confirmed=[session])
    world.deliver(
        "registration.cancelled",
        {"event": event, "participant": cancelled.info, "released": [session["code"]]},
    )
    for person in (released, cancelled):
        assert post(feedback_client, event, session, person).status_code == 403


def test_a_promoted_participant_may_rate(feedback_client, world):
    event = world.event()
    session = world.session(event)
    person = world.person(event, waitlisted=[session])
    assert post(feedback_client, event, session, person).status_code == 403
    world.seat("registration.seat_promoted", event, person, session, "confirmed")
    assert post(feedback_client, event, session, person).status_code == 201


def test_feedback_opens_when_the_session_starts(feedback_client, world):
    event = world.event()
    later = world.session(event, starts_at=now() + timedelta(hours=1))
    person = world.person(event, confirmed=[later])
    response = post(feedback_client, event, later, person)
    assert response.status_code == 409
    assert response.get_json()["message"].startswith("Feedback opens when the session starts")


def test_feedback_closes_with_the_event_window(feedback_client, world):
    event = world.event(feedback_closes_at=now() - timedelta(minutes=1))
    session = world.session(event, starts_at=now() - timedelta(days=1))
    person = world.person(event, confirmed=[session])
    for method in (feedback_client.post, feedback_client.put):
        response = method(feedback_url(event, session), json={"rating": 4}, headers=person.auth)
        assert response.status_code == 409
        assert response.get_json()["message"].startswith("The feedback window closed at")


def test_unknown_event_or_session_is_404(feedback_client, rated):
    event, session, person = rated
    assert (
        feedback_client.post(
            feedback_url({"slug": "nope"}, session), json={"rating": 4}, headers=person.auth
        ).status_code
        == 404
    )
    response = feedback_client.post(
        feedback_url(event, {"code": "ZZ"}), json={"rating": 4}, headers=person.auth
    )
    assert response.status_code == 404
    assert "ZZ" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "4"}, "rating"),
        ({"rating": 4.5}, "rating"),
        ({"rating": True}, "rating"),
        ({}, "rating"),
        ({"rating": 4, "comment": "x" * 2001}, "comment"),
        ({"rating": 4, "endorsements": {"1": 3}}, "endorsements"),
        ({"rating": 4, "endorsements": {"1": -3}}, "endorsements"),
        ({"rating": 4, "endorsements": {"1": "2"}}, "endorsements"),
        ({"rating": 4, "endorsements": []}, "endorsements"),
        ({"rating": 4, "who": "me"}, "who"),
    ],
)
def test_bad_input_is_422_naming_the_field(feedback_client, rated, body, field):
    event, session, person = rated
    response = feedback_client.post(feedback_url(event, session), json=body, headers=person.auth)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert field in response.get_json()["message"]


def test_a_comment_of_exactly_2000_characters_is_accepted(feedback_client, rated):
    event, session, person = rated
    assert post(feedback_client, event, session, person, comment="é" * 2000).status_code == 201


def recommendation(feedback_client, event, theme, text="Fund mediation teams in public transport."):
    response = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": theme, "text": text},
        headers=ORGANISER,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_endorsements_of_the_sessions_theme_are_recorded(feedback_client, world, rated):
    event, session, person = rated
    first, second = (
        recommendation(feedback_client, event, session["theme"]),
        recommendation(feedback_client, event, session["theme"]),
    )
    response = post(
        feedback_client, event, session, person, endorsements={str(first): 2, str(second): -1}
    )
    assert response.status_code == 201
    mine = feedback_client.get(feedback_url(event, session), headers=person.auth).get_json()
    assert mine["endorsements"] == {str(first): 2, str(second): -1}

    # PUT replaces: an endorsement left out is withdrawn.
    feedback_client.put(
        feedback_url(event, session),
        json={"rating": 4, "endorsements": {str(first): 1}},
        headers=person.auth,
    )
    mine = feedback_client.get(feedback_url(event, session), headers=person.auth).get_json()
    assert mine["endorsements"] == {str(first): 1}


def test_the_latest_opinion_of_a_text_wins_across_the_themes_sessions(feedback_client, world):
    event = world.event()
    one = world.session(event)
    two = world.session(event, theme=one["theme"])
    person = world.person(event, confirmed=[one, two])
    text_id, other_id = (recommendation(feedback_client, event, one["theme"]) for _ in range(2))
    given = {str(text_id): 2, str(other_id): 1}
    assert post(feedback_client, event, one, person, endorsements=given).status_code == 201
    assert (
        post(feedback_client, event, two, person, endorsements={str(text_id): -1}).status_code
        == 201
    )
    first = feedback_client.get(feedback_url(event, one), headers=person.auth).get_json()
    second = feedback_client.get(feedback_url(event, two), headers=person.auth).get_json()
    assert first["endorsements"] == {str(other_id): 1}
    assert second["endorsements"] == {str(text_id): -1}
    listed = feedback_client.get(
        f"/api/v1/events/{event['slug']}/recommendations", headers=ORGANISER
    )
    support = {r["id"]: (r["answers"], r["mean"]) for r in listed.get_json()}
    assert support[text_id] == (1, -1) and support[other_id] == (1, 1)


def test_unknown_or_other_theme_recommendations_are_422(feedback_client, world, rated):
    event, session, person = rated
    world.session(event, theme=OTHER_THEME)
    other = recommendation(feedback_client, event, OTHER_THEME)
    response = post(feedback_client, event, session, person, endorsements={str(other): 1})
    assert response.status_code == 422
    assert "endorsements" in response.get_json()["errors"]["json"]
    assert "another theme" in response.get_json()["message"]
    for key in ("999999", "abc"):
        response = post(feedback_client, event, session, person, endorsements={key: 1})
        assert response.status_code == 422
        assert "Unknown recommendation" in response.get_json()["message"]
    # Nothing was stored by the refused attempts.
    assert feedback_client.get(feedback_url(event, session), headers=person.auth).status_code == 404


def test_all_my_feedback_for_my_data_export(feedback_client, world):
    event = world.event()
    one, two = world.session(event), world.session(event)
    person = world.person(event, confirmed=[one, two])
    post(feedback_client, event, one, person, rating=5, comment="Great")
    post(feedback_client, event, two, person, rating=1)
    mine = feedback_client.get("/api/v1/feedback/me", headers=person.auth).get_json()
    assert [(m["session"], m["rating"], m["comment"]) for m in mine] == [
        (one["code"], 5, "Great"),
        (two["code"], 1, None),
    ]


def test_two_identical_posts_at_once_store_one_feedback(feedback_app, world, rated):
    import threading

    event, session, person = rated
    statuses = []
    barrier = threading.Barrier(2)

    def send() -> None:
        client = feedback_app.test_client()
        barrier.wait()
        statuses.append(post(client, event, session, person).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409]


def test_a_submission_is_a_handful_of_statements(feedback_client, feedback_app, world):
    """The POST path stays lean: it is what the submissions-per-second benchmark measures."""
    from sqlalchemy import event as sa_event

    from services.feedback.extensions import db

    event = world.event()
    one, two = world.session(event), world.session(event)
    person = world.person(event, confirmed=[one, two])
    text_id = recommendation(feedback_client, event, one["theme"])
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement.split()[0].upper())

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert post(feedback_client, event, one, person).status_code == 201
        plain, statements[:] = list(statements), []
        assert (
            post(feedback_client, event, two, person, endorsements={str(text_id): 1}).status_code
            == 201
        )
        endorsing = list(statements)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    if db.engine.dialect.name == "postgresql":
        # the rules, the feedback, its endorsements, the count and the report's mark: one
        assert plain == endorsing == ["WITH"], (plain, endorsing)
    else:
        # one statement each (SQLite is in-process: a statement is no round trip)
        assert [s for s in plain if s != "BEGIN"] == ["SELECT", "INSERT", "UPDATE", "UPDATE"]


def test_each_refusal_names_its_rule_and_writes_nothing(feedback_client, world):
    """On PostgreSQL the one statement refuses silently; the reason must still be precise."""
    event = world.event()
    session = world.session(event)
    other = world.session(event, theme=OTHER_THEME)
    person = world.person(event, confirmed=[session])
    stranger = world.person(event, confirmed=[])
    elsewhere = recommendation(feedback_client, event, OTHER_THEME)
    assert post(feedback_client, event, other, person).status_code == 403
    assert post(feedback_client, event, session, stranger).status_code == 403
    response = post(feedback_client, event, session, person, endorsements={str(elsewhere): 1})
    assert response.status_code == 422 and "another theme" in response.get_json()["message"]
    assert feedback_client.get("/api/v1/feedback/me", headers=person.auth).get_json() == []
    assert post(feedback_client, event, session, person).status_code == 201


@pytest.mark.parametrize("key", ["99999999999999999999", "٣", "-1", "1.0", ""])
def test_odd_recommendation_keys_are_422_not_500(feedback_client, rated, key):
    event, session, person = rated
    response = post(feedback_client, event, session, person, endorsements={key: 1})
    assert response.status_code == 422
    assert "endorsements" in response.get_json()["errors"]["json"]


def test_a_nul_character_in_a_comment_is_refused(feedback_client, rated):
    event, session, person = rated
    response = post(feedback_client, event, session, person, comment="a\x00b")
    assert response.status_code == 422
    assert "comment" in response.get_json()["errors"]["json"]


def test_two_puts_at_once_leave_one_feedback(feedback_app, world, rated):
    import threading

    event, session, person = rated
    statuses = []
    barrier = threading.Barrier(2)

    def send(rating: int) -> None:
        client = feedback_app.test_client()
        barrier.wait()
        response = client.put(
            feedback_url(event, session), json={"rating": rating}, headers=person.auth
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(r,)) for r in (2, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) in ([200, 201], [201, 201])  # never a 409 or a 500 for a PUT
    mine = feedback_app.test_client().get(feedback_url(event, session), headers=person.auth)
    assert mine.get_json()["rating"] in (2, 5)
