"""The event the journeys run on, made through the organiser API as an organiser would.

Every text has its French, Dutch and English form, so a page in one language shows no
word of another. Two thematic sessions overlap (for the conflict); "R1" is moved into the
past once its raters are registered, so they can rate it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.browser.stack import Stack

SLUG = "brx-2026"
ZONE = ZoneInfo("Europe/Brussels")
TITLE = {
    "fr": "Villes sûres, villes ouvertes",
    "nl": "Veilige steden, open steden",
    "en": "Safe cities, open cities",
}
CITY = {"fr": "Bruxelles", "nl": "Brussel", "en": "Brussels"}
THEMES = {
    "trust": {
        "fr": "Confiance et démocratie",
        "nl": "Vertrouwen en democratie",
        "en": "Trust and democracy",
    },
    "night": {"fr": "Vie nocturne", "nl": "Nachtleven", "en": "Night-time governance"},
}
ROOMS = {
    "hall": {"fr": "Grande salle", "nl": "Grote zaal", "en": "Main hall"},
    "herge": {"fr": "Salle Hergé", "nl": "Zaal Hergé", "en": "Hergé room"},
    "bus": {
        "fr": "Départ : entrée principale",
        "nl": "Vertrek: hoofdingang",
        "en": "Departure: main entrance",
    },
}


def text(values: dict[str, str]) -> dict[str, Any]:
    return {"en": values["en"], "fr": values["fr"], "nl": values["nl"]}


def session(code: str, kind: str, theme: str, room: str, day: int, start: str, end: str,
            title: dict[str, str], capacity: int | None = 200) -> dict[str, Any]:  # fmt: skip
    today = datetime.now(ZONE).date()
    local_day = today + timedelta(days=day)

    def at(clock: str) -> str:
        hour, minute = map(int, clock.split(":"))
        return datetime.combine(local_day, time(hour, minute), ZONE).isoformat()

    return {
        "code": code,
        "kind": kind,
        "title": title["en"],
        "title_translations": text(title),
        "description": title["en"] + ".",
        "description_translations": {lang: value + "." for lang, value in title.items()},
        "theme": THEMES[theme]["en"],
        "theme_translations": text(THEMES[theme]),
        "room": ROOMS[room]["en"],
        "room_translations": text(ROOMS[room]),
        "starts_at": at(start),
        "ends_at": at(end),
        "capacity": capacity,
        "language": "fr",
        "speakers": [
            {
                "name": "Anne Dupont",
                "organisation": "Efus",
                "bio": {
                    "fr": "Chercheuse en sécurité urbaine",
                    "nl": "Onderzoekster stedelijke veiligheid",
                    "en": "Researcher in urban security",
                },
            }
        ],
    }


SESSIONS = [
    session("OPEN", "plenary", "trust", "hall", 1, "09:00", "10:30", {
        "fr": "Plénière d'ouverture", "nl": "Openingsplenaire", "en": "Opening plenary"}),
    session("T1", "thematic", "trust", "herge", 1, "11:00", "12:30", {
        "fr": "La confiance dans la police", "nl": "Vertrouwen in de politie",
        "en": "Trust in the police"}),
    session("T2", "thematic", "night", "hall", 1, "11:00", "12:30", {
        "fr": "La nuit en ville", "nl": "De stad bij nacht", "en": "The city at night"}),
    session("V1", "field_visit", "night", "bus", 1, "14:00", "17:00", {
        "fr": "Visite du centre de prévention", "nl": "Bezoek aan het preventiecentrum",
        "en": "Visit to the prevention centre"}, capacity=30),
    session("R1", "thematic", "trust", "herge", 2, "09:00", "10:30", {
        "fr": "Démocratie locale", "nl": "Lokale democratie", "en": "Local democracy"}),
]  # fmt: skip


@dataclass
class Programme:
    slug: str
    raters: dict[str, str] = field(default_factory=dict)  # "fr-390" -> manage token
    emails: count[int] = field(default_factory=count)

    def email(self, who: str) -> str:
        return f"{who}-{next(self.emails)}@example.org"


def create(stack: Stack, rater_keys: list[str]) -> Programme:
    """The event, its sessions and one participant per key who can rate "R1"."""
    today = datetime.now(ZONE).date()
    now = datetime.now(UTC)
    programme = Programme(SLUG)
    with stack.api() as api:
        answer = api.post(
            "/api/v1/events",
            json={
                "slug": SLUG,
                "title": TITLE["en"],
                "title_translations": text(TITLE),
                "city": CITY["en"],
                "city_translations": text(CITY),
                "timezone": "Europe/Brussels",
                "starts_on": (today - timedelta(days=1)).isoformat(),
                "ends_on": (today + timedelta(days=2)).isoformat(),
                "languages": ["fr", "nl", "en"],
                "registration_opens_at": (now - timedelta(days=2)).isoformat(),
                "registration_closes_at": (now + timedelta(days=1)).isoformat(),
            },
        )
        ok(answer)
        for body in SESSIONS:
            ok(api.post(f"/api/v1/events/{SLUG}/sessions", json=body))
        for key in rater_keys:
            language = key.split("-")[0]  # their pages are in their own language
            programme.raters[key] = register(
                api, programme, f"rater-{key}", ["R1", "OPEN"], language
            )
        started = {
            "starts_at": (now - timedelta(hours=2)).isoformat(),
            "ends_at": (now - timedelta(hours=1)).isoformat(),
        }
        ok(api.patch(f"/api/v1/events/{SLUG}/sessions/R1", json=started))
    return programme


def register(api: httpx.Client, programme: Programme, who: str, codes: list[str],
             language: str = "en") -> str:  # fmt: skip
    answer = api.post(
        f"/api/v1/events/{programme.slug}/registrations",
        json={
            "name": who.replace("-", " ").title(),
            "email": programme.email(who),
            "organisation": "Ville de Liège",
            "city": "Liège",
            "country": "BE",
            "role": "local_government",
            "language": language,
            "session_codes": codes,
            "consent": True,
        },
    )
    ok(answer)
    return str(answer.json()["manage_token"])


def ok(answer: httpx.Response) -> None:
    assert answer.is_success, f"{answer.request.method} {answer.request.url}: {answer.text}"
