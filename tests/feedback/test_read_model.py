"""The read model follows the registration events: once per event, in aggregate only."""

from __future__ import annotations

from sqlalchemy import func, select

from services.feedback.extensions import db
from services.feedback.models import (
    Attendance,
    Endorsement,
    Feedback,
    Invitation,
    Outbox,
    Participant,
    ProcessedEvent,
    ProgrammeSession,
)
from shared import contracts
from shared.contracts import TaskNames
from shared.db import new_id
from tests.feedback.helpers import ORGANISER, feedback_url


def count(app, model, *where) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)))


def attendees(app, event, session) -> int:
    """The session's counter, checked against the seats it counts."""
    with app.app_context():
        row = db.session.scalar(
            select(ProgrammeSession).where(ProgrammeSession.code == session["code"])
        )
        real = db.session.scalar(
            select(func.count())
            .select_from(Attendance)
            .where(Attendance.session_id == row.id, Attendance.status == "confirmed")
        )
        assert row.attendees == real
        return int(real)


def test_participants_are_kept_without_name_or_address(feedback_app, world):
    event = world.event()
    session = world.session(event)
    person = world.person(
        event, confirmed=[session], country="nl", city="Utrecht", role="researcher"
    )
    with feedback_app.app_context():
        row = db.session.get(Participant, person.registration_id)
        assert (row.country, row.city, row.role, row.language) == (
            "NL",
            "Utrecht",
            "researcher",
            "en",
        )
    columns = {c.name for c in Participant.__table__.columns}
    assert not columns & {"name", "email", "organisation"}


def test_seat_changes_keep_the_attendee_count(feedback_app, world):
    event = world.event()
    session = world.session(event)
    one = world.person(event, confirmed=[session])
    two = world.person(event, waitlisted=[session])
    assert attendees(feedback_app, event, session) == 1
    world.seat(TaskNames.SEAT_RELEASED, event, one, session, "confirmed")
    world.seat(TaskNames.SEAT_PROMOTED, event, two, session, "confirmed")
    assert attendees(feedback_app, event, session) == 1
    three = world.person(event)
    world.seat(TaskNames.SEAT_CONFIRMED, event, three, session, "confirmed")
    world.seat(TaskNames.SEAT_CONFIRMED, event, three, session, "confirmed")  # a new event id
    assert attendees(feedback_app, event, session) == 2
    world.deliver(
        TaskNames.CANCELLED,
        {"event": event, "participant": two.info, "released": [session["code"]]},
    )
    assert attendees(feedback_app, event, session) == 1
    with feedback_app.app_context():
        assert db.session.get(Participant, two.registration_id).status == "cancelled"


def test_an_event_delivered_twice_is_applied_once(feedback_app, world):
    event = world.event()
    session = world.session(event)
    person = world.person(event)
    seat = {"session": session, "status": "confirmed", "waitlist_position": None}
    payload = {"event": event, "participant": person.info, "seat": seat}
    event_id = new_id()
    assert world.deliver(TaskNames.SEAT_CONFIRMED, payload, event_id=event_id) is True
    assert world.deliver(TaskNames.SEAT_CONFIRMED, payload, event_id=event_id) is False
    assert attendees(feedback_app, event, session) == 1
    assert count(feedback_app, ProcessedEvent, ProcessedEvent.event_id == event_id) == 1


def test_a_message_that_breaks_its_contract_is_dropped(feedback_app, world):
    from services.feedback import tasks
    from tests.helpers import now

    event = world.event()
    body = contracts.dump(
        TaskNames.ERASED,
        {
            "event_id": new_id(),
            "occurred_at": now(),
            "registration_id": "r",
            "event_slug": event["slug"],
        },
    )
    with feedback_app.app_context():
        assert tasks.consume(TaskNames.ERASED, {**body, "email": "x@example.org"}) is False
        assert tasks.consume(TaskNames.ERASED, {"registration_id": "r"}) is False
    assert count(feedback_app, ProcessedEvent) == 1  # only the event published above


def test_a_session_before_its_event_waits_for_it(feedback_app, world):
    import pytest

    from services.feedback import readmodel
    from tests.helpers import now

    info = {
        "code": "X1", "title": "Early", "kind": "thematic", "theme": "T",
        "starts_at": now(), "ends_at": now(),
    }  # fmt: skip
    with pytest.raises(readmodel.NotReady):
        world.deliver(
            TaskNames.SESSION_PUBLISHED, {"event_slug": "later", "session": info, "capacity": None}
        )
    assert count(feedback_app, ProcessedEvent) == 0  # not marked done: the retry will apply it


def test_erasure_removes_everything_held_on_the_person_and_is_confirmed(
    feedback_client, feedback_app, world
):
    event = world.event()
    session = world.session(event)
    gone = world.person(event, confirmed=[session])
    stays = world.person(event, confirmed=[session])
    rid = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": session["theme"], "text": "Open drug consumption rooms."},
        headers=ORGANISER,
    ).get_json()["id"]
    for person in (gone, stays):
        response = feedback_client.post(
            feedback_url(event, session),
            json={"rating": 3, "comment": "Mine", "endorsements": {str(rid): 2}},
            headers=person.auth,
        )
        assert response.status_code == 201
    with feedback_app.app_context():
        from datetime import timedelta

        from services.feedback import invitations

        assert invitations.send_due_invitations(db, timedelta(0)) == 2
    before = count(feedback_app, Outbox)

    erased = {"registration_id": gone.registration_id, "event_slug": event["slug"]}
    event_id = new_id()
    world.deliver(TaskNames.ERASED, erased, event_id=event_id)
    world.deliver(TaskNames.ERASED, erased, event_id=event_id)  # delivered twice: confirmed once

    who = gone.registration_id
    for model in (Participant, Attendance, Feedback, Endorsement, Invitation):
        assert count(feedback_app, model, model.registration_id == who) == 0, model
    assert count(feedback_app, Feedback) == 1 and count(feedback_app, Endorsement) == 1
    assert attendees(feedback_app, event, session) == 1
    with feedback_app.app_context():
        rows = db.session.scalars(select(Outbox).where(Outbox.subject_id == who)).all()
    assert [row.task_name for row in rows] == [TaskNames.ERASURE_CONFIRMED]
    confirmation = contracts.load(TaskNames.ERASURE_CONFIRMED, rows[0].payload)
    assert (confirmation["registration_id"], confirmation["service"]) == (who, "feedback")
    # The person's pending invitation left with them; the other one is still there.
    assert count(feedback_app, Outbox) == before - 1 + 1
    assert (
        feedback_client.post(
            feedback_url(event, session), json={"rating": 4}, headers=gone.auth
        ).status_code
        == 401
    )


def test_erasure_of_someone_unknown_is_still_confirmed(feedback_app, world):
    world.deliver(TaskNames.ERASED, {"registration_id": new_id(), "event_slug": "any"})
    assert count(feedback_app, Outbox, Outbox.task_name == TaskNames.ERASURE_CONFIRMED) == 1


def test_a_session_change_updates_its_times(feedback_client, world):
    from datetime import timedelta

    from tests.helpers import now

    event = world.event()
    session = world.session(event, starts_at=now() + timedelta(hours=2))
    person = world.person(event, confirmed=[session])
    url = feedback_url(event, session)
    assert feedback_client.post(url, json={"rating": 4}, headers=person.auth).status_code == 409
    moved = {**session, "starts_at": now() - timedelta(hours=1), "ends_at": now()}
    world.deliver(
        TaskNames.SESSION_PUBLISHED, {"event_slug": event["slug"], "session": moved, "capacity": 5}
    )
    assert feedback_client.post(url, json={"rating": 4}, headers=person.auth).status_code == 201


def members(app) -> dict[tuple[str, str], int]:
    """theme_members, checked against a recomputation from the seats themselves."""
    from services.feedback.models import ThemeMember

    with app.app_context():
        kept = {
            (m.theme, m.registration_id): m.seats
            for m in db.session.scalars(select(ThemeMember)).all()
        }
        recomputed: dict[tuple[str, str], int] = {}
        for theme, rid in db.session.execute(
            select(ProgrammeSession.theme, Attendance.registration_id)
            .join(ProgrammeSession, ProgrammeSession.id == Attendance.session_id)
            .where(Attendance.status == "confirmed")
        ):
            recomputed[(theme, rid)] = recomputed.get((theme, rid), 0) + 1
    assert kept == recomputed
    return kept


def test_theme_members_follow_every_seat_change(feedback_app, world):
    from tests.feedback.helpers import OTHER_THEME, THEME

    event = world.event()
    one, two = world.session(event), world.session(event)
    other = world.session(event, theme=OTHER_THEME)
    a = world.person(event, confirmed=[one, two, other])
    b = world.person(event, confirmed=[one], waitlisted=[two])
    assert members(feedback_app)[(THEME, a.registration_id)] == 2
    world.seat(TaskNames.SEAT_RELEASED, event, a, one, "confirmed")
    world.seat(TaskNames.SEAT_PROMOTED, event, b, two, "confirmed")
    assert members(feedback_app)[(THEME, b.registration_id)] == 2
    # The organisers move a session to another theme: its attendees move with it.
    moved = {**two, "theme": OTHER_THEME}
    world.deliver(
        TaskNames.SESSION_PUBLISHED, {"event_slug": event["slug"], "session": moved, "capacity": 9}
    )
    kept = members(feedback_app)
    assert kept[(OTHER_THEME, a.registration_id)] == 2
    assert (THEME, a.registration_id) not in kept
    world.deliver(TaskNames.CANCELLED, {"event": event, "participant": b.info, "released": ["x"]})
    world.deliver(TaskNames.ERASED, {"registration_id": a.registration_id, "event_slug": "e"})
    assert members(feedback_app) == {}


def test_each_participant_counts_the_sessions_they_rated(feedback_client, feedback_app, world):
    event = world.event()
    one, two = world.session(event), world.session(event)
    person = world.person(event, confirmed=[one, two])
    for session in (one, two, one):
        feedback_client.put(feedback_url(event, session), json={"rating": 3}, headers=person.auth)
    feedback_client.post(feedback_url(event, one), json={"rating": 3}, headers=person.auth)  # 409
    with feedback_app.app_context():
        assert db.session.get(Participant, person.registration_id).responses == 2


def test_an_export_request_is_answered_with_everything_held_here(
    feedback_client, feedback_app, world
):
    event = world.event()
    session = world.session(event)
    person = world.person(event, confirmed=[session], city="Gent", language="nl")
    rid = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": session["theme"], "text": "Fund mediation teams."},
        headers=ORGANISER,
    ).get_json()["id"]
    feedback_client.post(
        feedback_url(event, session),
        json={"rating": 4, "comment": "Goed", "endorsements": {str(rid): 1}},
        headers=person.auth,
    )
    for who in (person.registration_id, new_id()):
        world.deliver(TaskNames.EXPORT_REQUESTED, {"registration_id": who, "request_id": "req1"})
    with feedback_app.app_context():
        rows = db.session.scalars(
            select(Outbox).where(Outbox.task_name == TaskNames.EXPORT_PART).order_by(Outbox.seq)
        ).all()
        parts = [contracts.load(row.task_name, row.payload) for row in rows]
    mine, unknown = parts
    assert (mine["service"], mine["request_id"]) == ("feedback", "req1")
    data = mine["data"]
    assert data["participant"]["city"] == "Gent" and "email" not in data["participant"]
    assert data["sessions"] == [{"code": session["code"], "status": "confirmed"}]
    (given,) = data["feedback"]
    assert (given["rating"], given["comment"]) == (4, "Goed")
    assert given["endorsements"] == [{"recommendation": "Fund mediation teams.", "value": 1}]
    assert unknown["data"] == {"held": False}


TRANSLATED_THEME = {
    "fr": "Drogues et criminalité organisée",
    "nl": "Drugs en georganiseerde misdaad",
}
TRANSLATED_ROOM = {"fr": "Salle Horta", "nl": "Zaal Horta"}


def test_the_programmes_translations_are_kept_and_replaced(feedback_app, world):
    event = world.event(city_translations={"fr": "Bruxelles", "nl": "Brussel"})
    session = world.session(
        event, theme_translations=TRANSLATED_THEME, room_translations=TRANSLATED_ROOM
    )
    with feedback_app.app_context():
        row = db.session.scalar(
            select(ProgrammeSession).where(ProgrammeSession.code == session["code"])
        )
        assert row.event.city_in("nl") == "Brussel"
        assert (row.theme_in("fr"), row.room_in("nl")) == (TRANSLATED_THEME["fr"], "Zaal Horta")
        assert row.theme_in("en") == row.theme  # no English given: the theme as entered
    world.session(event, code=session["code"], room_translations={"fr": "Salle Hergé"})
    with feedback_app.app_context():
        row = db.session.scalar(
            select(ProgrammeSession).where(ProgrammeSession.code == session["code"])
        )
        assert (row.room_translations, row.theme_translations) == ({"fr": "Salle Hergé"}, {})


def test_messages_from_before_translations_still_load(feedback_app, world):
    event = world.event()
    session = world.session(event)
    for info in (event, session):
        for name in ("city_translations", "theme_translations", "room_translations"):
            info.pop(name, None)
    person = world.person(event, confirmed=[session])
    with feedback_app.app_context():
        row = db.session.scalar(
            select(ProgrammeSession).where(ProgrammeSession.code == session["code"])
        )
        assert (row.theme_translations, row.room_translations) == ({}, {})
        assert db.session.get(Participant, person.registration_id) is not None


def details_changed(world, event, person, **changes) -> bool:
    participant = {**person.info, **changes}
    return world.deliver(TaskNames.DETAILS_CHANGED, {"event": event, "participant": participant})


def test_changed_details_update_the_participants_copy(feedback_app, world):
    event = world.event()
    session = world.session(event)
    person = world.person(event, confirmed=[session], language="en", country="BE", city="Liège")
    assert details_changed(
        world, event, person, language="nl", country="nl", city=" Utrecht ", role="researcher"
    )
    with feedback_app.app_context():
        row = db.session.get(Participant, person.registration_id)
        assert (row.language, row.country, row.city, row.role) == (
            "nl",
            "NL",
            "Utrecht",
            "researcher",
        )
        assert row.status == "active" and row.token_version == 1
    assert attendees(feedback_app, event, session) == 1  # seats untouched


def test_changed_details_are_applied_once(feedback_app, world):
    event = world.event()
    person = world.person(event, language="en")
    event_id = new_id()
    payload = {"event": event, "participant": {**person.info, "language": "fr"}}
    assert world.deliver(TaskNames.DETAILS_CHANGED, payload, event_id=event_id) is True
    assert world.deliver(TaskNames.DETAILS_CHANGED, payload, event_id=event_id) is False
    assert count(feedback_app, ProcessedEvent, ProcessedEvent.event_id == event_id) == 1


def test_changed_details_do_not_bring_an_erased_person_back(feedback_app, world):
    event = world.event()
    session = world.session(event)
    person = world.person(event, confirmed=[session])
    world.deliver(
        TaskNames.ERASED,
        {"registration_id": person.registration_id, "event_slug": event["slug"]},
    )
    assert details_changed(world, event, person, city="Gent")  # consumed, and ignored
    assert (
        count(feedback_app, Participant, Participant.registration_id == person.registration_id) == 0
    )
    assert attendees(feedback_app, event, session) == 0
