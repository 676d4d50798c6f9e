"""Participant links that can be revoked ("send me a new link"), the limits on the public forms
(per client address, generous; per email address or registration, tight), and the personal
answers kept out of caches."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from services.registration.extensions import db
from services.registration.models import Outbox
from shared.contracts import TaskNames
from tests.helpers import bearer
from tests.registration.helpers import page


def address() -> str:
    """A client address no other test (nor an earlier run sharing this Redis) has used."""
    seed = uuid.uuid4().int
    return f"10.{seed % 250 + 1}.{(seed >> 8) % 250 + 1}.{(seed >> 16) % 250 + 1}"


def email() -> str:
    return f"who-{uuid.uuid4().hex[:12]}@example.org"


@pytest.fixture
def limited_client(settings, registration_db, slug) -> Any:
    """The registration service with its rate limits on, on the same database; created after
    the event (the limiter is the process's: the last app created sets it on or off)."""
    from services.registration.app import create_app

    changed = dataclasses.replace(
        settings, registration_database_url=registration_db, rate_limits_enabled=True
    )
    app = create_app({"TESTING": True, "SETTINGS": changed, "WTF_CSRF_ENABLED": False})
    return app.test_client()


@pytest.fixture
def slug(make_event) -> str:
    return str(make_event()["slug"])


@pytest.fixture
def token(register, slug) -> str:
    response = register(slug)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["manage_token"])


def link_events(registration_app) -> list[tuple[str, int]]:
    with registration_app.app_context():
        rows = db.session.scalars(select(Outbox).order_by(Outbox.seq)).all()
        return [
            (row.task_name, row.payload["participant"]["token_version"])
            for row in rows
            if row.task_name in (TaskNames.LINK_REQUESTED, TaskNames.DETAILS_CHANGED)
        ]


# --- "send me a new link" ----------------------------------------------------------------------


def test_a_new_link_from_the_api_revokes_the_old_one(registration_app, registration_client, token):
    response = registration_client.post("/api/v1/registrations/me/new-link", headers=bearer(token))
    assert response.status_code == 202, response.get_json()
    old = registration_client.get("/api/v1/registrations/me", headers=bearer(token))
    assert old.status_code == 401
    assert "no longer valid" in old.get_json()["message"]
    # The notifier emails version 2 (link_requested); feedback learns it (details_changed).
    assert link_events(registration_app) == [
        (TaskNames.DETAILS_CHANGED, 2),
        (TaskNames.LINK_REQUESTED, 2),
    ]
    new = registration_app.extensions["participant_tokens"].sign(
        tokens_claim(registration_app, token), 2
    )
    assert (
        registration_client.get("/api/v1/registrations/me", headers=bearer(new)).status_code == 200
    )


def tokens_claim(registration_app, token: str) -> str:
    claim = registration_app.extensions["participant_tokens"].verify(token)
    assert claim is not None
    return str(claim.registration_id)


def test_the_old_link_cannot_ask_for_another_new_link(registration_client, token):
    path = "/api/v1/registrations/me/new-link"
    assert registration_client.post(path, headers=bearer(token)).status_code == 202
    assert registration_client.post(path, headers=bearer(token)).status_code == 401


def test_a_new_link_from_the_page_shows_no_link_and_the_old_page_explains(
    registration_app, registration_client, token, slug
):
    manage = page(registration_client.get(f"/manage/{token}?lang=en"))
    assert "Send me a new link" in manage and f'action="/manage/{token}/new-link"' in manage

    answer = registration_client.post(f"/manage/{token}/new-link?lang=en")
    assert answer.status_code == 200
    body = page(answer)
    assert "A new link is on its way" in body and "no longer works" in body
    assert "/manage/" not in body  # never the new link, nor the old one in the language links
    assert answer.headers["Cache-Control"] == "no-store"

    gone = registration_client.get(f"/manage/{token}?lang=en")
    assert gone.status_code == 410
    assert "This link is no longer valid" in page(gone)
    assert f'href="/events/{slug}/resend-link"' in page(gone)
    assert link_events(registration_app)[-1] == (TaskNames.LINK_REQUESTED, 2)


def test_a_link_that_never_existed_is_still_a_404(registration_client, token):
    assert registration_client.get(f"/manage/{token}x").status_code == 404


def test_resend_my_link_says_it_does_not_revoke(registration_app, registration_client, token, slug):
    form = page(registration_client.get(f"/events/{slug}/resend-link?lang=en"))
    assert "the links you already have keep working" in form
    with registration_app.app_context():
        email_address = db.session.scalar(
            select(Outbox.payload).where(Outbox.task_name == TaskNames.REGISTERED)
        )["participant"]["email"]
    registration_client.post(f"/events/{slug}/resend-link", data={"email": email_address})
    assert registration_client.get(f"/manage/{token}").status_code == 200
    assert link_events(registration_app) == [(TaskNames.LINK_REQUESTED, 1)]


# --- limits ------------------------------------------------------------------------------------


def resend(client: Any, slug: str, who: str, client_address: str, api: bool = True) -> int:
    if api:
        path = f"/api/v1/events/{slug}/registrations/resend-link"
        response = client.post(
            path, json={"email": who}, environ_base={"REMOTE_ADDR": client_address}
        )
    else:
        path = f"/events/{slug}/resend-link"
        response = client.post(
            path, data={"email": who}, environ_base={"REMOTE_ADDR": client_address}
        )
    return int(response.status_code)


def test_resend_is_limited_per_address_whatever_the_client_and_the_form(limited_client, slug):
    who = email()
    statuses = [resend(limited_client, slug, who, address(), api=n % 2 == 0) for n in range(6)]
    assert statuses == [202, 200, 202, 200, 202, 429]
    # Written differently, the same address; another address is not concerned.
    assert resend(limited_client, slug, f"  {who.upper()} ", address()) == 429
    assert resend(limited_client, slug, email(), address()) == 202


def test_resend_allows_a_venue_behind_one_address(limited_client, slug):
    venue = address()
    statuses = [resend(limited_client, slug, email(), venue) for _ in range(300)]
    assert statuses == [202] * 300
    assert resend(limited_client, slug, email(), venue) == 429
    assert resend(limited_client, slug, email(), address()) == 202


def registration(who: str, n: int = 0) -> dict[str, Any]:
    return {
        "name": f"Person {n}",
        "email": who,
        "country": "BE",
        "role": "researcher",
        "language": "en",
        "consent": n % 2 == 0,  # every other attempt forgets the consent (422)
    }


def test_registering_is_limited_per_email_address(limited_client, slug):
    who = email()
    path = f"/api/v1/events/{slug}/registrations"
    statuses = [
        limited_client.post(
            path, json=registration(who, n), environ_base={"REMOTE_ADDR": address()}
        ).status_code
        for n in range(11)
    ]
    assert statuses[:10] == [201, 422] + [409, 422] * 4
    assert statuses[10] == 429
    other = limited_client.post(
        path, json=registration(email()), environ_base={"REMOTE_ADDR": address()}
    )
    assert other.status_code == 201


def test_new_links_are_limited_per_registration(limited_client, slug):
    response = limited_client.post(
        f"/api/v1/events/{slug}/registrations", json=registration(email()),
        environ_base={"REMOTE_ADDR": address()},
    )  # fmt: skip
    current = response.get_json()["manage_token"]
    app = limited_client.application
    registration_id = app.extensions["participant_tokens"].verify(current).registration_id
    statuses = []
    for version in range(1, 7):
        current = app.extensions["participant_tokens"].sign(registration_id, version)
        statuses.append(
            limited_client.post(
                "/api/v1/registrations/me/new-link",
                headers=bearer(current),
                environ_base={"REMOTE_ADDR": address()},
            ).status_code
        )
    assert statuses == [202] * 5 + [429]


# --- no-store -----------------------------------------------------------------------------------


def assert_private(response: Any) -> None:
    assert response.status_code < 400, (response.status_code, response.get_data(as_text=True))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_personal_answer_is_kept_out_of_caches(
    registration_client, organiser, register, slug, make_session
):
    make_session(slug, code="S1")
    created = register(slug, ["S1"])
    assert_private(created)  # it carries the manage link
    me = bearer(created.get_json()["manage_token"])
    assert_private(registration_client.get("/api/v1/registrations/me", headers=me))
    assert_private(registration_client.get("/api/v1/registrations/me/export", headers=me))
    assert_private(
        registration_client.get(f"/api/v1/events/{slug}/registrations", headers=organiser)
    )
    assert_private(
        registration_client.get(
            f"/api/v1/events/{slug}/registrations?format=csv", headers=organiser
        )
    )
    token = created.get_json()["manage_token"]
    assert_private(registration_client.get(f"/manage/{token}"))
    assert_private(registration_client.get(f"/manage/{token}/export"))
    registration_client.post(
        "/organiser/sign-in/token", data={"token": organiser["Authorization"][7:]}
    )
    assert_private(registration_client.get(f"/organiser/events/{slug}"))
    assert_private(registration_client.get(f"/organiser/events/{slug}/registrations.csv"))


def test_the_public_programme_may_be_cached(registration_client, slug):
    response = registration_client.get(f"/api/v1/events/{slug}/sessions")
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_manage_page_offers_the_new_link_in_every_language(registration_client, token):
    for language, label in (
        ("fr", "Envoyez-moi un nouveau lien"),
        ("nl", "Stuur me een nieuwe link"),
    ):
        body = page(registration_client.get(f"/manage/{token}?lang={language}"))
        assert re.search(rf">\s*{label}\s*<", body), language
