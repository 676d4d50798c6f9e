"""Delivery, in this process, against a real SMTP server: once, retried, or failed for good."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import func, select, update

from services.notifier import delivery, messages
from services.notifier.emails import message_id
from services.notifier.extensions import db
from services.notifier.mailer import Mailer
from services.notifier.models import (
    FAILED,
    QUEUED,
    RETRYING,
    SENT,
    DeadLetter,
    ErasedRegistration,
    Message,
    Outbox,
    Recipient,
)
from shared import contracts
from shared.contracts import OwnTasks, Queues, TaskNames
from shared.db import utcnow
from shared.errors import RuleError
from tests.notifier.conftest import Messages, Received, all_text, queued


def rows(app: Any) -> list[Message]:
    with app.app_context():
        return list(db.session.scalars(select(Message).order_by(Message.created_at)).all())


def one_row(app: Any) -> Message:
    (row,) = rows(app)
    return row


def queued_deliveries(broker: Any) -> list[str]:
    """The message ids of the `notifier.deliver` tasks waiting in Redis."""
    return [
        m["kwargs"]["message_id"]
        for m in queued(broker, Queues.NOTIFIER_DELIVERY)
        if m["task"] == OwnTasks.DELIVER
    ]


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_registration_queues_its_confirmation_then_one_delivery_sends_it(
    notifier_app, run_task, smtp, broker, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    assert (row.status, row.template, row.language, row.to_address) == (
        QUEUED,
        "confirmation",
        "fr",
        ana.email,
    )
    assert queued_deliveries(broker) == [row.id]  # queued once the event was committed

    run_task(OwnTasks.DELIVER, message_id=row.id)
    (received,) = smtp.received
    assert received.rcpt_tos == [ana.email]
    email = received.message
    assert email["Subject"] == "Votre inscription à Sécurité, démocratie et villes"
    assert email["Message-ID"] == row.message_id == message_id(row.key, "x <no-reply@agora.test>")
    assert email["Auto-Submitted"] == "auto-generated"
    assert "Bonjour Ana Dupont" in email.get_body(("plain",)).get_content()
    assert "Bonjour Ana Dupont" in email.get_body(("html",)).get_content()
    (attachment,) = list(email.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert len(Calendar.from_ical(attachment.get_content()).walk("VEVENT")) == 1
    sent = one_row(notifier_app)
    assert (sent.status, sent.attempts, sent.last_error) == (SENT, 1, None)
    assert sent.sent_at is not None
    assert sent.mime == b""  # once sent, the copy holding the personal link is dropped


def test_the_same_event_twice_makes_one_message_and_a_second_delivery_sends_nothing(
    notifier_app, run_task, smtp, ana
):
    message = ana.registered()
    run_task(TaskNames.REGISTERED, **message)
    run_task(TaskNames.REGISTERED, **message)  # delivered twice by the broker
    row = one_row(notifier_app)
    run_task(OwnTasks.DELIVER, message_id=row.id)
    run_task(OwnTasks.DELIVER, message_id=row.id)
    assert len(smtp.received) == 1
    assert one_row(notifier_app).attempts == 1


def test_two_workers_delivering_the_same_message_at_once_send_it_once(
    notifier_app, run_task, smtp, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    policy = notifier_app.extensions["retry_policy"]
    mailers = [Mailer(notifier_app.extensions["mailer"].config) for _ in range(4)]
    start = threading.Barrier(len(mailers))

    def worker(mailer: Mailer) -> None:
        start.wait()
        delivery.deliver(db, mailer, policy, row.id)

    threads = [threading.Thread(target=worker, args=(mailer,)) for mailer in mailers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for mailer in mailers:
        mailer.close()
    assert len(smtp.received) == 1
    assert (one_row(notifier_app).status, one_row(notifier_app).attempts) == (SENT, 1)


def test_smtp_down_the_message_is_retrying_then_delivered_once_the_server_is_back(
    notifier_app, run_task, smtp, broker, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    smtp.stop()
    run_task(OwnTasks.DELIVER, message_id=row.id)
    retrying = one_row(notifier_app)
    assert (retrying.status, retrying.attempts) == (RETRYING, 1)
    assert "ConnectionRefused" in (retrying.last_error or "")
    assert retrying.next_attempt_at > utcnow()
    assert queued_deliveries(broker) == [row.id, row.id]  # the first, and its retry

    smtp.start()
    wait_until(lambda: one_row(notifier_app).next_attempt_at <= utcnow())
    run_task(OwnTasks.DELIVER, message_id=row.id)
    assert len(smtp.wait_for(1)) == 1
    delivered = one_row(notifier_app)
    assert (delivered.status, delivered.attempts) == (SENT, 2)


def test_a_4xx_reply_is_temporary(notifier_app, run_task, smtp, ana):
    run_task(TaskNames.REGISTERED, **ana.registered())
    smtp.mode = "defer"
    run_task(OwnTasks.DELIVER, message_id=one_row(notifier_app).id)
    row = one_row(notifier_app)
    assert row.status == RETRYING
    assert "451" in row.last_error


def test_a_recipient_refused_with_550_is_failed_and_never_retried(
    notifier_app, run_task, smtp, broker, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    smtp.mode = "refuse"
    run_task(OwnTasks.DELIVER, message_id=row.id)
    failed = one_row(notifier_app)
    assert (failed.status, failed.attempts) == (FAILED, 1)
    assert "550" in failed.last_error
    assert ana.email not in failed.last_error  # the server quoted it; we keep it out
    assert queued_deliveries(broker) == [row.id]  # no retry was queued
    smtp.mode = "accept"
    run_task(OwnTasks.DELIVER, message_id=row.id)
    assert smtp.received == [] and one_row(notifier_app).attempts == 1


def test_backoff_doubles_with_jitter_up_to_its_cap():
    policy = delivery.RetryPolicy(base_seconds=30, max_seconds=3600)
    assert [policy.delay(n, lambda: 1.0) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert [policy.delay(n, lambda: 0.0) for n in (1, 2, 3)] == [15, 30, 60]
    assert policy.delay(50, lambda: 1.0) == 3600


def test_a_message_failing_for_longer_than_the_retry_window_is_given_up(
    notifier_app, run_task, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    policy = delivery.RetryPolicy(give_up_seconds=12 * 3600)
    start = utcnow()
    with db.transaction() as session:
        assert delivery.claim(session, row.id, policy, start) is not None
        outcome = delivery.record_failure(session, row.id, "timeout", False, policy, start)
    assert outcome.status == RETRYING
    later = start + timedelta(hours=12, seconds=1)
    with db.transaction() as session:
        assert delivery.claim(session, row.id, policy, later) is not None
        outcome = delivery.record_failure(session, row.id, "timeout", False, policy, later)
    assert outcome == delivery.Outcome(FAILED)
    assert one_row(notifier_app).last_error == "gave up after 2 attempts: timeout"


def test_a_retry_is_not_attempted_before_its_time(notifier_app, run_task, ana):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    policy, now = delivery.RetryPolicy(base_seconds=60), utcnow()
    with db.transaction() as session:
        assert delivery.claim(session, row.id, policy, now) is not None
        outcome = delivery.record_failure(session, row.id, "timeout", False, policy, now, lambda: 0)
        assert outcome == delivery.Outcome(RETRYING, 30.0)
        assert delivery.claim(session, row.id, policy, now + timedelta(seconds=20)) is None
        assert delivery.claim(session, row.id, policy, now + timedelta(seconds=30)) is not None


def test_a_claim_held_by_a_crashed_worker_lapses_after_its_lease(notifier_app, run_task, ana):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    policy, now = delivery.RetryPolicy(lease_seconds=300), utcnow()
    with db.transaction() as session:
        assert delivery.claim(session, row.id, policy, now) is not None
        assert delivery.claim(session, row.id, policy, now + timedelta(seconds=10)) is None
        assert delivery.claim(session, row.id, policy, now + timedelta(seconds=301)) is not None


def test_the_sweeper_queues_a_message_whose_task_was_lost(
    notifier_app, run_task, smtp, broker, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    broker.delete(Queues.NOTIFIER_DELIVERY)  # as if the worker died between commit and queuing
    with db.transaction() as session:
        session.execute(update(Message).values(next_attempt_at=utcnow() - timedelta(minutes=5)))
    runner = notifier_app.test_cli_runner()
    result = runner.invoke(args=["sweep", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 message(s) queued again" in result.output
    assert queued_deliveries(broker) == [row.id]
    assert runner.invoke(args=["sweep", "--once"]).output.startswith("0 ")  # not twice
    run_task(OwnTasks.DELIVER, message_id=row.id)
    assert len(smtp.received) == 1


def test_every_event_sends_its_email(notifier_app, run_task, smtp, ana):
    for name in (
        TaskNames.REGISTERED,
        TaskNames.SEAT_CONFIRMED,
        TaskNames.SEAT_WAITLISTED,
        TaskNames.SEAT_PROMOTED,
        TaskNames.SEAT_RELEASED,
        TaskNames.CANCELLED,
        TaskNames.LINK_REQUESTED,
        TaskNames.FEEDBACK_INVITATION,
    ):
        run_task(name, **ana.for_event(name))
    for row in rows(notifier_app):
        run_task(OwnTasks.DELIVER, message_id=row.id)
    templates = sorted(row.template for row in rows(notifier_app))
    assert templates == sorted(
        [
            "confirmation",
            "seat_confirmed",
            "waitlisted",
            "promoted",
            "seat_released",
            "cancelled",
            "manage_link",
            "feedback_invitation",
        ]
    )
    assert {row.status for row in rows(notifier_app)} == {SENT}
    subjects = [received.message["Subject"] for received in smtp.wait_for(8)]
    assert "Vous avez quitté «\u00a0Visite : le Centre régional de crise\u00a0»" in subjects


def test_a_cancellation_names_the_released_sessions_seen_in_earlier_events(
    notifier_app, run_task, smtp, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    run_task(TaskNames.CANCELLED, **ana.cancelled(("T1", "FV1")))
    cancelled = next(row for row in rows(notifier_app) if row.template == "cancelled")
    text = Received("", [], cancelled.mime).message.get_body(("plain",)).get_content()
    assert "Criminalité organisée et trafic de drogue" in text
    assert "Visite : le Centre régional de crise" in text


def test_a_feedback_invitation_for_an_unknown_participant_is_failed_without_retry(
    notifier_app, run_task, broker, ana
):
    run_task(TaskNames.FEEDBACK_INVITATION, **ana.feedback_invitation())
    row = one_row(notifier_app)
    assert (row.status, row.last_error, row.to_address) == (FAILED, "unknown recipient", "")
    assert queued_deliveries(broker) == []


def test_the_feedback_invitation_goes_to_the_address_the_registration_events_gave(
    notifier_app, run_task, smtp, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    run_task(TaskNames.FEEDBACK_INVITATION, **ana.feedback_invitation())
    invitation = next(row for row in rows(notifier_app) if row.template == "feedback_invitation")
    run_task(OwnTasks.DELIVER, message_id=invitation.id)
    (received,) = smtp.received
    assert received.rcpt_tos == [ana.email]
    assert "http://feedback.test/rate/" in received.message.get_body(("plain",)).get_content()


def test_an_older_event_arriving_late_does_not_undo_a_newer_change(notifier_app, run_task, ana):
    first = ana.registered()
    ana.email, ana.language = "ana.new@example.org", "nl"
    newer = ana.link_requested()
    run_task(TaskNames.LINK_REQUESTED, **newer)
    run_task(TaskNames.REGISTERED, **first)
    with notifier_app.app_context():
        recipient = db.session.get(Recipient, ana.registration_id)
        assert (recipient.email, recipient.language) == ("ana.new@example.org", "nl")


def test_changed_details_send_the_next_email_to_the_new_address_in_the_new_language(
    notifier_app, run_task, smtp, broker, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    ana.email, ana.name, ana.language = "ana.new@example.org", "Ana Dupont-Peeters", "nl"
    changed = ana.details_changed()
    run_task(TaskNames.DETAILS_CHANGED, **changed)
    run_task(TaskNames.DETAILS_CHANGED, **changed)  # delivered twice: acted on once
    assert [row.template for row in rows(notifier_app)] == ["confirmation"]  # no email of its own

    run_task(TaskNames.FEEDBACK_INVITATION, **ana.feedback_invitation())
    invitation = next(row for row in rows(notifier_app) if row.template == "feedback_invitation")
    assert (invitation.to_address, invitation.language) == ("ana.new@example.org", "nl")
    run_task(OwnTasks.DELIVER, message_id=invitation.id)
    (received,) = smtp.received
    assert received.rcpt_tos == ["ana.new@example.org"]
    email = received.message
    assert email["Subject"] == "Hoe was ‘Georganiseerde misdaad en drugshandel’? Geef ons uw mening"
    assert "Beste Ana Dupont-Peeters," in email.get_body(("plain",)).get_content()
    assert email["From"].addresses[0].display_name == "Veiligheid, democratie en steden"


def test_changed_details_arriving_before_a_later_event_do_not_undo_it(notifier_app, run_task, ana):
    ana.language = "en"
    older = ana.details_changed()
    ana.language = "nl"
    run_task(TaskNames.LINK_REQUESTED, **ana.link_requested())
    run_task(TaskNames.DETAILS_CHANGED, **older)
    with notifier_app.app_context():
        assert db.session.get(Recipient, ana.registration_id).language == "nl"


def test_changed_details_after_erasure_bring_nobody_back(notifier_app, run_task, ana):
    run_task(TaskNames.REGISTERED, **ana.registered())
    late = ana.details_changed()
    run_task(TaskNames.ERASED, **ana.erased())
    ana.email = "ana.new@example.org"
    run_task(TaskNames.DETAILS_CHANGED, **late)
    run_task(TaskNames.DETAILS_CHANGED, **ana.details_changed())
    with notifier_app.app_context():
        assert db.session.scalars(select(Recipient)).all() == []
    dump = all_text(notifier_app)
    assert "ana.dupont@example.org" not in dump and "ana.new@example.org" not in dump
    assert "Ana Dupont" not in dump


def test_a_message_breaking_its_contract_is_a_dead_letter_with_the_reason(
    notifier_app, run_task, broker, ana
):
    bad = ana.registered()
    bad["participant"]["language"] = "de"
    del bad["seats"]
    run_task(TaskNames.REGISTERED, **bad)
    with notifier_app.app_context():
        letter = db.session.scalar(select(DeadLetter))
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    assert letter.error.startswith("contract: registration.registered")
    assert "seats" in letter.error and "language" in letter.error
    assert ana.email not in letter.error
    assert letter.subject == bad["participant"]["registration_id"]
    assert queued_deliveries(broker) == []


# --- erasure -------------------------------------------------------------------------------------


def test_erasure_leaves_no_trace_of_the_address_or_name_and_is_confirmed(
    notifier_app, run_task, smtp, ana
):
    from services.notifier import catcher

    ben = Messages(email="ben.martens@example.org", name="Ben Martens", language="nl")
    for person in (ana, ben):
        run_task(TaskNames.REGISTERED, **person.registered())
        run_task(TaskNames.LINK_REQUESTED, **person.link_requested())
    for row in rows(notifier_app):
        run_task(OwnTasks.DELIVER, message_id=row.id)
    for received in smtp.wait_for(4):  # as the local mail catcher would keep them
        catcher.store(db, received.mail_from, received.rcpt_tos, received.raw)
    smtp.mode = "refuse"
    run_task(TaskNames.REGISTERED, **ana.registered())  # a failed one too, with its error
    run_task(OwnTasks.DELIVER, message_id=rows(notifier_app)[-1].id)
    assert ana.email in all_text(notifier_app)

    run_task(TaskNames.ERASED, **ana.erased())
    text = all_text(notifier_app)
    for trace in (ana.email, "Ana Dupont", "ana.dupont"):
        assert trace not in text
    assert ben.email in text and "Ben Martens" in text  # only Ana is forgotten
    with notifier_app.app_context():
        (event,) = db.session.scalars(select(Outbox)).all()
        assert db.session.get(ErasedRegistration, ana.registration_id) is not None
    assert event.task_name == TaskNames.ERASURE_CONFIRMED
    confirmation = contracts.load(TaskNames.ERASURE_CONFIRMED, event.payload)
    assert confirmation["registration_id"] == ana.registration_id
    assert confirmation["service"] == "notifier"


def test_after_erasure_a_late_event_about_the_person_sends_nothing(
    notifier_app, run_task, broker, ana
):
    late = ana.seat(TaskNames.SEAT_PROMOTED)
    run_task(TaskNames.ERASED, **ana.erased())
    run_task(TaskNames.SEAT_PROMOTED, **late)
    assert rows(notifier_app) == []
    assert ana.email not in all_text(notifier_app)


def test_an_email_sent_while_its_person_was_erased_leaves_no_copy_in_the_catcher(
    notifier_app, run_task, smtp, ana
):
    from services.notifier import catcher

    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    policy = notifier_app.extensions["retry_policy"]
    erase_during_send = Mailer(notifier_app.extensions["mailer"].config)
    real_send = erase_during_send.send

    def send_then_erase(message: Any, to: str) -> None:
        real_send(message, to)
        catcher.store(db, "", [to], bytes(message))  # the catcher kept a copy
        run_task(TaskNames.ERASED, **ana.erased())  # meanwhile, the erasure ran

    erase_during_send.send = send_then_erase  # type: ignore[method-assign]
    delivery.deliver(db, erase_during_send, policy, row.id)
    erase_during_send.close()
    assert ana.email not in all_text(notifier_app)


@pytest.mark.parametrize("status", [QUEUED, SENT, RETRYING])
def test_only_failed_messages_can_be_resent(notifier_app, run_task, ana, status):
    run_task(TaskNames.REGISTERED, **ana.registered())
    row = one_row(notifier_app)
    with db.transaction() as session:
        session.execute(update(Message).values(status=status))
    with db.transaction() as session, pytest.raises(RuleError):
        messages.resend(session, row.id)


def test_events_handled_at_the_same_moment_by_several_workers_are_all_handled(
    notifier_app, run_task, ana
):
    """Same sessions, same person, in parallel: no primary-key clash rolls an event back."""
    people = [Messages(email=f"p{n}@example.org", name=f"P{n}") for n in range(6)]
    work = [(TaskNames.REGISTERED, person.registered()) for person in people]
    work += [(TaskNames.LINK_REQUESTED, people[0].link_requested()) for _ in range(3)]
    start = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def handle(name: str, message: dict[str, Any]) -> None:
        start.wait()
        try:
            run_task(name, **message)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    # As a worker does at start: bind every task before any runs (a lazy first bind races).
    notifier_app.extensions["celery"].finalize(auto=True)
    threads = [threading.Thread(target=handle, args=item) for item in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(rows(notifier_app)) == len(work)
    with notifier_app.app_context():
        assert len(db.session.scalars(select(Recipient)).all()) == len(people)


def test_export_request_is_answered_with_the_person_and_their_emails(notifier_app, run_task, ana):
    run_task(TaskNames.REGISTERED, **ana.registered())
    run_task(TaskNames.EXPORT_REQUESTED, **ana.export_requested("q" * 32))
    with notifier_app.app_context():
        (answer,) = db.session.scalars(
            select(Outbox).where(Outbox.task_name == TaskNames.EXPORT_PART)
        ).all()
    part = contracts.load(TaskNames.EXPORT_PART, answer.payload)
    assert part["request_id"] == "q" * 32 and part["service"] == "notifier"
    assert part["data"]["recipient"]["email"] == ana.email
    assert [email["template"] for email in part["data"]["emails"]] == ["confirmation"]

    run_task(TaskNames.ERASED, **ana.erased())  # the answer, not yet relayed, goes too
    with notifier_app.app_context():
        names = [row.task_name for row in db.session.scalars(select(Outbox)).all()]
    assert names == [TaskNames.ERASURE_CONFIRMED]
