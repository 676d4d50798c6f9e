"""A seat held until the participant confirms their address is not an attended one: it may not
rate and does not count, until the confirmation's event says it is confirmed."""

from __future__ import annotations

from typing import Any

from shared.contracts import TaskNames
from tests.feedback.helpers import feedback_url
from tests.feedback.test_read_model import attendees
from tests.helpers import now


def held(world: Any, name: str, event: dict, person: Any, session: dict, **seat: Any) -> None:
    world.deliver(
        name,
        {
            "event": event,
            "participant": person.info,
            "seat": {"session": session, "waitlist_position": None, **seat},
        },
    )


def rate(feedback_client: Any, event: dict, session: dict, person: Any) -> int:
    response = feedback_client.post(
        feedback_url(event, session), json={"rating": 4}, headers=person.auth
    )
    return int(response.status_code)


def test_a_held_seat_may_not_rate_until_the_confirmation_confirms_it(
    feedback_app, feedback_client, world
):
    event = world.event()
    session = world.session(event)
    person = world.person(event)
    held(
        world,
        TaskNames.SEAT_CONFIRMED,
        event,
        person,
        session,
        status="held",
        hold_expires_at=now(),
    )
    assert attendees(feedback_app, event, session) == 0
    assert rate(feedback_client, event, session, person) == 403
    held(
        world, TaskNames.SEAT_PROMOTED, event, person, session,
        status="confirmed", reason="email_confirmed",
    )  # fmt: skip
    assert attendees(feedback_app, event, session) == 1
    assert rate(feedback_client, event, session, person) == 201


def test_a_released_hold_changes_no_count(feedback_app, world):
    event = world.event()
    session = world.session(event)
    world.person(event, confirmed=[session])
    squatter = world.person(event)
    held(
        world,
        TaskNames.SEAT_CONFIRMED,
        event,
        squatter,
        session,
        status="held",
        hold_expires_at=now(),
    )
    held(
        world, TaskNames.SEAT_RELEASED, event, squatter, session,
        status="held", hold_expires_at=now(), reason="hold_expired",
    )  # fmt: skip
    assert attendees(feedback_app, event, session) == 1
