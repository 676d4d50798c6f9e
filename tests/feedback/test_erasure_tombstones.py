"""An erased participant stays erased: no late, repeated or reordered event brings them back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.feedback.extensions import db
from services.feedback.models import (
    Attendance,
    ErasedRegistration,
    Participant,
    ProgrammeSession,
    ThemeMember,
)
from shared.contracts import TaskNames
from shared.db import new_id
from tests.feedback.helpers import feedback_url
from tests.helpers import at_once


def held_on(app, registration_id: str) -> int:
    """Rows about the person in every table that holds people."""
    with app.app_context():
        return sum(
            int(
                db.session.scalar(
                    select(func.count())
                    .select_from(model)
                    .where(model.registration_id == registration_id)
                )
            )
            for model in (Participant, Attendance, ThemeMember)
        )


def attendees(app, session) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                select(ProgrammeSession.attendees).where(ProgrammeSession.code == session["code"])
            )
        )


def erase(world, event, registration_id: str) -> None:
    world.deliver(
        TaskNames.ERASED, {"registration_id": registration_id, "event_slug": event["slug"]}
    )


def test_an_erasure_leaves_a_tombstone(feedback_app, world):
    event = world.event()
    person = world.person(event, confirmed=[world.session(event)])
    erase(world, event, person.registration_id)
    with feedback_app.app_context():
        assert db.session.get(ErasedRegistration, person.registration_id) is not None


@pytest.mark.parametrize(
    "late",
    [
        TaskNames.REGISTERED,
        TaskNames.SEAT_CONFIRMED,
        TaskNames.SEAT_WAITLISTED,
        TaskNames.SEAT_PROMOTED,
        TaskNames.SEAT_RELEASED,
        TaskNames.CANCELLED,
        TaskNames.DETAILS_CHANGED,
    ],
)
def test_no_event_after_the_erasure_brings_the_person_back(
    feedback_app, feedback_client, world, late
):
    event = world.event()
    session, other = world.session(event), world.session(event)
    person = world.person(event, confirmed=[session])
    erase(world, event, person.registration_id)

    if late == TaskNames.REGISTERED:
        world.deliver(
            late,
            {
                "event": event,
                "participant": person.info,
                "seats": [{"session": session, "status": "confirmed", "waitlist_position": None}],
            },
        )
    elif late == TaskNames.CANCELLED:
        world.deliver(late, {"event": event, "participant": person.info, "released": ["x"]})
    elif late == TaskNames.DETAILS_CHANGED:
        world.deliver(late, {"event": event, "participant": person.info})
    else:
        world.seat(late, event, person, other, "confirmed")

    assert held_on(feedback_app, person.registration_id) == 0
    assert attendees(feedback_app, session) == attendees(feedback_app, other) == 0
    response = feedback_client.post(
        feedback_url(event, session), json={"rating": 5}, headers=person.auth
    )
    assert response.status_code == 401


def test_a_registration_overtaken_by_its_erasure_is_dropped(feedback_app, world):
    event = world.event()
    session = world.session(event)
    registration_id = new_id()
    erase(world, event, registration_id)
    person = world.person(event, confirmed=[session], registration_id=registration_id)
    assert held_on(feedback_app, person.registration_id) == 0
    assert attendees(feedback_app, session) == 0


def test_an_erasure_delivered_twice_under_two_ids_leaves_one_tombstone(feedback_app, world):
    event = world.event()
    person = world.person(event, confirmed=[world.session(event)])
    erase(world, event, person.registration_id)
    erase(world, event, person.registration_id)
    with feedback_app.app_context():
        tombstones = db.session.scalar(select(func.count()).select_from(ErasedRegistration))
    assert tombstones == 1


ROUNDS = 30


def test_a_registration_and_its_erasure_at_once_never_leave_the_person(
    feedback_app, world, backend
):
    """Two workers, one with the registration, one with the erasure, at the same moment."""
    event = world.event()
    session = world.session(event)
    survivors = 0
    for _ in range(ROUNDS):
        registration_id = new_id()
        at_once(
            lambda r=registration_id: world.person(event, confirmed=[session], registration_id=r),
            lambda r=registration_id: erase(world, event, r),
        )
        survivors += held_on(feedback_app, registration_id) > 0
    assert survivors == 0
    assert attendees(feedback_app, session) == 0
