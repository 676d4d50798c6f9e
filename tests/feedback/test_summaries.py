"""Organiser summaries and recommendations, checked against an independent computation."""

from __future__ import annotations

import random
import statistics

import pytest

from tests.feedback.helpers import ORGANISER, OTHER_THEME, THEME, feedback_url


def summary_of(feedback_client, event, session):
    response = feedback_client.get(
        f"/api/v1/events/{event['slug']}/sessions/{session['code']}/summary", headers=ORGANISER
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def expected(ratings: list[int], attendees: int) -> dict:
    """What the summary must say, computed here with the standard library."""
    return {
        "responses": len(ratings),
        "attendees": attendees,
        "response_rate": len(ratings) / attendees if attendees else 0.0,
        "mean": statistics.mean(ratings) if ratings else None,
        "median": statistics.median(ratings) if ratings else None,
        "distribution": {str(r): ratings.count(r) for r in range(1, 6)},
    }


def check(summary: dict, ratings: list[int], attendees: int) -> None:
    want = expected(ratings, attendees)
    for key in ("responses", "attendees", "distribution"):
        assert summary[key] == want[key], key
    for key in ("response_rate", "mean", "median"):
        if want[key] is None:
            assert summary[key] is None
        else:
            assert summary[key] == pytest.approx(want[key], abs=1e-12), key


@pytest.fixture
def programme(feedback_client, world):
    """Three sessions over two themes, attendees who rated at random (fixed seed)."""
    rng = random.Random(20240320)
    event = world.event()
    sessions = [world.session(event), world.session(event), world.session(event, theme=OTHER_THEME)]
    ratings: dict[str, list[int]] = {s["code"]: [] for s in sessions}
    comments: dict[str, list[str]] = {s["code"]: [] for s in sessions}
    attendees = {s["code"]: 0 for s in sessions}
    for n in range(23):
        mine = [s for s in sessions if rng.random() < 0.7]
        person = world.person(event, confirmed=mine)
        for session in mine:
            attendees[session["code"]] += 1
            if rng.random() < 0.8:
                rating = rng.randint(1, 5)
                comment = f"Comment {n} on {session['code']}" if rng.random() < 0.5 else None
                response = feedback_client.post(
                    feedback_url(event, session),
                    json={"rating": rating, "comment": comment},
                    headers=person.auth,
                )
                assert response.status_code == 201
                ratings[session["code"]].append(rating)
                if comment:
                    comments[session["code"]].append(comment)
    return event, sessions, ratings, comments, attendees


def test_session_summary_matches_an_independent_computation(feedback_client, programme):
    event, sessions, ratings, comments, attendees = programme
    for session in sessions:
        summary = summary_of(feedback_client, event, session)
        check(summary, ratings[session["code"]], attendees[session["code"]])
        assert sorted(summary["comments"]) == sorted(comments[session["code"]])
        assert summary["comments"] == sorted(summary["comments"], key=str.casefold)


def test_event_summary_has_a_row_per_session_and_per_theme(feedback_client, programme):
    event, sessions, ratings, _comments, attendees = programme
    body = feedback_client.get(
        f"/api/v1/events/{event['slug']}/summary", headers=ORGANISER
    ).get_json()
    assert [row["code"] for row in body["sessions"]] == [s["code"] for s in sessions]
    for row in body["sessions"]:
        check(row, ratings[row["code"]], attendees[row["code"]])
    assert [row["theme"] for row in body["themes"]] == sorted([THEME, OTHER_THEME])
    for row in body["themes"]:
        codes = [s["code"] for s in sessions if s["theme"] == row["theme"]]
        assert row["sessions"] == codes
        pooled = [r for code in codes for r in ratings[code]]
        check(row, pooled, sum(attendees[code] for code in codes))
    lean = feedback_client.get(
        f"/api/v1/events/{event['slug']}/summary?comments=false", headers=ORGANISER
    )
    assert "comments" not in lean.get_json()["sessions"][0]


def test_summaries_never_say_who_wrote_what(feedback_client, world):
    event = world.event()
    session = world.session(event)
    people = [world.person(event, confirmed=[session]) for _ in range(3)]
    for person, text in zip(people, ["b second", "C third", "a first"], strict=True):
        feedback_client.post(
            feedback_url(event, session), json={"rating": 4, "comment": text}, headers=person.auth
        )
    summary = summary_of(feedback_client, event, session)
    assert summary["comments"] == ["a first", "b second", "C third"]  # alphabetical, not by time
    text = str(summary)
    for person in people:
        assert person.registration_id not in text


def test_a_session_without_feedback_has_empty_figures(feedback_client, world):
    event = world.event()
    session = world.session(event)
    world.person(event, confirmed=[session])
    summary = summary_of(feedback_client, event, session)
    check(summary, [], 1)
    assert summary["comments"] == []


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(feedback_client, world):
    event = world.event()
    session = world.session(event)
    for rating in (1, 2, 4, 5):
        person = world.person(event, confirmed=[session])
        feedback_client.post(
            feedback_url(event, session), json={"rating": rating}, headers=person.auth
        )
    assert summary_of(feedback_client, event, session)["median"] == 3.0


def test_summaries_need_an_organiser_token(feedback_client, world):
    event = world.event()
    session = world.session(event)
    person = world.person(event, confirmed=[session])
    for path in (
        f"/api/v1/events/{event['slug']}/summary",
        f"/api/v1/events/{event['slug']}/sessions/{session['code']}/summary",
        f"/api/v1/events/{event['slug']}/recommendations",
        f"/api/v1/events/{event['slug']}/report",
        f"/api/v1/events/{event['slug']}/feedback",
    ):
        assert feedback_client.get(path).status_code == 401, path
        assert feedback_client.get(path, headers=person.auth).status_code == 401, path
    assert feedback_client.get("/api/v1/events/nope/summary", headers=ORGANISER).status_code == 404


# --- recommendations ---------------------------------------------------------------------------


def test_recommendations_show_their_support(feedback_client, world):
    rng = random.Random(7)
    event = world.event()
    session = world.session(event)
    made = [
        feedback_client.post(
            f"/api/v1/events/{event['slug']}/recommendations",
            json={"theme": THEME, "text": text},
            headers=ORGANISER,
        )
        for text in ("Fund mediation teams.", "Open consumption rooms.", "Nobody answers this.")
    ]
    assert [m.status_code for m in made] == [201, 201, 201]
    ids = [m.get_json()["id"] for m in made]
    answers: dict[int, list[int]] = {ids[0]: [], ids[1]: []}
    for _ in range(17):
        person = world.person(event, confirmed=[session])
        given = {rid: rng.randint(-2, 2) for rid in ids[:2] if rng.random() < 0.8}
        response = feedback_client.post(
            feedback_url(event, session),
            json={"rating": 3, "endorsements": {str(k): v for k, v in given.items()}},
            headers=person.auth,
        )
        assert response.status_code == 201
        for rid, value in given.items():
            answers[rid].append(value)
    listed = feedback_client.get(
        f"/api/v1/events/{event['slug']}/recommendations", headers=ORGANISER
    ).get_json()
    by_id = {row["id"]: row for row in listed}
    for rid, values in answers.items():
        row = by_id[rid]
        assert row["answers"] == len(values)
        assert row["mean"] == pytest.approx(statistics.mean(values))
        assert row["positive_share"] == pytest.approx(sum(v > 0 for v in values) / len(values))
        assert row["distribution"] == {str(v): values.count(v) for v in (-2, -1, 0, 1, 2)}
    assert by_id[ids[2]]["answers"] == 0 and by_id[ids[2]]["mean"] is None


def test_a_participant_has_one_answer_per_recommendation_their_latest(feedback_client, world):
    event = world.event()
    one, two = world.session(event), world.session(event)
    person = world.person(event, confirmed=[one, two])
    rid = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": THEME, "text": "Fund mediation teams."},
        headers=ORGANISER,
    ).get_json()["id"]
    for session, value in ((one, -2), (two, 2)):
        feedback_client.post(
            feedback_url(event, session),
            json={"rating": 4, "endorsements": {str(rid): value}},
            headers=person.auth,
        )
    (row,) = feedback_client.get(
        f"/api/v1/events/{event['slug']}/recommendations", headers=ORGANISER
    ).get_json()
    assert (row["answers"], row["mean"]) == (1, 2.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"theme": "No such theme", "text": "x"}, "theme"),
        ({"theme": THEME, "text": "   "}, "text"),
        ({"theme": THEME, "text": "x" * 2001}, "text"),
        ({"theme": THEME}, "text"),
    ],
)
def test_a_recommendation_needs_a_known_theme_and_a_text(feedback_client, world, body, field):
    event = world.event()
    world.session(event)
    response = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations", json=body, headers=ORGANISER
    )
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]


def test_the_feedback_export_has_no_identities_and_neutralises_formulas(feedback_client, world):
    import csv
    import io

    event = world.event()
    session = world.session(event)
    people = [world.person(event, confirmed=[session]) for _ in range(2)]
    feedback_client.post(
        feedback_url(event, session),
        json={"rating": 2, "comment": '=HYPERLINK("x")'},
        headers=people[0].auth,
    )
    feedback_client.post(
        feedback_url(event, session), json={"rating": 5, "comment": "Fine"}, headers=people[1].auth
    )
    response = feedback_client.get(
        f"/api/v1/events/{event['slug']}/feedback?format=csv", headers=ORGANISER
    )
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0]) == ["session", "session_title", "theme", "rating", "comment"]
    assert [(r["rating"], r["comment"]) for r in rows] == [
        ("5", "Fine"),
        ("2", '\'=HYPERLINK("x")'),
    ]
    body = response.get_data(as_text=True)
    for person in people:
        assert person.registration_id not in body
    as_json = feedback_client.get(
        f"/api/v1/events/{event['slug']}/feedback", headers=ORGANISER
    ).get_json()
    assert [r["rating"] for r in as_json] == [5, 2]


def test_summaries_of_one_event_ignore_the_others(feedback_client, world):
    small, big = world.event(), world.event()
    mine = world.session(small)
    theirs = [world.session(big) for _ in range(3)]  # most sessions belong to the other event
    for event, session, rating in [(small, mine, 2), (big, theirs[0], 5), (big, theirs[1], 4)]:
        person = world.person(event, confirmed=[session])
        feedback_client.post(
            feedback_url(event, session), json={"rating": rating}, headers=person.auth
        )
    body = feedback_client.get(
        f"/api/v1/events/{small['slug']}/summary", headers=ORGANISER
    ).get_json()
    assert [(row["code"], row["distribution"]) for row in body["sessions"]] == [
        (mine["code"], {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0})
    ]
    other = feedback_client.get(
        f"/api/v1/events/{big['slug']}/summary", headers=ORGANISER
    ).get_json()
    assert sum(row["responses"] for row in other["sessions"]) == 2
    check(summary_of(feedback_client, big, theirs[2]), [], 0)
