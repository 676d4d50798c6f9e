"""The registration service's web pages: programme, form, manage page, organiser view, languages."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tests.helpers import ORGANISER_TOKEN, bearer
from tests.organisers import add_account, sign_in
from tests.registration.helpers import form, manage_path
from tests.registration.helpers import page as text

ROOT = Path(__file__).resolve().parents[2]
# The shared pages' catalogue and the registration service's own, each with its extraction.
CATALOGUES = {
    ROOT / "shared" / "translations": ROOT / "shared" / "babel.cfg",
    ROOT / "services" / "registration" / "translations": (
        ROOT / "services" / "registration" / "babel.cfg"
    ),
}
TOKEN_IN_URL = re.compile(r"/manage/([^/?]+)")


def register_form(registration_client, slug, **overrides):
    return registration_client.post(f"/events/{slug}/register", data=form(**overrides))


def registrations(registration_client, slug):
    response = registration_client.get(
        f"/api/v1/events/{slug}/registrations", headers=bearer(ORGANISER_TOKEN)
    )
    return response.get_json()


def local_start(days: int, hour: int, minute: int = 0) -> datetime:
    """A Brussels wall-clock time `days` from now, as an aware datetime."""
    day = datetime.now(ZoneInfo("Europe/Brussels")).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("Europe/Brussels"))


# --- programme -----------------------------------------------------------------------------------


def test_programme_shows_sessions_and_places_in_three_languages(
    registration_client, make_event, make_session, register
):
    event = make_event()
    slug = event["slug"]
    titles = {"fr": "Drogues et démocratie", "nl": "Drugs en democratie"}
    make_session(
        slug, code="TH1", title="Drugs and democracy", capacity=10, title_translations=titles
    )
    make_session(slug, code="PL1", title="Opening plenary", capacity=None, kind="plenary")
    make_session(slug, code="FV1", title="Crisis centre", capacity=1, kind="field_visit")
    register(slug, ["TH1", "FV1"])
    register(slug, ["FV1"])

    en = text(registration_client.get(f"/events/{slug}?lang=en"))
    assert "Drugs and democracy" in en and "9 places left" in en
    assert "unlimited" in en and "full – waiting list (1)" in en and "Field visit" in en

    fr = text(registration_client.get(f"/events/{slug}?lang=fr"))
    assert "Drogues et démocratie" in fr and "9 places restantes" in fr
    assert (
        "places illimitées" in fr
        and "complet – liste d’attente (1)" in fr
        and "Visite de terrain" in fr
    )

    nl = text(registration_client.get(f"/events/{slug}?lang=nl"))
    assert "Drugs en democratie" in nl and "nog 9 plaatsen vrij" in nl
    assert (
        "onbeperkt aantal plaatsen" in nl
        and "volzet – wachtlijst (1)" in nl
        and "Terreinbezoek" in nl
    )
    assert '<html lang="nl">' in nl


def test_programme_is_grouped_by_day_in_the_event_time_zone(
    registration_client, make_event, make_session
):
    event = make_event()
    starts = local_start(31, 9, 30)
    make_session(
        event["slug"],
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=1)).isoformat(),
    )
    later = local_start(32, 14)
    make_session(
        event["slug"], starts_at=later.isoformat(), ends_at=(later + timedelta(hours=2)).isoformat()
    )
    page = text(registration_client.get(f"/events/{event['slug']}?lang=en"))
    assert "09:30–10:30" in page and "14:00–16:00" in page
    assert page.count('<h2 id="day-') == 2
    assert f"{starts.day} {starts:%B} {starts.year}" in page  # British English


def test_home_redirects_to_the_only_event(registration_client, make_event):
    event = make_event()
    response = registration_client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/events/{event['slug']}")
    make_event()
    assert "Security, Democracy &amp; Cities" in text(registration_client.get("/"))


# --- registration form ---------------------------------------------------------------------------


def test_register_through_the_form_leads_to_the_manage_page(
    registration_client, make_event, make_session
):
    event = make_event()
    make_session(event["slug"], code="TH1", title="Drugs and democracy")
    form_page = registration_client.get(f"/events/{event['slug']}/register?lang=en")
    assert form_page.status_code == 200
    assert 'name="csrf_token"' in text(form_page)
    assert '<option value="BE">Belgium</option>' in text(form_page)

    response = register_form(registration_client, event["slug"], session_codes=["TH1"])
    assert response.status_code == 303
    assert "welcome=1" in response.headers["Location"]
    manage = registration_client.get(response.headers["Location"])
    body = text(manage)
    assert manage.status_code == 200
    assert "you are registered" in body and "Drugs and democracy" in body and "Confirmed" in body
    token = TOKEN_IN_URL.search(response.headers["Location"]).group(1)
    me = registration_client.get("/api/v1/registrations/me", headers=bearer(token)).get_json()
    assert me["email"] == "ana@example.org"
    assert me["sessions"] == [
        {"code": "TH1", "status": "confirmed", "waitlist_position": None, "hold_expires_at": None}
    ]


def test_bad_input_is_shown_next_to_the_fields_and_nothing_is_written(
    registration_client, make_event
):
    event = make_event()
    response = register_form(
        registration_client,
        event["slug"],
        name="Zoë Janssens",
        email="not-an-address",
        country="",
        consent="",
        language="en",
    )
    body = text(response)
    assert response.status_code == 422
    assert re.search(r'id="email-error">Please enter a valid email address\.</p>\s*<input', body)
    assert re.search(r'id="country-error">Please choose your country\.', body)
    assert 'id="consent-error"' in body
    assert 'value="not-an-address"' in body and 'value="Zoë Janssens"' in body
    assert '<option value="researcher" selected>' in body
    assert registrations(registration_client, event["slug"]) == []


def test_form_errors_are_translated(registration_client, make_event):
    event = make_event()
    response = registration_client.post(
        f"/events/{event['slug']}/register?lang=fr", data=form(email="nope", role="")
    )
    assert response.status_code == 422
    body = text(response)
    assert "Veuillez indiquer une adresse e-mail valide." in body
    assert "Veuillez choisir le rôle qui vous correspond le mieux." in body


def test_same_email_twice_shows_the_conflict_next_to_the_email(
    registration_client, make_event, register
):
    event = make_event()
    register(event["slug"], email="dup@example.org")
    response = register_form(registration_client, event["slug"], email="DUP@example.org")
    assert response.status_code == 409
    assert re.search(r'id="email-error">This email address is already registered', text(response))
    assert len(registrations(registration_client, event["slug"])) == 1


def test_full_session_puts_the_registrant_on_the_waiting_list(
    registration_client, make_event, make_session, register
):
    event = make_event()
    make_session(event["slug"], code="FV1", title="Regional Crisis Centre", capacity=1)
    register(event["slug"], ["FV1"])
    response = register_form(registration_client, event["slug"], session_codes=["FV1"])
    body = text(registration_client.get(response.headers["Location"]))
    assert "Waiting list, position 1" in body
    assert "Leave the waiting list" in body


def test_overlapping_sessions_are_refused_with_their_titles(
    registration_client, make_event, make_session
):
    event = make_event()
    starts = local_start(30, 10)
    times = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat()}
    make_session(event["slug"], code="A", title="Night-time life", **times)
    make_session(event["slug"], code="B", title="Mental health", **times)
    response = register_form(registration_client, event["slug"], session_codes=["A", "B"])
    assert response.status_code == 422
    body = text(response)
    assert re.search(r'id="session_codes-error">“Night-time life” and “Mental health”', body)
    assert body.count("checked") == 3  # both sessions and the consent box stay ticked
    assert registrations(registration_client, event["slug"]) == []


def test_closed_registration_shows_no_form(registration_client, make_event):
    past = datetime.now(UTC) - timedelta(days=1)
    event = make_event(
        registration_opens_at=(past - timedelta(days=10)).isoformat(),
        registration_closes_at=past.isoformat(),
    )
    programme = text(registration_client.get(f"/events/{event['slug']}?lang=en"))
    assert "Registration for this event is closed." in programme
    page = registration_client.get(f"/events/{event['slug']}/register")
    assert "<form" not in text(page)
    response = register_form(registration_client, event["slug"])
    assert response.status_code == 409
    assert registrations(registration_client, event["slug"]) == []


def test_what_participants_type_is_escaped(registration_client, make_event, make_session, register):
    event = make_event()
    make_session(event["slug"], code="FV1", capacity=0)
    script = "<script>alert(1)</script>"
    response = register_form(
        registration_client, event["slug"], name=script, organisation=script, session_codes=["FV1"]
    )
    manage = text(registration_client.get(response.headers["Location"]))
    assert script not in manage and "&lt;script&gt;alert(1)&lt;/script&gt;" in manage
    invalid = text(register_form(registration_client, event["slug"], name=script, email="bad"))
    assert script not in invalid and "&lt;script&gt;" in invalid
    registration_client.post("/organiser/sign-in/token", data={"token": ORGANISER_TOKEN})
    organiser = text(registration_client.get(f"/organiser/events/{event['slug']}"))
    assert script not in organiser and "&lt;script&gt;alert(1)&lt;/script&gt;" in organiser


# --- manage page ---------------------------------------------------------------------------------


def registered(registration_client, slug, **overrides):
    """Register through the form; return the manage page's path."""
    return manage_path(register_form(registration_client, slug, **overrides))


def test_manage_page_drop_and_add_sessions(registration_client, make_event, make_session, register):
    event = make_event()
    make_session(event["slug"], code="FV1", title="Drug consumption room", capacity=1)
    make_session(event["slug"], code="TH2", title="Trust in institutions", capacity=5)
    path = registered(registration_client, event["slug"], session_codes=["FV1"])
    waiting = register(event["slug"], ["FV1"]).get_json()

    dropped = registration_client.post(f"{path}/sessions/FV1/drop")
    assert dropped.status_code == 303 and dropped.headers["Location"].endswith(path)
    page = text(registration_client.get(path))
    assert "You have left “Drug consumption room”." in page
    me = registration_client.get(
        "/api/v1/registrations/me", headers=bearer(waiting["manage_token"])
    )
    assert me.get_json()["sessions"][0]["status"] == "confirmed"

    added = registration_client.post(f"{path}/sessions", data={"code": "TH2"})
    assert added.status_code == 303
    page = text(registration_client.get(path))
    assert "You have a place in “Trust in institutions”." in page
    assert '<option value="TH2">' not in page  # no longer offered

    again = registration_client.post(f"{path}/sessions", data={"code": "FV1"})
    assert "is full: you are number 1 on its waiting list" in text(
        registration_client.get(again.location)
    )


def test_manage_page_errors_keep_their_status(registration_client, make_event, make_session):
    event = make_event()
    make_session(event["slug"], code="TH1", title="Polarisation")
    path = registered(registration_client, event["slug"], session_codes=["TH1"])
    again = registration_client.post(f"{path}/sessions", data={"code": "TH1"})
    assert again.status_code == 409
    assert "You are already registered for “Polarisation”." in text(again)
    dropped = registration_client.post(f"{path}/sessions/NOPE/drop")
    assert dropped.status_code == 404
    assert f'href="{path}?lang=fr"' in text(dropped)  # the language links lead back
    assert registration_client.post(f"{path}/sessions", data={"code": ""}).status_code == 422
    assert registration_client.post(f"{path}/cancel", data={}).status_code == 422


def test_cancel_releases_every_place(registration_client, make_event, make_session):
    event = make_event()
    make_session(event["slug"], code="TH1", capacity=3)
    path = registered(registration_client, event["slug"], session_codes=["TH1"])
    response = registration_client.post(f"{path}/cancel", data={"confirm": "yes"})
    assert response.status_code == 303
    page = text(registration_client.get(path))
    assert "Your registration is cancelled" in page and "You have no session." in page
    rows = registration_client.get(f"/api/v1/events/{event['slug']}/sessions").get_json()
    assert rows[0]["seats_taken"] == 0


def test_export_downloads_my_data_as_json(registration_client, make_event, make_session):
    event = make_event()
    make_session(event["slug"], code="TH1")
    path = registered(registration_client, event["slug"], session_codes=["TH1"])
    response = registration_client.get(f"{path}/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data())["services"]["registration"]
    assert data["registration"]["email"] == "ana@example.org"
    assert data["sessions"][0]["code"] == "TH1"


def test_erase_deletes_everything_and_the_link_stops_working(
    registration_client, make_event, make_session
):
    event = make_event()
    make_session(event["slug"], code="TH1")
    path = registered(registration_client, event["slug"], session_codes=["TH1"])
    assert registration_client.post(f"{path}/erase", data={}).status_code == 422
    response = registration_client.post(f"{path}/erase", data={"confirm": "yes"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/events/{event['slug']}")
    assert "Your data has been erased." in text(
        registration_client.get(response.headers["Location"])
    )
    assert registrations(registration_client, event["slug"]) == []
    assert registration_client.get(path).status_code == 404


def test_a_bad_link_gives_404_with_a_resend_pointer(registration_client, make_event):
    event = make_event()
    response = registration_client.get("/manage/not-a-token?lang=en")
    assert response.status_code == 404
    assert f"/events/{event['slug']}/resend-link" in text(response)
    assert (
        registration_client.post("/manage/not-a-token/cancel", data={"confirm": "yes"}).status_code
        == 404
    )
    assert registration_client.get("/events/no-such-event").status_code == 404


def test_manage_page_speaks_the_participants_language(registration_client, make_event):
    event = make_event()
    path = registered(registration_client, event["slug"], language="nl")
    registration_client.delete_cookie("lang")
    page = text(registration_client.get(path, headers={"Accept-Language": "en"}))
    assert "Mijn inschrijving" in page
    assert "Mijn inschrijving" not in text(registration_client.get(f"{path}?lang=en"))


def test_manage_page_is_kept_out_of_caches_and_referers(registration_client, make_event):
    event = make_event()
    path = registered(registration_client, event["slug"])
    response = registration_client.get(path)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src" not in response.headers["Content-Security-Policy"]


# --- resend my link ------------------------------------------------------------------------------


def test_resend_link_answers_the_same_for_known_and_unknown_addresses(
    registration_client, make_event, register
):
    event = make_event()
    register(event["slug"], email="known@example.org")
    url = f"/events/{event['slug']}/resend-link"
    assert registration_client.get(url).status_code == 200
    known = registration_client.post(url, data={"email": "known@example.org"})
    unknown = registration_client.post(url, data={"email": "unknown@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert text(known) == text(unknown)
    assert "If this address is registered for this event, a link is on its way." in text(known)
    invalid = registration_client.post(url, data={"email": "not an address"})
    assert invalid.status_code == 422 and 'id="email-error"' in text(invalid)


def test_resend_link_is_rate_limited(settings, registration_db, make_event):
    from services.registration.app import create_app

    event = make_event()
    settings = dataclasses.replace(
        settings, registration_database_url=registration_db, rate_limits_enabled=True
    )
    registration_app = create_app(
        {"TESTING": True, "SETTINGS": settings, "WTF_CSRF_ENABLED": False}
    )
    registration_client = registration_app.test_client()
    # A fresh client address per run: the counters live in the shared Redis.
    address = f"10.{os.getpid() % 250}.{datetime.now().microsecond % 250}.7"
    url = f"/events/{event['slug']}/resend-link"
    email = f"x-{uuid.uuid4().hex[:12]}@example.org"  # its counter too lives in the shared Redis
    statuses = [
        registration_client.post(url, data={"email": email}, environ_base={"REMOTE_ADDR": address})
        for _ in range(6)
    ]
    assert [r.status_code for r in statuses] == [200] * 5 + [429]
    assert "Too many attempts" in text(statuses[-1]) and statuses[-1].headers["Retry-After"]
    assert registration_client.get(url, environ_base={"REMOTE_ADDR": address}).status_code == 200


# --- organisers ----------------------------------------------------------------------------------


def test_organiser_pages_need_a_sign_in(registration_client, make_event):
    event = make_event()
    for url in (
        f"/organiser/events/{event['slug']}",
        f"/organiser/events/{event['slug']}/registrations.csv",
    ):
        response = registration_client.get(url)
        assert response.status_code == 302
        assert "/organiser/sign-in?next=" in response.headers["Location"]
    wrong = registration_client.post("/organiser/sign-in/token", data={"token": "wrong"})
    assert wrong.status_code == 401
    assert registration_client.get(f"/organiser/events/{event['slug']}").status_code == 302


@pytest.mark.parametrize(
    ("role", "offered"),
    [("manager", True), ("desk", False), ("rapporteur", False), ("viewer", False)],
)
def test_the_csv_is_offered_only_to_roles_that_may_download_it(
    registration_app, registration_client, make_event, role, offered
):
    slug = make_event()["slug"]
    sign_in(registration_client, registration_app, add_account(registration_app, [(slug, role)]))
    page = registration_client.get(f"/organiser/events/{slug}?lang=en")
    assert page.status_code == 200
    assert ("registrations.csv" in page.get_data(as_text=True)) is offered
    csv = registration_client.get(f"/organiser/events/{slug}/registrations.csv")
    assert csv.status_code == (200 if offered else 403)


def test_organiser_sees_fill_and_waiting_lists_in_order(
    registration_client, make_event, make_session, register
):
    event = make_event()
    slug = event["slug"]
    make_session(slug, code="FV1", title="Mediation schemes", capacity=2)
    register(slug, ["FV1"], name="First Person")
    register(slug, ["FV1"], name="Second Person")
    register(slug, ["FV1"], name="Third Person", organisation="Efus")
    register(slug, ["FV1"], name="Fourth Person")

    signed_in = registration_client.post(
        "/organiser/sign-in/token",
        data={"token": ORGANISER_TOKEN, "next": f"/organiser/events/{slug}"},
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"].endswith(f"/organiser/events/{slug}")
    assert ORGANISER_TOKEN not in str(signed_in.headers.get("Set-Cookie"))
    page = text(registration_client.get(f"/organiser/events/{slug}?lang=en"))
    assert "2 of 2 places taken" in page and 'style="width: 100%"' in page
    assert "2 people on the waiting list" in page
    assert page.index("Third Person (Efus)") < page.index("Fourth Person")
    assert "First Person" not in page

    csv = registration_client.get(f"/organiser/events/{slug}/registrations.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = text(csv).splitlines()
    assert lines[0].startswith("id,name,email") and len(lines) == 5
    assert "FV1#1" in text(csv)

    signed_out = registration_client.post("/organiser/sign-out")
    assert signed_out.status_code == 303
    assert registration_client.get(f"/organiser/events/{slug}").status_code == 302


def test_organiser_sign_in_does_not_redirect_elsewhere(registration_client):
    response = registration_client.post(
        "/organiser/sign-in/token", data={"token": ORGANISER_TOKEN, "next": "//evil.example/"}
    )
    assert response.headers["Location"] == "/organiser"


# --- languages -----------------------------------------------------------------------------------


def test_accept_language_nl_gives_dutch(registration_client, make_event):
    event = make_event()
    page = text(
        registration_client.get(
            f"/events/{event['slug']}/register", headers={"Accept-Language": "nl-BE,nl;q=0.9"}
        )
    )
    assert "Inschrijven" in page and "Volledige naam" in page
    assert '<option value="BE">België</option>' in page
    assert "Verkozen mandataris" in page


def test_lang_query_wins_and_is_remembered(registration_client, make_event):
    event = make_event()
    url = f"/events/{event['slug']}"
    first = registration_client.get(f"{url}?lang=fr", headers={"Accept-Language": "nl"})
    assert "lang=fr" in first.headers["Set-Cookie"]
    later = text(registration_client.get(url, headers={"Accept-Language": "nl"}))
    assert '<html lang="fr">' in later
    assert f'href="{url}?lang=nl"' in later  # the switcher
    assert '<html lang="en">' in text(registration_client.get(f"{url}?lang=en"))


def test_default_language_is_english(registration_client, make_event):
    event = make_event()
    page = text(
        registration_client.get(f"/events/{event['slug']}", headers={"Accept-Language": "de"})
    )
    assert '<html lang="en">' in page


@pytest.mark.parametrize("translations", CATALOGUES, ids=lambda path: path.parent.name)
def test_catalogues_are_complete(translations):
    with CATALOGUES[translations].open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    wanted = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords, comment_tags=()
        )
    }
    for language in ("fr", "nl", "en"):
        with (translations / language / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
            catalog = read_po(po_file)
        missing = sorted(wanted - {m.id if isinstance(m.id, str) else m.id[0] for m in catalog})
        assert missing == [], f"{language}: not in the catalogue: {missing}"
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{language}: no translation for {message.id!r}"
            assert not message.fuzzy, f"{language}: fuzzy translation for {message.id!r}"


# --- CSRF ----------------------------------------------------------------------------------------


def test_a_post_without_csrf_token_is_refused(
    settings, registration_db, registration_client, make_event
):
    from services.registration.app import create_app

    event = make_event()
    settings = dataclasses.replace(settings, registration_database_url=registration_db)
    registration_app = create_app({"TESTING": True, "SETTINGS": settings, "WTF_CSRF_ENABLED": True})
    browser = registration_app.test_client()
    url = f"/events/{event['slug']}/register"

    refused = browser.post(url, data=form())
    assert refused.status_code == 400
    assert "This form has expired" in text(refused)
    assert registrations(registration_client, event["slug"]) == []

    token = re.search(r'name="csrf_token" value="([^"]+)"', text(browser.get(url))).group(1)
    accepted = browser.post(url, data={**form(), "csrf_token": token})
    assert accepted.status_code == 303
    assert len(registrations(registration_client, event["slug"])) == 1


def test_every_rule_a_participant_can_break_has_a_translated_message():
    import re as regex

    from services.registration import web

    domain = ("programme", "seats", "registrations", "privacy")
    source = "".join(
        (ROOT / "services" / "registration" / f"{name}.py").read_text() for name in domain
    )
    codes = set(regex.findall(r'code="([a-z_]+)"', source))
    assert codes and codes <= set(web.RULE_MESSAGES)


def test_an_address_that_cannot_receive_our_emails_is_explained_in_the_page_language(
    registration_client, make_event
):
    event = make_event()
    response = registration_client.post(
        f"/events/{event['slug']}/register?lang=fr", data=form(email="jösé@example.org")
    )
    assert response.status_code == 422
    assert "Cette adresse ne peut pas recevoir nos e-mails" in text(response)
