"""The audit trail of every service: a change and a read each leave one entry (and a refused
change none), no entry holds a name or an address, who may read which entries, the page, and
the purge of entries past their retention."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.notifier.models import Message
from services.registration import organisers
from services.registration.models import AuditEntry
from shared import audit
from shared.auth import hash_token
from shared.contracts import OwnTasks, TaskNames
from shared.db import utcnow
from shared.pages import ORGANISER_COOKIE
from tests.feedback import conftest as feedback_fixtures
from tests.feedback.helpers import THEME
from tests.helpers import ORGANISER_TOKEN, bearer
from tests.notifier import conftest as notifier_fixtures
from tests.notifier.conftest import Messages

ADMIN = bearer(ORGANISER_TOKEN)

# The feedback service's and the notifier's own fixtures, for journeys through the services.
feedback_db = feedback_fixtures.feedback_db
feedback_settings = feedback_fixtures.feedback_settings
feedback_app = feedback_fixtures.feedback_app
feedback_client = feedback_fixtures.feedback_client
world = feedback_fixtures.world
smtp = notifier_fixtures.smtp
broker = notifier_fixtures.broker
notifier_db = notifier_fixtures.notifier_db
notifier_settings = notifier_fixtures.notifier_settings
notifier_app = notifier_fixtures.notifier_app
notifier_client = notifier_fixtures.notifier_client
run_task = notifier_fixtures.run_task


def trail(app: Any) -> list[dict[str, Any]]:
    """Every entry of a service's trail, oldest first, as plain values."""
    trail_of_app = app.extensions["audit"]
    with app.app_context():
        rows = trail_of_app.database.session.scalars(
            select(trail_of_app.model).order_by(trail_of_app.model.id)
        ).all()
        return [
            {"actor": r.actor, "action": r.action, "target": r.target, "event": r.event, "at": r.at}
            for r in rows
        ]


def without_time(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["actor"], e["action"], e["target"], e["event"]) for e in entries]


def account_token(app: Any, role: str, event: str) -> str:
    """A token of a new account with one role on one event (or `*`)."""
    from services.registration.extensions import db

    with app.app_context():
        n = len(organisers.list_accounts(db.session)) + 1
        account = organisers.create_account(db.session, f"organiser{n}@example.org", f"Org {n}")
        organisers.set_roles(db.session, account, [{"event": event, "role": role}])
        _row, token = organisers.issue_token(db.session, account, "tests")
        db.session.commit()
    return token


def sign_in(app: Any, client: Any) -> None:
    """Signed in on the pages as with ORGANISER_TOKEN (a session in Redis, as the form starts)."""
    session_id = app.extensions["organiser_sessions"].start(
        "organiser-token", 600, hash_token(ORGANISER_TOKEN)
    )
    client.set_cookie(ORGANISER_COOKIE, session_id)


# --- a change, a read ---------------------------------------------------------------------------


def test_a_change_leaves_one_entry_with_who_what_on_what_and_which_event(
    registration_app, registration_client, make_event, make_session
):
    slug = make_event()["slug"]
    make_session(slug, code="S1", capacity=10)
    before = len(trail(registration_app))

    response = registration_client.patch(
        f"/api/v1/events/{slug}/sessions/S1", json={"capacity": 20}, headers=ADMIN
    )

    assert response.status_code == 200
    entries = trail(registration_app)
    assert without_time(entries[before:]) == [
        ("organiser-token", "programme.session_changed", "S1", slug)
    ]
    assert abs(entries[-1]["at"] - utcnow()) < timedelta(minutes=1)
    assert without_time(entries[:before]) == [
        ("organiser-token", "programme.event_created", slug, slug),
        ("organiser-token", "programme.session_created", "S1", slug),
    ]


def test_a_refused_change_leaves_no_entry(
    registration_app, registration_client, make_event, make_session, register
):
    slug = make_event()["slug"]
    make_session(slug, code="S1", capacity=2)
    register(slug, ["S1"])
    before = trail(registration_app)

    response = registration_client.patch(
        f"/api/v1/events/{slug}/sessions/S1", json={"capacity": 0}, headers=ADMIN
    )

    assert response.status_code == 409
    assert trail(registration_app) == before


def test_a_read_of_the_registrations_leaves_one_entry_json_and_csv_apart(
    registration_app, registration_client, make_event
):
    slug = make_event()["slug"]
    before = len(trail(registration_app))

    listed = registration_client.get(f"/api/v1/events/{slug}/registrations", headers=ADMIN)
    assert listed.status_code == 200
    assert without_time(trail(registration_app)[before:]) == [
        ("organiser-token", "participants.list_read", slug, slug)
    ]
    as_csv = registration_client.get(
        f"/api/v1/events/{slug}/registrations?format=csv", headers=ADMIN
    )
    assert as_csv.status_code == 200
    assert without_time(trail(registration_app)[before + 1 :]) == [
        ("organiser-token", "participants.csv_read", slug, slug)
    ]
    # A refused read (no such event) is no read.
    missing = registration_client.get("/api/v1/events/nope/registrations", headers=ADMIN)
    assert missing.status_code == 404
    assert len(trail(registration_app)) == before + 2


def test_the_entry_names_the_account_that_acted(registration_app, registration_client, make_event):
    slug = make_event()["slug"]
    token = account_token(registration_app, "manager", slug)
    response = registration_client.get(
        f"/api/v1/events/{slug}/registrations", headers=bearer(token)
    )
    assert response.status_code == 200
    from services.registration.extensions import db

    with registration_app.app_context():
        account = organisers.account_of_token(db.session, token)
        assert account is not None
        account_id = account.id
    assert without_time(trail(registration_app)[-1:]) == [
        (account_id, "participants.list_read", slug, slug)
    ]


def test_feedback_records_recommendations_and_reads_of_its_rows(
    feedback_app, feedback_client, world
):
    event = world.event()
    world.session(event)
    slug = event["slug"]
    created = feedback_client.post(
        f"/api/v1/events/{slug}/recommendations",
        json={"theme": THEME, "text": "Fund local prevention."},
        headers=ADMIN,
    )
    assert created.status_code == 201
    exported = feedback_client.get(f"/api/v1/events/{slug}/feedback?format=csv", headers=ADMIN)
    assert exported.status_code == 200

    assert without_time(trail(feedback_app)) == [
        ("organiser-token", "recommendations.created", str(created.get_json()["id"]), slug),
        ("organiser-token", "feedback.export_read", slug, slug),
    ]
    listed = feedback_client.get("/api/v1/audit", headers=ADMIN).get_json()
    assert [e["action"] for e in listed] == ["feedback.export_read", "recommendations.created"]


def test_the_notifier_records_a_resend(notifier_app, notifier_client, run_task, smtp):
    person = Messages()
    run_task(TaskNames.REGISTERED, **person.registered())
    smtp.mode = "refuse"
    from services.notifier.extensions import db

    with notifier_app.app_context():
        (message_id,) = db.session.scalars(select(Message.id)).all()
    run_task(OwnTasks.DELIVER, message_id=message_id)
    with notifier_app.app_context():
        assert db.session.get(Message, message_id).status == "failed"

    response = notifier_client.post(f"/api/v1/messages/{message_id}/resend", headers=ADMIN)

    assert response.status_code == 202
    assert without_time(trail(notifier_app)) == [
        ("organiser-token", "messages.resent", message_id, "sdc-brussels")
    ]


# --- no personal data --------------------------------------------------------------------------


def test_no_name_or_address_in_any_entry_after_a_whole_journey(
    registration_app,
    registration_client,
    make_event,
    make_session,
    register,
    notifier_app,
    notifier_client,
    run_task,
    smtp,
):
    slug = make_event()["slug"]
    make_session(slug, code="S1", capacity=1)
    email, name = "ana.dupont@example.org", "Ana Dupont"
    assert register(slug, ["S1"], email=email, name=name).status_code == 201
    assert register(slug, ["S1"], email="ben@example.org", name="Ben Martens").status_code == 201
    registration_client.get(f"/api/v1/events/{slug}/registrations", headers=ADMIN)
    registration_client.get(f"/api/v1/events/{slug}/registrations?format=csv", headers=ADMIN)
    sign_in(registration_app, registration_client)
    assert registration_client.get(f"/organiser/events/{slug}").status_code == 200
    assert registration_client.get(f"/organiser/events/{slug}/registrations.csv").status_code == 200

    person = Messages(email=email, name=name)
    run_task(TaskNames.REGISTERED, **person.registered())
    log = notifier_client.get("/api/v1/messages", query_string={"to": email}, headers=ADMIN)
    (message,) = log.get_json()
    assert (
        notifier_client.get(f"/api/v1/messages/{message['id']}", headers=ADMIN).status_code == 200
    )
    sign_in(notifier_app, notifier_client)
    assert notifier_client.get("/messages", query_string={"to": email}).status_code == 200
    assert notifier_client.get(f"/messages/{message['id']}").status_code == 200

    registration_trail, notifier_trail = trail(registration_app), trail(notifier_app)
    assert [e["action"] for e in registration_trail] == [
        "programme.event_created",
        "programme.session_created",
        "participants.list_read",
        "participants.csv_read",
        "participants.list_read",
        "participants.csv_read",
    ]
    assert without_time(notifier_trail) == [
        ("organiser-token", "messages.log_read", None, None),
        ("organiser-token", "messages.message_read", message["id"], "sdc-brussels"),
        ("organiser-token", "messages.log_read", None, None),
        ("organiser-token", "messages.message_read", message["id"], "sdc-brussels"),
    ]
    dumped = json.dumps(registration_trail + notifier_trail, default=str).lower()
    for personal in (email, name, "ana", "dupont", "ben", "martens", "example.org"):
        assert personal.lower() not in dumped


# --- who reads the trail -------------------------------------------------------------------------


@pytest.fixture
def two_events(make_event, make_session) -> tuple[str, str]:
    """Events A and B, each with a session: entries on both, made by ORGANISER_TOKEN."""
    first, second = make_event()["slug"], make_event()["slug"]
    make_session(first, code="A1")
    make_session(second, code="B1")
    return first, second


def test_a_manager_reads_the_entries_of_their_events_only(
    registration_app, registration_client, two_events
):
    first, second = two_events
    token = account_token(registration_app, "manager", first)
    # An entry about no event (the dead letters read) is for those who hold every event.
    registration_client.get("/api/v1/dead-letters", headers=ADMIN)

    mine = registration_client.get("/api/v1/audit", headers=bearer(token))
    assert mine.status_code == 200
    assert {e["event"] for e in mine.get_json()} == {first}
    assert [e["action"] for e in mine.get_json()] == [
        "programme.session_created",
        "programme.event_created",
    ]
    assert mine.get_json()[0] == {
        "at": mine.get_json()[0]["at"],
        "actor": "organiser-token",
        "action": "programme.session_created",
        "target": "A1",
        "event": first,
    }
    filtered = registration_client.get(f"/api/v1/audit?event={first}", headers=bearer(token))
    assert filtered.get_json() == mine.get_json()

    other = registration_client.get(f"/api/v1/audit?event={second}", headers=bearer(token))
    assert other.status_code == 403
    assert other.get_json()["code"] == 403


def test_an_admin_reads_every_entry_and_one_without_audit_rights_none(
    registration_app, registration_client, two_events
):
    first, second = two_events
    registration_client.get("/api/v1/dead-letters", headers=ADMIN)

    every = registration_client.get("/api/v1/audit", headers=ADMIN).get_json()
    assert {e["event"] for e in every} == {first, second, None}
    assert every[0]["action"] == "dead_letters.list_read"  # newest first
    only_b = registration_client.get(f"/api/v1/audit?event={second}", headers=ADMIN).get_json()
    assert {e["event"] for e in only_b} == {second} and len(only_b) == 2

    rapporteur = account_token(registration_app, "rapporteur", first)
    assert registration_client.get("/api/v1/audit", headers=bearer(rapporteur)).status_code == 403
    assert registration_client.get("/api/v1/audit").status_code == 401
    assert registration_client.get("/api/v1/audit", headers=bearer("nope")).status_code == 401


def test_the_trail_filters_by_action_moment_and_count(registration_client, two_events):
    first, second = two_events
    created = registration_client.get(
        "/api/v1/audit?action=programme.event_created", headers=ADMIN
    ).get_json()
    assert [e["target"] for e in created] == [second, first]
    newest = registration_client.get("/api/v1/audit?limit=1", headers=ADMIN).get_json()
    assert [(e["action"], e["target"]) for e in newest] == [("programme.session_created", "B1")]
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    after = registration_client.get("/api/v1/audit", query_string={"since": later}, headers=ADMIN)
    assert after.status_code == 200 and after.get_json() == []
    for bad in ("limit=0", "limit=1001", "since=yesterday", "event="):
        assert registration_client.get(f"/api/v1/audit?{bad}", headers=ADMIN).status_code == 422


def test_every_service_serves_its_trail_in_its_openapi_document(
    registration_client, feedback_client, notifier_client
):
    for client in (registration_client, feedback_client, notifier_client):
        assert client.get("/api/v1/audit", headers=ADMIN).status_code == 200
        assert "get" in client.get("/openapi.json").get_json()["paths"]["/api/v1/audit"]


# --- the page ------------------------------------------------------------------------------------


def test_the_page_shows_the_entries_in_the_readers_language(
    registration_app, registration_client, two_events
):
    first, second = two_events
    page = registration_client.get("/organiser/audit")
    assert page.status_code == 302 and "next=" in page.headers["Location"]

    sign_in(registration_app, registration_client)
    french = registration_client.get("/organiser/audit?lang=fr").get_data(as_text=True)
    assert "Journal d’audit" in french and "programme.session_created" in french
    assert "Session ajoutée" in french
    assert f"<code>{first}</code>" in french and f"<code>{second}</code>" in french

    assert 'href="/organiser/audit"' in registration_client.get("/organiser").get_data(as_text=True)
    only_first = registration_client.get(f"/organiser/audit?event={first}").get_data(as_text=True)
    assert f"<code>{first}</code>" in only_first and f"<code>{second}</code>" not in only_first


# --- retention -----------------------------------------------------------------------------------


def test_the_purge_deletes_entries_past_their_retention_only(registration_app):
    from services.registration.extensions import db

    now = utcnow()
    with registration_app.app_context():
        db.session.add_all(
            [
                AuditEntry(at=now - timedelta(days=731), actor="a", action="old.one"),
                AuditEntry(at=now - timedelta(days=729), actor="a", action="kept.one"),
                AuditEntry(at=now, actor="a", action="kept.two"),
            ]
        )
        db.session.commit()
        assert audit.purge_expired() == 1

    assert [e["action"] for e in trail(registration_app)] == ["kept.one", "kept.two"]
    with registration_app.app_context():
        assert audit.purge(db.session, AuditEntry, now - timedelta(days=1)) == 1
        db.session.commit()
    assert [e["action"] for e in trail(registration_app)] == ["kept.two"]


def test_the_purge_command_follows_the_retention_setting(registration_app):
    from services.registration.extensions import db

    with registration_app.app_context():
        db.session.add(AuditEntry(at=utcnow() - timedelta(days=800), actor="a", action="old"))
        db.session.commit()
    result = registration_app.test_cli_runner().invoke(args=["audit", "purge"])
    assert result.exit_code == 0, result.output
    assert "1 audit entries older than 730 days deleted" in result.output
    assert trail(registration_app) == []


def test_account_changes_are_recorded_by_account_id_for_admins_only(
    registration_app, registration_client, make_event
):
    slug = make_event()["slug"]
    created = registration_client.post(
        "/api/v1/organisers",
        json={"email": "rapporteur@example.org", "name": "Rita Rapporteur", "language": "fr"},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.get_json()
    account_id = created.get_json()["id"]
    base = f"/api/v1/organisers/{account_id}"
    roles = {"roles": [{"event": slug, "role": "manager"}]}
    assert registration_client.put(f"{base}/roles", json=roles, headers=ADMIN).status_code == 200
    issued = registration_client.post(f"{base}/tokens", json={"name": "script"}, headers=ADMIN)
    assert issued.status_code == 201
    manager = bearer(issued.get_json()["token"])
    assert {e["event"] for e in registration_client.get("/api/v1/audit", headers=manager).json} == {
        slug
    }
    token_id = issued.get_json()["id"]
    revoked = registration_client.delete(f"{base}/tokens/{token_id}", headers=ADMIN)
    assert revoked.status_code in (200, 204)
    assert registration_client.delete(base, headers=ADMIN).status_code in (200, 204)

    entries = trail(registration_app)[1:]  # after the event's creation
    assert without_time(entries) == [
        ("organiser-token", action, account_id, None)
        for action in (
            "organisers.account_created",
            "organisers.roles_changed",
            "organisers.token_created",
            "organisers.token_revoked",
            "organisers.account_disabled",
        )
    ]
    dumped = json.dumps(entries, default=str).lower()
    assert "rapporteur@" not in dumped and "rita" not in dumped


@pytest.mark.parametrize(
    ("service", "loop"),
    [
        ("registration", ["expire-holds", "--once"]),
        ("feedback", ["invite-loop", "--once"]),
        ("notifier", ["sweep", "--once"]),
    ],
)
def test_each_services_periodic_loop_purges_its_trail(service, loop, backend, request):
    app = request.getfixturevalue(f"{service}_app")
    model = app.extensions["audit"].model
    with app.app_context():
        session = app.extensions["audit"].database.session
        session.add(model(at=utcnow() - timedelta(days=800), actor="a", action="old"))
        session.add(model(at=utcnow(), actor="a", action="new"))
        session.commit()
    result = app.test_cli_runner().invoke(args=loop)
    assert result.exit_code == 0, result.output
    assert [e["action"] for e in trail(app)] == ["new"]
