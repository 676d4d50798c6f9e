"""The pages: "rate my sessions" (fr/nl/en, CSRF, no JavaScript) and the organiser dashboard."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote, unquote

import pytest

from services.feedback.report.compose import REPORT_VERSION
from tests import organisers
from tests.feedback.helpers import ORGANISER, THEME, feedback_url
from tests.helpers import now


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def attendee(world):
    event = world.event()
    held = world.session(event, title="Night-time governance")
    other = world.session(event, title="Somebody else's session")
    later = world.session(
        event, title="Tomorrow's field visit", starts_at=now() + timedelta(days=1)
    )
    person = world.person(event, confirmed=[held, later], language="fr")
    world.person(event, confirmed=[other])
    return event, held, other, later, person


def rate_url(person, **query) -> str:
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/rate/{person.token}" + (f"?{suffix}" if suffix else "")


def test_the_rate_page_lists_my_started_confirmed_sessions(feedback_client, attendee):
    _event, held, _other, later, person = attendee
    response = feedback_client.get(rate_url(person, lang="en"))
    assert response.status_code == 200
    page = text(response)
    assert 'id="session-' + held["code"] + '"' in page
    assert "Somebody else" not in page
    # no fragment on the form: a fragment would keep the answer to a refused form from
    # focusing its error summary (browsers skip autofocus when the URL targets an element)
    assert f'action="/rate/{person.token}/sessions/{held["code"]}"' in page
    assert f"/sessions/{later['code']}" not in page  # upcoming: listed, no form
    assert "Coming up" in page
    assert "<script" not in page
    assert page.count('type="radio" name="rating"') == 5
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert 'name="viewport"' in page


def test_the_rate_page_speaks_the_participants_language_unless_asked(feedback_client, attendee):
    *_, person = attendee
    assert "Évaluer mes sessions" in text(
        feedback_client.get(rate_url(person))
    )  # registered in French
    assert "Mijn sessies beoordelen" in text(feedback_client.get(rate_url(person, lang="nl")))
    # ?lang= is remembered in a cookie
    assert "Mijn sessies beoordelen" in text(feedback_client.get(rate_url(person)))
    feedback_client.delete_cookie("lang")
    english = feedback_client.get(rate_url(person), headers={"Accept-Language": "en"})
    assert "Évaluer mes sessions" in text(english)  # the participant's own language wins
    assert "Feedback" in text(
        feedback_client.get("/", headers={"Accept-Language": "nl-BE,nl;q=0.9"})
    )


def test_an_invalid_link_is_a_404_page(feedback_client):
    response = feedback_client.get("/rate/not-a-token?lang=en")
    assert response.status_code == 404
    assert "This link is not valid" in text(response)


def test_rating_from_the_page_saves_and_redirects(feedback_client, attendee):
    event, held, _other, _later, person = attendee
    response = feedback_client.post(
        f"/rate/{person.token}/sessions/{held['code']}",
        data={"rating": "4", "comment": "Très utile"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/rate/{person.token}#session-{held['code']}")
    mine = feedback_client.get(feedback_url(event, held), headers=person.auth).get_json()
    assert (mine["rating"], mine["comment"]) == (4, "Très utile")
    page = text(feedback_client.get(rate_url(person)))
    assert "Votre avis est enregistré" in page or "votre avis est enregistré" in page
    assert 'value="4" required checked' in page
    assert "Modifier mon avis" in page
    # Sending the form again replaces the feedback.
    feedback_client.post(
        f"/rate/{person.token}/sessions/{held['code']}", data={"rating": "2", "comment": ""}
    )
    mine = feedback_client.get(feedback_url(event, held), headers=person.auth).get_json()
    assert (mine["rating"], mine["comment"]) == (2, None)


def test_errors_are_shown_next_to_their_fields_in_the_page_language(feedback_client, attendee):
    _event, held, *_rest, person = attendee
    response = feedback_client.post(
        f"/rate/{person.token}/sessions/{held['code']}?lang=fr",
        data={"rating": "9", "comment": "x" * 2001},
    )
    assert response.status_code == 422
    page = text(response)
    assert re.search(rf'id="rating-{held["code"]}-error">Veuillez choisir une note de 1 à 5', page)
    assert re.search(rf'id="comment-{held["code"]}-error">Votre commentaire est trop long', page)
    assert "x" * 2001 in page  # what was typed is kept


def test_rules_broken_from_the_page_are_explained(feedback_client, world):
    event = world.event()
    later = world.session(event, starts_at=now() + timedelta(hours=1))
    person = world.person(event, confirmed=[later], language="en")
    response = feedback_client.post(
        f"/rate/{person.token}/sessions/{later['code']}", data={"rating": "3"}
    )
    assert response.status_code == 409
    assert "You can rate this session once it has started." in text(response)


def test_endorsements_from_the_page(feedback_client, world):
    event = world.event()
    session = world.session(event)
    person = world.person(event, confirmed=[session], language="en")
    rid = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": THEME, "text": "Fund <mediation> teams"},
        headers=ORGANISER,
    ).get_json()["id"]
    page = text(feedback_client.get(rate_url(person)))
    assert "Fund &lt;mediation&gt; teams" in page
    assert page.count(f'name="endorse-{rid}"') == 6  # no opinion, then -2..+2
    feedback_client.post(
        f"/rate/{person.token}/sessions/{session['code']}",
        data={"rating": "5", f"endorse-{rid}": "2"},
    )
    mine = feedback_client.get(feedback_url(event, session), headers=person.auth).get_json()
    assert mine["endorsements"] == {str(rid): 2}
    assert f'name="endorse-{rid}" value="2" checked' in text(feedback_client.get(rate_url(person)))
    bad = feedback_client.post(
        f"/rate/{person.token}/sessions/{session['code']}",
        data={"rating": "5", f"endorse-{rid}": "7"},
    )
    assert bad.status_code == 422
    assert "Please choose a value from −2 to +2." in text(bad)


def test_after_the_window_the_page_says_so_and_has_no_form(feedback_client, world):
    event = world.event(feedback_closes_at=now() - timedelta(hours=1))
    session = world.session(event, starts_at=now() - timedelta(days=1))
    person = world.person(event, confirmed=[session], language="en")
    page = text(feedback_client.get(rate_url(person)))
    assert "The feedback period ended on" in page
    assert "<form" not in page.split("<main", 1)[1].split("</main>")[0]


def test_a_form_without_its_csrf_token_is_refused(feedback_settings, world, attendee):
    from services.feedback.app import create_app

    _event, held, *_rest, person = attendee
    app = create_app({"TESTING": True, "SETTINGS": feedback_settings, "WTF_CSRF_ENABLED": True})
    browser = app.test_client()
    url = f"/rate/{person.token}/sessions/{held['code']}"
    refused = browser.post(url + "?lang=en", data={"rating": "4"})
    assert refused.status_code == 400
    assert "This form has expired" in text(refused)
    page = text(browser.get(rate_url(person)))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert browser.post(url, data={"rating": "4", "csrf_token": token}).status_code == 303
    assert browser.get_cookie("feedback_session") is not None  # not the registration's cookie


# --- organisers ----------------------------------------------------------------------------------


def sign_in(feedback_client, account=None):
    """Signed in as the registration service's sign-in does it (ORGANISER_TOKEN by default)."""
    organisers.sign_in(feedback_client, feedback_client.application, account)


def test_organiser_pages_need_a_sign_in(feedback_client, world):
    event = world.event()
    response = feedback_client.get(f"/organiser/events/{event['slug']}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/organiser/sign-in?next=")
    # The sign-in is on the registration service, which leads back here.
    elsewhere = feedback_client.get(response.headers["Location"]).headers["Location"]
    assert elsewhere.startswith("http://testserver/organiser/sign-in?next=")
    assert quote(f"http://127.0.0.1:8002/organiser/events/{event['slug']}", safe="") in elsewhere
    sign_in(feedback_client)
    assert feedback_client.get(f"/organiser/events/{event['slug']}").status_code == 200
    feedback_client.post("/organiser/sign-out")
    assert feedback_client.get(f"/organiser/events/{event['slug']}").status_code == 302


def test_a_rapporteur_sees_the_dashboard_and_report_but_not_the_export(feedback_client, world):
    event = world.event()
    world.session(event)
    app = feedback_client.application
    sign_in(feedback_client, organisers.add_account(app, [(event["slug"], "rapporteur")]))
    dashboard = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang=en"))
    assert "feedback.csv" not in dashboard and 'action="/organiser/events/' in dashboard
    assert feedback_client.get(f"/organiser/events/{event['slug']}/report").status_code == 200
    refused = feedback_client.get(f"/organiser/events/{event['slug']}/feedback.csv?lang=fr")
    assert refused.status_code == 403 and "Accès refusé" in text(refused)
    # Another event's pages are not theirs, nor does the home page list it.
    other = world.event()
    assert feedback_client.get(f"/organiser/events/{other['slug']}").status_code == 403
    home = text(feedback_client.get("/organiser"))
    assert f"/organiser/events/{event['slug']}" in home
    assert f"/organiser/events/{other['slug']}" not in home


def test_a_viewer_may_not_open_the_feedback_pages(feedback_client, world):
    event = world.event()
    app = feedback_client.application
    sign_in(feedback_client, organisers.add_account(app, [(event["slug"], "viewer")]))
    assert feedback_client.get("/organiser").status_code == 403
    assert feedback_client.get(f"/organiser/events/{event['slug']}").status_code == 403


def test_the_dashboard_draws_charts_and_escapes_comments(feedback_client, world):
    event = world.event()
    session = world.session(event)
    for rating, comment in ((5, "<script>alert(1)</script>"), (3, "Good & useful")):
        person = world.person(event, confirmed=[session])
        feedback_client.post(
            feedback_url(event, session),
            json={"rating": rating, "comment": comment},
            headers=person.auth,
        )
    feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": THEME, "text": "More <b>night</b> mediators"},
        headers=ORGANISER,
    )
    sign_in(feedback_client)
    page = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang=en"))
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Good &amp; useful" in page
    assert "More &lt;b&gt;night&lt;/b&gt; mediators" in page
    assert page.count("<svg") >= 5  # ratings, response rates, support
    assert 'aria-label="Ratings: 1 → 0, 2 → 0, 3 → 1, 4 → 0, 5 → 1"' in page
    assert "100%" in page  # both attendees answered (English: no space before the sign)


def test_before_any_session_is_held_the_response_rate_is_a_dash_not_zero(feedback_client, world):
    event = world.event()
    world.session(event)
    sign_in(feedback_client)
    page = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang=en"))
    start = page.index('<ul class="figures">')
    figures = page[start : page.index("</ul>", start)]
    assert "<strong>–</strong> Response rate (sessions held)" in figures
    assert "0 %" not in figures


def test_organisers_add_a_recommendation_from_the_dashboard(feedback_client, world):
    event = world.event()
    world.session(event)
    sign_in(feedback_client)
    missing = feedback_client.post(
        f"/organiser/events/{event['slug']}/recommendations?lang=en", data={"theme": "", "text": ""}
    )
    assert missing.status_code == 422
    assert "Please choose a theme." in text(missing)
    added = feedback_client.post(
        f"/organiser/events/{event['slug']}/recommendations",
        data={"theme": THEME, "text": "Fund it"},
    )
    assert added.status_code == 303
    listed = feedback_client.get(
        f"/api/v1/events/{event['slug']}/recommendations", headers=ORGANISER
    ).get_json()
    assert [r["text"] for r in listed] == ["Fund it"]


def test_organisers_download_the_report_and_the_csv(feedback_client, world):
    event = world.event()
    session = world.session(event)
    person = world.person(event, confirmed=[session])
    feedback_client.post(
        feedback_url(event, session), json={"rating": 4, "comment": "+1 great"}, headers=person.auth
    )
    sign_in(feedback_client)
    html = feedback_client.get(f"/organiser/events/{event['slug']}/report?lang=en")
    assert html.status_code == 200 and "Recommendation report" in text(html)
    assert (
        feedback_client.get(f"/organiser/events/{event['slug']}/report.pdf").mimetype
        == "application/pdf"
    )
    assert (
        feedback_client.get(f"/organiser/events/{event['slug']}/report.md").mimetype
        == "text/markdown"
    )
    assert (
        feedback_client.get(f"/organiser/events/{event['slug']}/report.json").get_json()["version"]
        == REPORT_VERSION
    )
    assert feedback_client.get(f"/organiser/events/{event['slug']}/report.exe").status_code == 404
    csv_text = text(feedback_client.get(f"/organiser/events/{event['slug']}/feedback.csv"))
    assert "'+1 great" in csv_text
    assert person.registration_id not in csv_text


def test_sign_in_does_not_redirect_outside_the_organiser_pages(feedback_client):
    response = feedback_client.get("/organiser/sign-in?next=https://evil.example/")
    assert "evil" not in unquote(response.headers["Location"])
    assert quote("http://127.0.0.1:8002/organiser", safe="") in response.headers["Location"]
    sign_in(feedback_client)
    response = feedback_client.get("/organiser/sign-in?next=https://evil.example/")
    assert response.headers["Location"] == "/organiser"


def test_a_token_created_with_the_cli_signs_in_and_can_be_revoked(
    feedback_app, feedback_client, world
):
    runner = feedback_app.test_cli_runner()
    token = runner.invoke(args=["organiser", "create-token", "rapporteur"]).output.strip()
    event = world.event()
    assert (
        feedback_client.get(
            f"/api/v1/events/{event['slug']}/summary", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    runner.invoke(args=["organiser", "revoke-token", "rapporteur"])
    assert (
        feedback_client.get(
            f"/api/v1/events/{event['slug']}/summary", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )
