"""Seats held until the email is confirmed: counted as taken, confirmed by the emailed link
only, released when the hold runs out (the waiting list moves), one outcome when both race."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.registration import registrations, seats
from services.registration.extensions import db
from services.registration.models import Outbox, ProgrammeSession, Seat
from shared import contracts
from shared.auth import EmailConfirmationTokens, ParticipantTokens
from shared.contracts import TaskNames
from shared.db import utcnow
from tests.helpers import ORGANISER_TOKEN, SECRET_KEY, at_once, bearer
from tests.registration.helpers import form, manage_path
from tests.registration.helpers import page as text

ORGANISER = bearer(ORGANISER_TOKEN)
HOLD = 120
LATER = timedelta(minutes=HOLD + 1)  # past every hold made by a test


def confirm_token(registration_id: str, version: int = 1) -> str:
    return EmailConfirmationTokens(SECRET_KEY).sign(registration_id, version)


def events(app: Any, task_name: str) -> list[dict[str, Any]]:
    """The payloads of the outbox events of one kind, each checked against its contract."""
    with app.app_context():
        rows = db.session.scalars(
            select(Outbox).where(Outbox.task_name == task_name).order_by(Outbox.seq)
        ).all()
        return [contracts.load(task_name, dict(row.payload)) for row in rows]


def seat_events(app: Any, task_name: str, registration_id: str) -> list[dict[str, Any]]:
    found = events(app, task_name)
    return [e["seat"] for e in found if e["participant"]["registration_id"] == registration_id]


def session_row(client: Any, slug: str, code: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/events/{slug}/sessions/{code}")
    assert response.status_code == 200
    return dict(response.get_json())


def me(client: Any, token: str) -> dict[str, Any]:
    response = client.get("/api/v1/registrations/me", headers=bearer(token))
    assert response.status_code == 200
    return dict(response.get_json())


def confirm(client: Any, token: str) -> Any:
    return client.post("/api/v1/registrations/confirm-email", json={"token": token})


def expire(app: Any, now: datetime) -> list[str]:
    """Run the expiry as the loop does (its own transaction): the released registrations."""
    with app.app_context(), db.transaction() as session:
        return [seat.registration_id for seat in seats.expire_holds(session, now)]


@pytest.fixture
def held_event(make_event, make_session) -> Callable[..., dict[str, Any]]:
    """An event with a field visit that holds places until the email is confirmed."""

    def make(capacity: int = 25, **overrides: Any) -> dict[str, Any]:
        event = make_event()
        make_session(
            event["slug"],
            code="FV1",
            kind="field_visit",
            capacity=capacity,
            hold_minutes=HOLD,
            **overrides,
        )
        return event

    return make


# --- the setting ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, 4, 10081, "60", 1.5, True])
def test_hold_minutes_outside_five_minutes_to_a_week_is_422(
    registration_client, make_event, make_session, bad
):
    slug = make_event()["slug"]
    body = {
        "code": "FV1",
        "title": "Visit",
        "kind": "field_visit",
        "theme": "Crises",
        "starts_at": (utcnow() + timedelta(days=30)).isoformat(),
        "ends_at": (utcnow() + timedelta(days=30, hours=2)).isoformat(),
        "capacity": 10,
        "hold_minutes": bad,
    }
    created = registration_client.post(
        f"/api/v1/events/{slug}/sessions", json=body, headers=ORGANISER
    )
    assert created.status_code == 422
    assert "hold_minutes" in created.get_json()["errors"]["json"]
    make_session(slug, code="S1")
    patched = registration_client.patch(
        f"/api/v1/events/{slug}/sessions/S1", json={"hold_minutes": bad}, headers=ORGANISER
    )
    assert patched.status_code == 422
    assert "hold_minutes" in patched.get_json()["errors"]["json"]


def test_hold_minutes_is_set_shown_and_switched_off(registration_client, make_event, make_session):
    slug = make_event()["slug"]
    assert make_session(slug, code="S1")["hold_minutes"] is None  # as before: no confirmation
    assert make_session(slug, code="FV1", hold_minutes=5)["hold_minutes"] == 5
    url = f"/api/v1/events/{slug}/sessions/FV1"
    patched = registration_client.patch(url, json={"hold_minutes": 10080}, headers=ORGANISER)
    assert patched.status_code == 200 and patched.get_json()["hold_minutes"] == 10080
    assert session_row(registration_client, slug, "FV1")["hold_minutes"] == 10080
    patched = registration_client.patch(url, json={"hold_minutes": None}, headers=ORGANISER)
    assert patched.get_json()["hold_minutes"] is None
    spec = registration_client.get("/openapi.json").get_json()["components"]["schemas"]
    assert "confirm" in spec["SessionIn"]["properties"]["hold_minutes"]["description"]
    assert spec["SeatOut"]["properties"]["status"]["enum"] == ["confirmed", "held", "waitlisted"]


# --- claims --------------------------------------------------------------------------------


def test_a_held_seat_counts_as_taken_and_the_26th_person_is_waitlisted(
    registration_app, registration_client, held_event, register
):
    slug = held_event(capacity=25)["slug"]
    before = utcnow()
    responses = [register(slug, ["FV1"]) for _ in range(26)]
    assert [r.status_code for r in responses] == [201] * 26
    first = [r.get_json()["sessions"][0] for r in responses[:25]]
    assert {s["status"] for s in first} == {"held"}
    deadline = datetime.fromisoformat(first[0]["hold_expires_at"])
    assert before + timedelta(minutes=HOLD) <= deadline <= utcnow() + timedelta(minutes=HOLD)
    assert responses[25].get_json()["sessions"][0] == {
        "code": "FV1",
        "status": "waitlisted",
        "waitlist_position": 1,
        "hold_expires_at": None,
    }
    row = session_row(registration_client, slug, "FV1")
    assert (row["seats_taken"], row["seats_left"], row["waitlist_length"]) == (25, 0, 1)
    (registered, *_) = events(registration_app, TaskNames.REGISTERED)
    assert registered["seats"][0]["status"] == "held"
    assert registered["seats"][0]["hold_expires_at"] == deadline


def test_sessions_without_holds_confirm_at_once(registration_client, held_event, make_session):
    slug = held_event()["slug"]
    make_session(slug, code="S2")
    body = register_body(slug, ["FV1", "S2"])
    answer = registration_client.post(f"/api/v1/events/{slug}/registrations", json=body)
    statuses = {s["code"]: s["status"] for s in answer.get_json()["sessions"]}
    assert statuses == {"FV1": "held", "S2": "confirmed"}


def register_body(slug: str, codes: list[str], email: str = "ana@example.org") -> dict[str, Any]:
    return {
        "name": "Ana Participant",
        "email": email,
        "country": "BE",
        "role": "researcher",
        "language": "en",
        "session_codes": codes,
        "consent": True,
    }


def test_the_confirmation_token_is_only_ever_emailed(
    registration_app, registration_client, held_event
):
    slug = held_event()["slug"]
    answer = registration_client.post(
        f"/api/v1/events/{slug}/registrations", json=register_body(slug, ["FV1"])
    )
    created = answer.get_json()
    secret = confirm_token(created["id"])
    token = created["manage_token"]
    answers = [
        answer,
        registration_client.get("/api/v1/registrations/me", headers=bearer(token)),
        registration_client.get("/api/v1/registrations/me/export", headers=bearer(token)),
        registration_client.get(f"/api/v1/events/{slug}/registrations", headers=ORGANISER),
        registration_client.get(f"/manage/{token}?welcome=1&lang=en"),
    ]
    for response in answers:
        assert response.status_code == 200 or response.status_code == 201
        assert secret not in response.get_data(as_text=True)
    with registration_app.app_context():
        for row in db.session.scalars(select(Outbox)):
            assert secret not in json.dumps(row.payload, default=str)


# --- confirming ----------------------------------------------------------------------------


def test_confirming_turns_every_held_seat_into_a_confirmed_one_and_announces_it(
    registration_app, registration_client, held_event, make_session
):
    slug = held_event()["slug"]
    make_session(slug, code="FV2", kind="field_visit", capacity=5, hold_minutes=30)
    make_session(slug, code="S3")
    created = registration_client.post(
        f"/api/v1/events/{slug}/registrations", json=register_body(slug, ["FV1", "FV2"])
    ).get_json()
    confirmed = confirm(registration_client, confirm_token(created["id"]))
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    assert body["email_confirmed_at"] and body["expired"] == []
    assert {(s["code"], s["status"], s["hold_expires_at"]) for s in body["sessions"]} == {
        ("FV1", "confirmed", None),
        ("FV2", "confirmed", None),
    }
    assert "manage_token" not in body
    mine = me(registration_client, created["manage_token"])
    assert {s["status"] for s in mine["sessions"]} == {"confirmed"}
    assert mine["email_confirmed_at"] == body["email_confirmed_at"]
    promoted = seat_events(registration_app, TaskNames.SEAT_PROMOTED, created["id"])
    assert sorted((s["session"]["code"], s["status"], s["reason"]) for s in promoted) == [
        ("FV1", "confirmed", "email_confirmed"),
        ("FV2", "confirmed", "email_confirmed"),
    ]
    assert session_row(registration_client, slug, "FV1")["seats_taken"] == 1

    again = confirm(registration_client, confirm_token(created["id"]))
    assert again.status_code == 200
    assert again.get_json()["email_confirmed_at"] == body["email_confirmed_at"]  # never moves
    assert len(seat_events(registration_app, TaskNames.SEAT_PROMOTED, created["id"])) == 2

    # A confirmed address needs no hold any more: the next held session confirms at once.
    make_session(slug, code="FV3", kind="field_visit", capacity=5, hold_minutes=30)
    added = registration_client.post(
        "/api/v1/registrations/me/sessions",
        json={"code": "FV3"},
        headers=bearer(created["manage_token"]),
    )
    assert added.get_json()["status"] == "confirmed"


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        ParticipantTokens(SECRET_KEY).sign("x" * 32, 1),  # a manage link: the other salt
        confirm_token("x" * 32),  # signed, but for nobody
    ],
)
def test_a_bad_confirmation_token_is_422(registration_client, token):
    response = confirm(registration_client, token)
    assert response.status_code == 422
    assert "not valid" in response.get_json()["errors"]["json"]["token"][0]


def test_a_new_personal_link_revokes_the_confirmation_link_and_sends_a_new_one(
    registration_app, registration_client, held_event, register
):
    slug = held_event()["slug"]
    created = register(slug, ["FV1"]).get_json()
    manage = created["manage_token"]
    assert confirm(registration_client, manage).status_code == 422  # never the manage token
    renewed = registration_client.post("/api/v1/registrations/me/new-link", headers=bearer(manage))
    assert renewed.status_code == 202
    assert confirm(registration_client, confirm_token(created["id"], 1)).status_code == 422
    # The held place's email goes out again, its link of the new version.
    (again,) = [
        e
        for e in events(registration_app, TaskNames.SEAT_CONFIRMED)
        if e["seat"]["status"] == "held"
    ]
    assert again["participant"]["token_version"] == 2
    assert confirm(registration_client, confirm_token(created["id"], 2)).status_code == 200


def test_the_confirmation_page_asks_and_only_its_button_confirms(
    registration_app, registration_client, held_event, register
):
    slug = held_event()["slug"]
    created = register(slug, ["FV1"], language="en").get_json()
    url = f"/confirm-email/{confirm_token(created['id'])}"
    for _ in range(2):  # a mail scanner opening the link, twice
        asked = registration_client.get(url)
        assert asked.status_code == 200
        page = text(asked)
        assert f'<form method="post" novalidate action="{url}">' in page
        assert "Confirm my email address" in page and "Held until" in page
        assert "no-referrer" in asked.headers.get("Referrer-Policy", "")
    assert me(registration_client, created["manage_token"])["sessions"][0]["status"] == "held"

    done = registration_client.post(url)
    assert done.status_code == 303 and done.headers["Location"].endswith(url)
    assert me(registration_client, created["manage_token"])["sessions"][0]["status"] == "confirmed"
    shown = text(registration_client.get(url))
    assert "Your email address is confirmed" in shown and "<form" not in shown.split("<main")[1]

    assert registration_client.get("/confirm-email/nonsense").status_code == 404
    assert registration_client.post("/confirm-email/nonsense").status_code == 404
    manage = created["manage_token"]
    assert registration_client.get(f"/confirm-email/{manage}").status_code == 404


def test_the_confirmation_page_speaks_the_participants_language(
    registration_client, held_event, register
):
    slug = held_event()["slug"]
    created = register(slug, ["FV1"], language="nl").get_json()
    page = text(registration_client.get(f"/confirm-email/{confirm_token(created['id'])}"))
    assert '<html lang="nl"' in page and "Bevestig uw e-mailadres" in page


# --- expiry --------------------------------------------------------------------------------


def test_expiry_releases_held_seats_and_the_waiting_list_moves_in_order(
    registration_app, registration_client, held_event, register
):
    slug = held_event(capacity=3)["slug"]
    first, kept, third = (register(slug, ["FV1"]).get_json() for _ in range(3))
    assert confirm(registration_client, confirm_token(kept["id"])).status_code == 200
    unconfirmed = register(slug, ["FV1"]).get_json()  # waitlisted 1, address not confirmed
    confirmed = register(slug, ["FV1"]).get_json()  # waitlisted 2, address confirmed
    assert confirm(registration_client, confirm_token(confirmed["id"])).status_code == 200
    assert me(registration_client, confirmed["manage_token"])["sessions"][0]["status"] == (
        "waitlisted"
    )

    assert expire(registration_app, utcnow()) == []  # nothing is due yet
    released = expire(registration_app, utcnow() + LATER)
    assert sorted(released) == sorted([first["id"], third["id"]])

    for gone in (first, third):
        assert me(registration_client, gone["manage_token"])["sessions"] == []
        (seat,) = seat_events(registration_app, TaskNames.SEAT_RELEASED, gone["id"])
        assert (seat["status"], seat["reason"]) == ("held", "hold_expired")
    promoted_held = me(registration_client, unconfirmed["manage_token"])["sessions"][0]
    assert promoted_held["status"] == "held"
    fresh = datetime.fromisoformat(promoted_held["hold_expires_at"])
    assert fresh > utcnow() + timedelta(minutes=HOLD - 1)  # a fresh hold, not the old one
    assert me(registration_client, confirmed["manage_token"])["sessions"][0]["status"] == (
        "confirmed"
    )
    (promotion,) = seat_events(registration_app, TaskNames.SEAT_PROMOTED, unconfirmed["id"])
    assert promotion["status"] == "held" and promotion["reason"] is None
    row = session_row(registration_client, slug, "FV1")
    assert (row["seats_taken"], row["waitlist_length"]) == (3, 0)
    assert expire(registration_app, utcnow() + timedelta(minutes=HOLD - 1)) == []


def test_a_confirmation_after_the_expiry_does_not_bring_the_place_back(
    registration_app, registration_client, held_event, register
):
    slug = held_event(capacity=1)["slug"]
    late = register(slug, ["FV1"]).get_json()
    expire(registration_app, utcnow() + LATER)
    answer = confirm(registration_client, confirm_token(late["id"]))
    assert answer.status_code == 200
    assert answer.get_json()["sessions"] == []
    assert seat_events(registration_app, TaskNames.SEAT_PROMOTED, late["id"]) == []
    assert session_row(registration_client, slug, "FV1")["seats_taken"] == 0


def test_a_confirmation_past_the_deadline_releases_the_place_even_before_the_loop_runs(
    registration_app, registration_client, held_event, register
):
    slug = held_event(capacity=1)["slug"]
    late = register(slug, ["FV1"]).get_json()
    waiting = register(slug, ["FV1"]).get_json()
    with registration_app.app_context():
        done = registrations.confirm_email(db.session, late["id"], 1, now=utcnow() + LATER)
        db.session.commit()
        assert (done.expired, done.seats) == (["FV1"], [])
        assert done.registration.email_confirmed_at is not None
    (seat,) = seat_events(registration_app, TaskNames.SEAT_RELEASED, late["id"])
    assert seat["reason"] == "hold_expired"
    assert me(registration_client, waiting["manage_token"])["sessions"][0]["status"] == "held"
    assert session_row(registration_client, slug, "FV1")["seats_taken"] == 1


def test_dropping_a_held_seat_frees_it(registration_client, held_event, register):
    slug = held_event(capacity=1)["slug"]
    holder = register(slug, ["FV1"]).get_json()
    waiting = register(slug, ["FV1"]).get_json()
    dropped = registration_client.delete(
        "/api/v1/registrations/me/sessions/FV1", headers=bearer(holder["manage_token"])
    )
    assert dropped.status_code == 204
    assert me(registration_client, waiting["manage_token"])["sessions"][0]["status"] == "held"
    assert session_row(registration_client, slug, "FV1")["seats_taken"] == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_an_expiry_racing_confirmations_ends_one_way_for_each_seat(
    registration_app, held_event, register
):
    people = 8
    slug = held_event(capacity=people)["slug"]
    ids = [register(slug, ["FV1"]).get_json()["id"] for _ in range(people)]

    def confirming(registration_id: str) -> Callable[[], None]:
        def run() -> None:  # in time: before its seat's deadline
            with registration_app.app_context(), db.transaction() as session:
                registrations.confirm_email(session, registration_id, 1)

        return run

    # The expiry sees every seat as due; the confirmations say they came in time. Whichever
    # takes the session's lock first decides, seat by seat.
    at_once(lambda: expire(registration_app, utcnow() + LATER), *(confirming(i) for i in ids))
    with registration_app.app_context():
        rows = {s.registration_id: s.status for s in db.session.scalars(select(Seat))}
        taken = db.session.scalar(select(ProgrammeSession.seats_taken))
    released = events(registration_app, TaskNames.SEAT_RELEASED)
    promoted = events(registration_app, TaskNames.SEAT_PROMOTED)
    for registration_id in ids:
        gone = [e for e in released if e["participant"]["registration_id"] == registration_id]
        kept = [e for e in promoted if e["participant"]["registration_id"] == registration_id]
        if registration_id in rows:
            assert (rows[registration_id], len(gone), len(kept)) == ("confirmed", 0, 1)
        else:
            assert (len(gone), len(kept)) == (1, 0)
    assert taken == len(rows)


# --- pages ---------------------------------------------------------------------------------


def test_the_form_the_manage_page_and_the_organiser_page_speak_of_holds(
    registration_client, held_event, register
):
    slug = held_event()["slug"]
    register_page = text(registration_client.get(f"/events/{slug}/register?lang=en"))
    assert "Your place is held for 120 minutes until you confirm your email address." in (
        register_page
    )
    answer = registration_client.post(
        f"/events/{slug}/register?lang=en", data=form(session_codes=["FV1"])
    )
    manage = text(registration_client.get(manage_path(answer) + "?lang=en"))
    assert "Held until" in manage and "waiting for your email confirmation" in manage
    assert "confirm your email address with the link in the email" in manage
    assert "Give up my place" in manage
    french = text(registration_client.get(manage_path(answer) + "?lang=fr"))
    assert "Réservée jusqu’au" in french and "heure\u00a0: Belgique" in french

    signed_in = registration_client.post(
        "/organiser/sign-in/token", data={"token": ORGANISER_TOKEN}
    )
    assert signed_in.status_code in (302, 303)
    organiser = text(registration_client.get(f"/organiser/events/{slug}?lang=en"))
    assert "1 of 25 places taken" in organiser
    assert "1 place held, email not confirmed yet" in organiser
    csv = text(registration_client.get(f"/organiser/events/{slug}/registrations.csv"))
    header, row = csv.splitlines()[:2]
    assert ",held," in header and ",FV1," in row
