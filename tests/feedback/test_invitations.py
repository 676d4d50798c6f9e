"""Invitations to rate a session: once per attendee, however often and however many run it."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from services.feedback import invitations
from services.feedback.extensions import db
from services.feedback.models import Invitation, Outbox
from shared import contracts
from shared.contracts import TaskNames
from tests.helpers import now

DELAY = timedelta(minutes=10)


def invitation_events(app) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(
            select(Outbox).where(Outbox.task_name == TaskNames.FEEDBACK_INVITATION)
        ).all()
        return [contracts.load(row.task_name, row.payload) for row in rows]


def run_job(app, at=None) -> int:
    with app.app_context():
        return invitations.send_due_invitations(db, DELAY, now=at)


def test_attendees_are_invited_once_the_delay_has_passed(feedback_app, world):
    event = world.event()
    over = world.session(event, starts_at=now() - timedelta(hours=2))  # ended 30 minutes ago
    just_over = world.session(event, starts_at=now() - timedelta(minutes=95))  # 5 minutes ago
    people = [world.person(event, confirmed=[over, just_over]) for _ in range(3)]
    world.person(event, waitlisted=[over])

    assert run_job(feedback_app) == 3
    sent = invitation_events(feedback_app)
    assert sorted(m["registration_id"] for m in sent) == sorted(p.registration_id for p in people)
    assert {m["session"]["code"] for m in sent} == {over["code"]}
    assert sent[0]["event"]["slug"] == event["slug"]
    assert sent[0]["session"]["title_translations"] == over["title_translations"]

    assert run_job(feedback_app) == 0  # the job runs again a minute later: nothing new
    assert run_job(feedback_app, at=now() + timedelta(minutes=6)) == 3  # the second one is due
    assert len(invitation_events(feedback_app)) == 6


def test_nothing_is_sent_once_the_feedback_window_has_closed(feedback_app, world):
    event = world.event(feedback_closes_at=now() - timedelta(minutes=1))
    session = world.session(event, starts_at=now() - timedelta(days=2))
    world.person(event, confirmed=[session])
    assert run_job(feedback_app) == 0


def test_a_late_confirmed_attendee_is_invited_too(feedback_app, world):
    event = world.event()
    session = world.session(event)
    world.person(event, confirmed=[session])
    assert run_job(feedback_app) == 1
    world.person(event, confirmed=[session])
    assert run_job(feedback_app) == 1
    assert len(invitation_events(feedback_app)) == 2


def test_two_jobs_running_at_once_invite_each_attendee_once(feedback_app, world):
    event = world.event()
    sessions = [world.session(event) for _ in range(3)]
    for _ in range(40):
        world.person(event, confirmed=sessions)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def job() -> None:
        try:
            barrier.wait()
            counts.append(run_job(feedback_app))
        except BaseException as error:  # reported below, with the assertion
            errors.append(error)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) == 120
    sent = invitation_events(feedback_app)
    pairs = [(m["registration_id"], m["session"]["code"]) for m in sent]
    assert len(pairs) == len(set(pairs)) == 120
    with feedback_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Invitation)) == 120


def test_more_attendees_than_a_batch_are_all_invited(feedback_app, world, monkeypatch):
    monkeypatch.setattr(invitations, "INVITATION_BATCH", 7)
    event = world.event()
    session = world.session(event)
    for _ in range(20):
        world.person(event, confirmed=[session])
    assert run_job(feedback_app) == 20
    assert run_job(feedback_app) == 0


def test_the_periodic_command_runs_the_job(feedback_app, world):
    event = world.event()
    session = world.session(event)
    world.person(event, confirmed=[session])
    runner = feedback_app.test_cli_runner()
    result = runner.invoke(args=["invite-loop", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 invitation(s) written" in result.output
    result = runner.invoke(args=["invite-loop", "--once"])
    assert "0 invitation(s) written" in result.output
