"""Every email in French, Dutch and English, whatever the rendering process's default locale."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from email import message_from_bytes
from email.policy import default as default_policy
from html import unescape
from pathlib import Path
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from icalendar import Calendar

from services.notifier.emails import (
    CONFIRMATION,
    EMAIL_CONFIRMED,
    HOLD_EXPIRED,
    SEAT_HELD,
    TEMPLATE_FOR_EVENT,
    TEMPLATES,
    Email,
    Person,
    compose,
    template_for,
    to_mime,
)
from shared.auth import EmailConfirmationTokens, ParticipantTokens
from shared.config import ROOT, Settings
from shared.contracts import LANGUAGES, TaskNames, load
from tests.helpers import SECRET_KEY
from tests.notifier import conftest
from tests.notifier.conftest import CRISIS_CENTRE, DRUGS, EVENT, FEEDBACK_URL, Messages

BRUSSELS = ZoneInfo("Europe/Brussels")
# Words that only a correct translation contains: the greeting, the footer, each subject
# (French puts a non-breaking space before a colon or question mark and inside « »).
GREETING = {"fr": "Bonjour Ana Dupont,", "nl": "Beste Ana Dupont,", "en": "Dear Ana Dupont,"}
FOOTER = {
    "fr": "Ce lien est personnel",
    "nl": "Deze link is persoonlijk",
    "en": "This link is personal",
}
SUBJECTS = {
    "confirmation": {
        "fr": "Votre inscription à Sécurité, démocratie et villes",
        "nl": "Uw inschrijving voor Veiligheid, democratie en steden",
        "en": "Your registration for Security, Democracy & Cities",
    },
    "seat_confirmed": {
        "fr": "Votre place à «\u00a0Visite : le Centre régional de crise\u00a0» est confirmée",
        "nl": "Uw plaats in ‘Bezoek: het Gewestelijk Crisiscentrum’ is bevestigd",
        "en": "Your place in “Visit: the Regional Crisis Centre” is confirmed",
    },
    "waitlisted": {
        "fr": "Vous êtes sur la liste d’attente de "
        "«\u00a0Visite : le Centre régional de crise\u00a0»",
        "nl": "U staat op de wachtlijst voor ‘Bezoek: het Gewestelijk Crisiscentrum’",
        "en": "You are on the waiting list for “Visit: the Regional Crisis Centre”",
    },
    "promoted": {
        "fr": "Bonne nouvelle\u00a0: une place vous attend à "
        "«\u00a0Visite : le Centre régional de crise\u00a0»",
        "nl": "Goed nieuws: er is een plaats voor u in ‘Bezoek: het Gewestelijk Crisiscentrum’",
        "en": "Good news: a place is yours in “Visit: the Regional Crisis Centre”",
    },
    "seat_released": {
        "fr": "Vous avez quitté «\u00a0Visite : le Centre régional de crise\u00a0»",
        "nl": "U hebt ‘Bezoek: het Gewestelijk Crisiscentrum’ verlaten",
        "en": "You have left “Visit: the Regional Crisis Centre”",
    },
    "cancelled": {
        "fr": "Votre inscription à Sécurité, démocratie et villes est annulée",
        "nl": "Uw inschrijving voor Veiligheid, democratie en steden is geannuleerd",
        "en": "Your registration for Security, Democracy & Cities is cancelled",
    },
    "manage_link": {
        "fr": "Votre lien personnel pour Sécurité, démocratie et villes",
        "nl": "Uw persoonlijke link voor Veiligheid, democratie en steden",
        "en": "Your personal link for Security, Democracy & Cities",
    },
    "feedback_invitation": {
        "fr": "Qu’avez-vous pensé de «\u00a0Criminalité organisée et trafic de drogue\u00a0»"
        "\u00a0? Donnez-nous votre avis",
        "nl": "Hoe was ‘Georganiseerde misdaad en drugshandel’? Geef ons uw mening",
        "en": "How was “Organised crime and drug trafficking”? Give us your opinion",
    },
    "seat_held": {
        "fr": "Confirmez votre adresse e-mail pour garder votre place à "
        "«\u00a0Visite : le Centre régional de crise\u00a0»",
        "nl": "Bevestig uw e-mailadres om uw plaats in ‘Bezoek: het Gewestelijk Crisiscentrum’ "
        "te behouden",
        "en": "Confirm your email address to keep your place in "
        "“Visit: the Regional Crisis Centre”",
    },
    "email_confirmed": {
        "fr": "Votre place à «\u00a0Visite : le Centre régional de crise\u00a0» est confirmée",
        "nl": "Uw plaats in ‘Bezoek: het Gewestelijk Crisiscentrum’ is bevestigd",
        "en": "Your place in “Visit: the Regional Crisis Centre” is confirmed",
    },
    "hold_expired": {
        "fr": "Votre place à «\u00a0Visite : le Centre régional de crise\u00a0» a été libérée",
        "nl": "Uw plaats in ‘Bezoek: het Gewestelijk Crisiscentrum’ is vrijgegeven",
        "en": "Your place in “Visit: the Regional Crisis Centre” has been released",
    },
}
# A sentence of each body that exists only in that template.
BODY = {
    "confirmation": {
        "fr": "Voici le récapitulatif de votre inscription",
        "nl": "Hier is een overzicht van uw inschrijving",
        "en": "Here is a summary of your registration",
    },
    "seat_confirmed": {
        "fr": "Vous avez désormais une place dans cette session",
        "nl": "U hebt nu een plaats in deze sessie",
        "en": "You now have a place in this session",
    },
    "waitlisted": {
        "fr": "Vous êtes numéro 3 sur la liste d’attente.",
        "nl": "U bent nummer 3 op de wachtlijst.",
        "en": "You are number 3 on the waiting list.",
    },
    "promoted": {
        "fr": "Une place s’est libérée et elle est pour vous",
        "nl": "Er is een plaats vrijgekomen en die is voor u",
        "en": "A place has become free and it is yours",
    },
    "seat_released": {
        "fr": "vous n’avez plus de place dans cette session",
        "nl": "hebt u geen plaats meer in deze sessie",
        "en": "you no longer have a place in this session",
    },
    "cancelled": {
        "fr": "Ces places ont été libérées",
        "nl": "Deze plaatsen zijn vrijgegeven",
        "en": "These places have been released",
    },
    "manage_link": {
        "fr": "Vous avez demandé votre lien personnel",
        "nl": "U hebt uw persoonlijke link voor",
        "en": "You asked for your personal link",
    },
    "feedback_invitation": {
        "fr": "Merci d’avoir participé à cette session",
        "nl": "Bedankt voor uw deelname aan deze sessie",
        "en": "Thank you for attending this session",
    },
    "seat_held": {
        "fr": "Une place dans cette session vous est réservée",
        "nl": "Er wordt een plaats in deze sessie voor u vastgehouden",
        "en": "A place in this session is held for you",
    },
    "email_confirmed": {
        "fr": "Merci d’avoir confirmé votre adresse e-mail",
        "nl": "Bedankt voor het bevestigen van uw e-mailadres",
        "en": "Thank you for confirming your email address",
    },
    "hold_expired": {
        "fr": "Votre adresse e-mail n’a pas été confirmée à temps",
        "nl": "Uw e-mailadres is niet op tijd bevestigd",
        "en": "Your email address was not confirmed in time",
    },
}
OTHER_LOCALE = {"fr": "nl", "nl": "en", "en": "fr"}
EVENT_FOR_TEMPLATE = {template: name for name, template in TEMPLATE_FOR_EVENT.items()}
# 17:00 in Brussels (CET).
HOLD_DEADLINE = "2024-03-10T16:00:00+00:00"
# The emails about a place held until the address is confirmed: the seat event each answers,
# and what its seat says.
HOLD_SEATS: dict[str, tuple[str, dict[str, Any]]] = {
    SEAT_HELD: (TaskNames.SEAT_CONFIRMED, {"status": "held", "hold_expires_at": HOLD_DEADLINE}),
    EMAIL_CONFIRMED: (
        TaskNames.SEAT_PROMOTED,
        {"status": "confirmed", "reason": "email_confirmed"},
    ),
    HOLD_EXPIRED: (
        TaskNames.SEAT_RELEASED,
        {"status": "held", "hold_expires_at": HOLD_DEADLINE, "reason": "hold_expired"},
    ),
}


def make_app(tmp_path: Path, default_locale: str) -> Any:
    from services.notifier.app import create_app

    settings = dataclasses.replace(
        Settings(),
        secret_key=SECRET_KEY,
        notifier_database_url=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        public_base_url="https://agora.test",
        feedback_public_url=FEEDBACK_URL,
    )
    return create_app(
        {"TESTING": True, "SETTINGS": settings, "BABEL_DEFAULT_LOCALE": default_locale}
    )


def render(app: Any, template: str, language: str, **person: Any) -> Email:
    """Compose an email as the worker does: inside an app context, from a loaded message."""
    messages = Messages(language=language, **person)
    if template in HOLD_SEATS:
        name, seat = HOLD_SEATS[template]
        body = messages.for_event(name)
        body["seat"].update(seat)
    else:
        name = EVENT_FOR_TEMPLATE[template]
        body = messages.for_event(name)
    message = load(name, body)
    assert template_for(name, message) == template  # the email the worker picks
    recipient = Person(
        messages.registration_id, messages.email, messages.name, language, token_version=1
    )
    known = {"T1": DRUGS, "FV1": CRISIS_CENTRE}
    with app.app_context():
        return compose(template, message, recipient, app.extensions["links"], known)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_email_is_written_in_the_participants_language_not_the_default(
    tmp_path, template, language
):
    app = make_app(tmp_path, default_locale=OTHER_LOCALE[language])
    email = render(app, template, language)
    assert email.subject == SUBJECTS[template][language]
    for body in (email.text, email.html):
        assert GREETING[language] in body
        assert FOOTER[language] in body
        assert BODY[template][language] in body
    assert f'<html lang="{language}">' in email.html
    assert email.language == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_confirmation_shows_local_times_translated_titles_and_the_waiting_list(
    tmp_path, language
):
    email = render(make_app(tmp_path, "en"), CONFIRMATION, language)
    expected = {
        "fr": (
            "mercredi 20 mars 2024, 09:30–11:00",
            "heure\u00a0: Belgique",
            "Criminalité organisée",
        ),
        "nl": ("woensdag 20 maart 2024, 09:30–11:00", "tijd in België", "Georganiseerde misdaad"),
        "en": ("Wednesday, 20 March 2024, 09:30–11:00", "Belgium Time", "Organised crime"),
    }[language]
    for text in expected:
        assert text in email.text
    waiting = {"fr": "numéro 4", "nl": "nummer 4", "en": "number 4"}[language]
    assert waiting in email.text and waiting in email.html


# What the confirmation says of the event and of its session, as each reader writes it.
LOCALISED = {
    "fr": {
        "dates": "Sécurité, démocratie et villes · 20–22 mars 2024 · Bruxelles",
        "session": "mercredi 20 mars 2024, 09:30–11:00 (heure\u00a0: Belgique) · Salle plénière",
    },
    "nl": {
        "dates": "Veiligheid, democratie en steden · 20–22 maart 2024 · Brussel",
        "session": "woensdag 20 maart 2024, 09:30–11:00 (tijd in België) · Plenaire zaal",
    },
    "en": {
        "dates": "Security, Democracy & Cities · 20–22 March 2024 · Brussels",
        "session": "Wednesday, 20 March 2024, 09:30–11:00 (Belgium Time) · Plenary hall",
    },
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_event_dates_city_and_session_room_are_in_the_participants_language(tmp_path, language):
    email = render(make_app(tmp_path, OTHER_LOCALE[language]), CONFIRMATION, language)
    html = unescape(email.html)
    for expected in LOCALISED[language].values():
        assert expected in email.text
        assert expected in html
    for english in ("Brussels", "Plenary hall", "Belgium Time"):
        if language != "en":
            assert english not in email.text and english not in html


def test_a_one_day_event_shows_one_date(tmp_path):
    app = make_app(tmp_path, "en")
    one_day = {**EVENT, "ends_on": EVENT["starts_on"]}
    with patch.dict(conftest.EVENT, one_day):
        email = render(app, CONFIRMATION, "fr")
    assert "Sécurité, démocratie et villes · 20 mars 2024 · Bruxelles" in email.text
    assert "20–20" not in email.text and "20–20" not in unescape(email.html)


@pytest.mark.parametrize(
    ("language", "sender"),
    [
        ("fr", "Sécurité, démocratie et villes"),
        ("nl", "Veiligheid, democratie en steden"),
        ("en", "Security, Democracy & Cities"),
    ],
)
def test_the_sender_is_the_event_in_the_participants_language_at_mail_from_s_address(
    tmp_path, language, sender
):
    email = render(make_app(tmp_path, "en"), CONFIRMATION, language)
    raw = to_mime(email, "key", "ana@example.org", "Agora team <no-reply@agora.test>")
    header = raw.split(b"\r\n\r\n", 1)[0]
    assert header.isascii()  # the accented name travels RFC 2047 encoded
    parsed = message_from_bytes(raw, policy=default_policy)
    (address,) = parsed["From"].addresses
    assert (address.display_name, address.addr_spec) == (sender, "no-reply@agora.test")
    assert parsed["Content-Language"] == language


def test_an_email_about_no_event_is_from_agora():
    email = Email("manage_link", "fr", "Sujet", "texte", "<p>texte</p>")
    parsed = message_from_bytes(to_mime(email, "k", "a@example.org", "x <no-reply@agora.test>"))
    assert parsed["From"] == "Agora <no-reply@agora.test>"


def test_the_manage_link_is_the_participants_signed_token(tmp_path):
    messages = Messages()
    email = render(make_app(tmp_path, "en"), CONFIRMATION, "fr")
    token = ParticipantTokens(SECRET_KEY).sign(messages.registration_id, 1)
    assert token not in ("", None)
    link = next(line for line in email.text.splitlines() if "/manage/" in line)
    claim = ParticipantTokens(SECRET_KEY).verify(link.rsplit("/", 1)[1])
    assert link.startswith("https://agora.test/manage/")
    assert claim is not None and claim.token_version == 1


def test_the_feedback_invitation_links_to_the_rating_page(tmp_path):
    email = render(make_app(tmp_path, "en"), "feedback_invitation", "nl")
    assert f"{FEEDBACK_URL}/rate/" in email.text
    assert "5 april 2024" in email.text  # the feedback window's last day, in Dutch
    assert "Plenaire zaal" in email.text


def test_the_calendar_has_one_event_per_confirmed_session_in_the_event_time_zone(tmp_path):
    app = make_app(tmp_path, "en")
    email = render(app, CONFIRMATION, "fr")
    (attachment,) = email.attachments
    assert attachment.content_type.startswith("text/calendar")
    calendar = Calendar.from_ical(attachment.content)
    (event,) = calendar.walk("VEVENT")  # the waitlisted field visit is not in it
    assert event["dtstart"].params["TZID"] == "Europe/Brussels"
    assert event.decoded("dtstart") == datetime(2024, 3, 20, 9, 30, tzinfo=BRUSSELS)
    assert event.decoded("dtend") == datetime(2024, 3, 20, 11, 0, tzinfo=BRUSSELS)
    assert str(event["summary"]) == "Criminalité organisée et trafic de drogue"
    assert str(event["location"]) == "Salle plénière, Bruxelles"
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Brussels"]
    again = Calendar.from_ical(render(app, CONFIRMATION, "fr").attachments[0].content)
    assert event["uid"] != ""
    assert len({str(e["uid"]) for e in again.walk("VEVENT")}) == 1  # stable per person/session


def test_emails_without_a_confirmed_seat_carry_no_calendar(tmp_path):
    app = make_app(tmp_path, "en")
    for template in ("waitlisted", "seat_released", "cancelled", "manage_link"):
        assert render(app, template, "en").attachments == ()
    assert len(render(app, "promoted", "en").attachments) == 1


def test_html_escapes_what_participants_and_organisers_typed(tmp_path):
    email = render(make_app(tmp_path, "en"), CONFIRMATION, "en", name="<b>Ana</b> & co")
    assert "<b>Ana</b>" not in email.html
    assert "&lt;b&gt;Ana&lt;/b&gt; &amp; co" in email.html
    assert "Dear <b>Ana</b> & co," in email.text  # plain text is not HTML: no entities
    assert "Security, Democracy &amp; Cities" in email.html


def test_a_subject_never_spans_lines(tmp_path):
    app = make_app(tmp_path, "en")
    messages = Messages(language="en")
    session = {**CRISIS_CENTRE, "title": "Two\nlines", "title_translations": {}}
    message = load(TaskNames.SEAT_PROMOTED, messages.seat(TaskNames.SEAT_PROMOTED, session))
    person = Person(messages.registration_id, messages.email, "Ana", "en", 1)
    with app.app_context():
        email = compose("promoted", message, person, app.extensions["links"])
    assert "\n" not in email.subject and "Two lines" in email.subject


def catalogue(path: Path) -> dict[Any, Any]:
    with path.open("rb") as file:
        return {m.id: m.string for m in read_po(file) if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogues_are_complete_and_agree_with_the_shared_one(language):
    ours = catalogue(ROOT / "services/notifier/translations" / language / "LC_MESSAGES/messages.po")
    shared = catalogue(ROOT / "shared/translations" / language / "LC_MESSAGES/messages.po")
    assert all(ours.values()), "every message is translated"
    # Catalogues are merged: a message both define must read the same in both.
    assert {k: ours[k] for k in ours.keys() & shared.keys()} == {
        k: shared[k] for k in ours.keys() & shared.keys()
    }


# --- places held until the address is confirmed ------------------------------------------------


def held_registration(language: str) -> dict[str, Any]:
    """A registration with a confirmed session and a field visit held until 17:00."""
    body = Messages(language=language).registered()
    (visit,) = [seat for seat in body["seats"] if seat["status"] == "waitlisted"]
    visit.update(status="held", waitlist_position=None, hold_expires_at=HOLD_DEADLINE)
    return body


def compose_confirmation(app: Any, body: dict[str, Any], language: str) -> Email:
    message = load(TaskNames.REGISTERED, body)
    person = Person(body["participant"]["registration_id"], "a@example.org", "Ana", language, 1)
    with app.app_context():
        return compose(CONFIRMATION, message, person, app.extensions["links"])


def confirm_links(email: Email) -> list[str]:
    return [line for line in email.text.splitlines() if "/confirm-email/" in line]


@pytest.mark.parametrize(
    ("language", "deadline", "button"),
    [
        ("fr", "10 mars 2024, 17:00 (heure\u00a0: Belgique)", "Confirmer mon adresse"),
        ("nl", "10 maart 2024, 17:00 (tijd in België)", "Mijn e-mailadres bevestigen"),
        ("en", "10 March 2024, 17:00 (Belgium Time)", "Confirm my email address"),
    ],
)
def test_a_confirmation_with_a_held_place_carries_the_confirm_link_and_deadline(
    tmp_path, language, deadline, button
):
    body = held_registration(language)
    email = compose_confirmation(make_app(tmp_path, OTHER_LOCALE[language]), body, language)
    (link,) = confirm_links(email)
    assert link.startswith("https://agora.test/confirm-email/")
    token = link.rsplit("/", 1)[1]
    claim = EmailConfirmationTokens(SECRET_KEY).verify(token)
    assert claim is not None
    assert (claim.registration_id, claim.token_version) == (
        body["participant"]["registration_id"],
        1,
    )
    assert ParticipantTokens(SECRET_KEY).verify(token) is None  # it manages nothing
    for text in (email.text, unescape(email.html)):
        assert deadline in text
    assert button in unescape(email.html) and link in email.html
    assert email.html.count("<ul") == email.html.count("</ul>")
    # The calendar holds the confirmed session only, not the held one.
    (attachment,) = email.attachments
    summaries = [str(e["summary"]) for e in Calendar.from_ical(attachment.content).walk("VEVENT")]
    assert len(summaries) == 1 and "Centre" not in summaries[0] and "Crisis" not in summaries[0]


def test_without_a_held_place_no_email_has_a_confirm_link(tmp_path):
    app = make_app(tmp_path, "en")
    for template in [t for t in TEMPLATES if t not in (SEAT_HELD,)]:
        email = render(app, template, "en")
        assert "/confirm-email/" not in email.text + email.html, template


def test_a_held_place_email_has_the_confirm_link_and_no_calendar(tmp_path):
    email = render(make_app(tmp_path, "en"), SEAT_HELD, "nl")
    (link,) = confirm_links(email)
    assert EmailConfirmationTokens(SECRET_KEY).verify(link.rsplit("/", 1)[1]) is not None
    assert "vóór 10 maart 2024, 17:00 (tijd in België)" in email.text
    assert email.attachments == ()


def test_a_confirmed_place_comes_with_its_calendar_and_a_released_hold_without(tmp_path):
    app = make_app(tmp_path, "en")
    assert len(render(app, EMAIL_CONFIRMED, "en").attachments) == 1
    assert render(app, HOLD_EXPIRED, "en").attachments == ()


def test_seat_events_without_a_hold_keep_their_own_emails():
    messages = Messages()
    for name, template in [
        (TaskNames.SEAT_CONFIRMED, "seat_confirmed"),
        (TaskNames.SEAT_PROMOTED, "promoted"),
        (TaskNames.SEAT_RELEASED, "seat_released"),
        (TaskNames.SEAT_WAITLISTED, "waitlisted"),
    ]:
        assert template_for(name, load(name, messages.for_event(name))) == template
    # A participant dropping a held place themselves: the ordinary "you have left".
    dropped = messages.for_event(TaskNames.SEAT_RELEASED)
    dropped["seat"].update(status="held", hold_expires_at=HOLD_DEADLINE)
    released = load(TaskNames.SEAT_RELEASED, dropped)
    assert template_for(TaskNames.SEAT_RELEASED, released) == "seat_released"
