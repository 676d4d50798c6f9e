"""Registration rushes: many people race for few seats; nobody is overbooked or lost."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select, update

from services.registration import seats
from services.registration.extensions import db
from services.registration.models import ProgrammeSession, Seat

RACERS = 200
SEATS = 10


def rush(registration_app: Any, slug: str, codes: list[str], people: int = RACERS) -> list[Any]:
    """`people` registrations sent at once from 64 threads; odd ones list the codes reversed."""

    def one(n: int) -> Any:
        chosen = codes if n % 2 == 0 else codes[::-1]
        with registration_app.test_client() as registration_client:
            return registration_client.post(
                f"/api/v1/events/{slug}/registrations",
                json={
                    "name": f"Racer {n}",
                    "email": f"racer{n}@example.org",
                    "country": "NL",
                    "role": "researcher",
                    "language": "nl",
                    "session_codes": chosen,
                    "consent": True,
                },
            )

    with ThreadPoolExecutor(max_workers=64) as pool:
        return list(pool.map(one, range(people)))


def seat_counts(registration_app: Any, code: str) -> tuple[int, int, int]:
    """(seats_taken column, confirmed rows, waitlisted rows) for one session, from the DB."""
    with registration_app.app_context():
        session = db.session.scalar(select(ProgrammeSession).where(ProgrammeSession.code == code))
        assert session is not None
        rows = Counter(
            dict(
                db.session.execute(
                    select(Seat.status, func.count())
                    .where(Seat.session_id == session.id)
                    .group_by(Seat.status)
                ).all()
            )
        )
        return session.seats_taken, rows["confirmed"], rows["waitlisted"]


def test_two_hundred_people_race_for_ten_seats(registration_app, make_event, make_session):
    event = make_event()
    make_session(event["slug"], code="FV1", kind="field_visit", capacity=SEATS)
    responses = rush(registration_app, event["slug"], ["FV1"])

    assert [r.status_code for r in responses] == [201] * RACERS
    seats = [r.get_json()["sessions"][0] for r in responses]
    confirmed = [s for s in seats if s["status"] == "confirmed"]
    positions = sorted(s["waitlist_position"] for s in seats if s["status"] == "waitlisted")
    assert len(confirmed) == SEATS
    assert positions == list(range(1, RACERS - SEATS + 1))
    assert seat_counts(registration_app, "FV1") == (SEATS, SEATS, RACERS - SEATS)


def test_rush_on_two_sessions_locks_in_a_deadlock_free_order(
    registration_app, make_event, make_session
):
    event = make_event()
    make_session(event["slug"], code="A", capacity=5)
    make_session(event["slug"], code="B", capacity=7)
    responses = rush(registration_app, event["slug"], ["A", "B"], people=60)
    assert all(r.status_code == 201 for r in responses)
    assert seat_counts(registration_app, "A") == (5, 5, 55)
    assert seat_counts(registration_app, "B") == (7, 7, 53)


def test_concurrent_drops_promote_each_waiting_person_once(
    registration_app, make_event, make_session
):
    event = make_event()
    make_session(event["slug"], code="FV1", capacity=SEATS)
    responses = rush(registration_app, event["slug"], ["FV1"], people=40)
    holders = [
        r.get_json()["manage_token"]
        for r in responses
        if r.get_json()["sessions"][0]["status"] == "confirmed"
    ]

    def drop(token: str) -> int:
        with registration_app.test_client() as registration_client:
            response = registration_client.delete(
                "/api/v1/registrations/me/sessions/FV1",
                headers={"Authorization": f"Bearer {token}"},
            )
            return int(response.status_code)

    with ThreadPoolExecutor(max_workers=SEATS) as pool:
        assert list(pool.map(drop, holders)) == [204] * SEATS
    assert seat_counts(registration_app, "FV1") == (SEATS, SEATS, 40 - 2 * SEATS)
    with registration_app.app_context():
        promoted = db.session.scalars(
            select(Seat.registration_id).where(Seat.status == "confirmed")
        ).all()
        assert len(set(promoted)) == SEATS


def naive_take_seat(session: Any, session_id: int) -> bool:
    """Check in Python, then write: the pattern the atomic claim replaces."""
    taken, capacity = session.execute(
        select(ProgrammeSession.seats_taken, ProgrammeSession.capacity).where(
            ProgrammeSession.id == session_id
        )
    ).one()
    if capacity is not None and taken >= capacity:
        return False
    time.sleep(0.002)  # the request does other work between check and write
    session.execute(
        update(ProgrammeSession)
        .where(ProgrammeSession.id == session_id)
        .values(seats_taken=taken + 1)
        .execution_options(synchronize_session=False)
    )
    return True


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_control_the_race_catches_a_naive_check_then_write(
    registration_app, make_event, make_session, monkeypatch
):
    # On SQLite every transaction is BEGIN IMMEDIATE, so even this would be serialised;
    # PostgreSQL's READ COMMITTED shows the lost updates the atomic UPDATE prevents.
    event = make_event()
    make_session(event["slug"], code="FV1", capacity=SEATS)
    monkeypatch.setattr(seats, "_try_take_seat", naive_take_seat)
    responses = rush(registration_app, event["slug"], ["FV1"])
    confirmed = sum(r.get_json()["sessions"][0]["status"] == "confirmed" for r in responses)
    assert confirmed > SEATS, "the naive claim should oversell; the race test would catch it"
