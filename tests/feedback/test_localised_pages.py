"""What a reader meets in their language: the programme's translations, numbers and dates
written their way, error summaries that come first, and the report in the same words."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader

from shared import formats
from tests.feedback.helpers import ORGANISER, THEME, feedback_url
from tests.feedback.test_web import rate_url, sign_in, text

THEMES = {"fr": "Drogues et criminalité organisée", "nl": "Drugs en georganiseerde misdaad"}
ROOMS = {"fr": "Salle Horta", "en": "Room Horta"}
CITY = {"fr": "Bruxelles", "nl": "Brussel", "en": "Brussels"}


@pytest.fixture
def rated(feedback_client, world):
    """A three-day event in Brussels, one session with translations, rated 4 and 3 by two of
    its three attendees; one recommendation in Dutch."""
    event = world.event(
        starts_on=date(2027, 2, 3), ends_on=date(2027, 2, 5), city_translations=CITY
    )
    session = world.session(event, theme_translations=THEMES, room_translations=ROOMS)
    people = [world.person(event, confirmed=[session], language="fr") for _ in range(3)]
    for person, rating in zip(people, (4, 3), strict=False):
        response = feedback_client.post(
            feedback_url(event, session), json={"rating": rating}, headers=person.auth
        )
        assert response.status_code == 201
    response = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": THEME, "text": "Meer straathoekwerkers", "language": "nl"},
        headers=ORGANISER,
    )
    assert response.status_code == 201 and response.get_json()["language"] == "nl"
    sign_in(feedback_client)
    return event, session, people


def main_content(page: str) -> str:
    """The main content after its opening tag, without the pages' style sheet."""
    main = page[page.index('<main id="main">') + len('<main id="main">') :]
    return re.sub(r"<style>.*?</style>", "", main, flags=re.S).lstrip()


# --- the dashboard ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "mean", "rate"),
    [("fr", "3,5", "67\xa0%"), ("nl", "3,5", "67%"), ("en", "3.5", "67%")],
)
def test_the_dashboards_figures_are_written_the_readers_way(
    feedback_client, rated, language, mean, rate
):
    event, _session, _people = rated
    page = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang={language}"))
    assert f"<strong>{mean}</strong>" in page  # a mean has one decimal
    assert rate in page
    assert "3.50" not in page and "3,50" not in page


def test_the_dashboard_shows_themes_and_rooms_in_the_readers_language(feedback_client, rated):
    event, _session, _people = rated
    french = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang=fr"))
    assert f"<h3>{THEMES['fr']}</h3>" in french
    assert f'<option value="{THEME}">{THEMES["fr"]}</option>' in french  # the key as entered
    # the recommendation is Dutch: marked so on a French page, not on a Dutch one
    assert '<p lang="nl">Meer straathoekwerkers</p>' in french
    dutch = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang=nl"))
    assert "<p>Meer straathoekwerkers</p>" in dutch
    # no English translation: the theme as entered, whose language is not known, has no lang
    english = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang=en"))
    assert f"<h3>{THEME}</h3>" in english


def test_a_theme_shown_untranslated_is_marked_with_its_language(feedback_client, world):
    event = world.event()
    world.session(event, theme_translations={"en": THEME, "fr": THEMES["fr"]})
    sign_in(feedback_client)
    dutch = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang=nl"))
    assert f'<h3 lang="en">{THEME}</h3>' in dutch


def test_a_refused_recommendation_is_summed_up_first_and_keeps_what_was_typed(
    feedback_client, rated
):
    event, _session, _people = rated
    response = feedback_client.post(
        f"/organiser/events/{event['slug']}/recommendations?lang=fr",
        data={"theme": "", "language": "de", "text": "Mieux éclairer <les> rues"},
    )
    assert response.status_code == 422
    page = text(response)
    assert re.search(r"<title>Erreur\xa0?: Tableau de bord des avis – ", page)
    main = main_content(page)
    summary = main[: main.index("</div>")]
    # first in the main content, focused without script, in the form's order
    assert main.startswith('<div class="error-summary"')
    assert 'tabindex="-1" autofocus' in summary
    assert re.findall(r'href="#(\w+)"', summary) == ["theme", "language"]
    assert "Veuillez choisir un thème." in summary
    # each message also next to its own field, and what was typed is still there
    assert re.search(r'id="theme-error">[^<]+</p>\s*<select id="theme"', main)
    assert re.search(r'id="language-error">[^<]+</p>\s*<select id="language"', main)
    assert "Mieux éclairer &lt;les&gt; rues</textarea>" in main


def test_a_recommendation_added_from_the_dashboard_keeps_its_language(feedback_client, rated):
    event, _session, _people = rated
    response = feedback_client.post(
        f"/organiser/events/{event['slug']}/recommendations",
        data={"theme": THEME, "language": "fr", "text": "Éclairer les rues"},
    )
    assert response.status_code == 303
    listed = feedback_client.get(
        f"/api/v1/events/{event['slug']}/recommendations", headers=ORGANISER
    ).get_json()
    assert {r["text"]: r["language"] for r in listed} == {
        "Meer straathoekwerkers": "nl",
        "Éclairer les rues": "fr",
    }
    english = text(feedback_client.get(f"/organiser/events/{event['slug']}?lang=en"))
    assert '<p lang="fr">Éclairer les rues</p>' in english


def test_the_api_refuses_a_recommendation_in_an_unknown_language(feedback_client, rated):
    event, _session, _people = rated
    response = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": THEME, "text": "Fund it", "language": "de"},
        headers=ORGANISER,
    )
    assert response.status_code == 422
    assert "language" in response.get_data(as_text=True)


# --- the rate page ---------------------------------------------------------------------------


def test_the_rate_page_writes_times_in_the_events_zone_and_rooms_translated(feedback_client, rated):
    event, session, people = rated
    page = text(feedback_client.get(rate_url(people[0], lang="fr")))
    assert formats.moment(session["starts_at"], "Europe/Brussels", "fr") in page
    assert "Salle Horta" in page
    dutch = text(feedback_client.get(rate_url(people[0], lang="nl")))
    # no Dutch name for the room: the English one, marked as English
    assert '<span lang="en">Room Horta</span>' in dutch


def test_a_refused_rating_is_summed_up_first_in_the_forms_order(feedback_client, rated):
    event, session, people = rated
    code = session["code"]
    response = feedback_client.post(
        f"/rate/{people[2].token}/sessions/{code}?lang=nl",
        data={"comment": "x" * 2001},
    )
    assert response.status_code == 422
    page = text(response)
    assert "<title>Fout: Mijn sessies beoordelen – " in page
    main = main_content(page)
    summary = main[: main.index("</div>")]
    assert main.startswith('<div class="error-summary"')
    assert 'tabindex="-1" autofocus' in summary
    assert re.findall(r'href="#([\w-]+)"', summary) == [f"rating-{code}", f"comment-{code}"]
    assert f'id="rating-{code}"' in main and f'id="comment-{code}"' in main
    assert "x" * 2001 + "</textarea>" in main  # kept


# --- the report ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "dates", "mean"),
    [
        ("fr", "Bruxelles, 3–5 février 2027.", "3,5"),
        ("nl", "Brussel, 3–5 februari 2027.", "3,5"),
        ("en", "Brussels, 3–5 February 2027.", "3.5"),
    ],
)
def test_the_report_speaks_the_readers_language_in_html_markdown_and_pdf(
    feedback_client, rated, language, dates, mean
):
    event, _session, _people = rated
    base = f"/api/v1/events/{event['slug']}/report?lang={language}&format="
    html = text(feedback_client.get(base + "html", headers=ORGANISER))
    assert dates in html and "2027-02-03" not in html
    assert f'<td class="n">{mean}</td>' in html
    if language in THEMES:
        assert f"<h2>{THEMES[language]}</h2>" in html
    markdown = text(feedback_client.get(base + "md", headers=ORGANISER))
    assert dates.replace(".", "\\.") in markdown and "2027-02-03" not in markdown
    assert f"| {mean.replace('.', chr(92) + '.')} |" in markdown or f"| {mean} |" in markdown
    pdf = feedback_client.get(base + "pdf", headers=ORGANISER).data
    content = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert dates.split(",")[1].strip().rstrip(".") in content
    assert "2027-02-03" not in content


def test_a_one_day_event_shows_one_date_in_the_report(feedback_client, world):
    event = world.event(starts_on=date(2027, 2, 3), ends_on=date(2027, 2, 3))
    world.session(event)
    html = text(
        feedback_client.get(
            f"/api/v1/events/{event['slug']}/report?lang=fr&format=html", headers=ORGANISER
        )
    )
    assert "Brussels, 3 février 2027." in html
    assert "3–3" not in html


def test_the_report_json_keeps_iso_dates_and_plain_numbers(feedback_client, rated):
    event, _session, _people = rated
    data = feedback_client.get(
        f"/api/v1/events/{event['slug']}/report?lang=fr", headers=ORGANISER
    ).get_json()
    assert (data["event"]["starts_on"], data["event"]["ends_on"]) == ("2027-02-03", "2027-02-05")
    assert data["event"]["city_translations"] == CITY
    assert data["themes"][0]["theme"] == THEME
    assert data["themes"][0]["theme_translations"] == THEMES
    assert data["headline"]["mean"] == 3.5


def test_the_report_page_leads_back_to_the_dashboard(feedback_client, rated):
    event, _session, _people = rated
    page = text(feedback_client.get(f"/organiser/events/{event['slug']}/report?lang=nl"))
    dashboard = f'href="/organiser/events/{event["slug"]}"'
    header = page[page.index('<header class="top">') : page.index("</header>")]
    assert dashboard in header  # the site header: the event's name leads to its dashboard
    top = page[page.index("<main>") : page.index("<h1>")]
    assert dashboard in top and "Terug naar het dashboard van de feedback" in top
    assert re.search(r"<title>[^<]+: Security, Democracy &amp; Cities</title>", page)


def test_the_report_page_lets_wide_tables_scroll_and_breaks_no_word(feedback_client, rated):
    event, _session, _people = rated
    page = text(feedback_client.get(f"/organiser/events/{event['slug']}/report?lang=nl"))
    assert "overflow-wrap: anywhere" not in page and "word-break" not in page
    assert (
        '<div class="table-scroll" role="region" tabindex="0" aria-labelledby="sessions-1">' in page
    )
