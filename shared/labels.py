"""Names visitors read for the codes the contracts carry: kinds of session, participants'
roles and countries, in the page's language (the shared catalogue; countries from pycountry)."""

from __future__ import annotations

import functools
import gettext as gettext_module
import unicodedata
from collections.abc import Callable

import pycountry
from flask_babel import lazy_gettext as _l

from shared.pages import current_language

KIND_LABELS = {
    "plenary": _l("Plenary"),
    "thematic": _l("Thematic session"),
    "panel": _l("Panel"),
    "field_visit": _l("Field visit"),
}
ROLE_LABELS = {
    "elected_official": _l("Elected official"),
    "local_government": _l("Local government staff"),
    "magistrate": _l("Magistrate"),
    "police_security": _l("Police or security professional"),
    "social_worker": _l("Social worker"),
    "researcher": _l("Researcher"),
    "civil_society": _l("Civil society organisation"),
    "national_government": _l("National government"),
    "european_institution": _l("European institution"),
    "private_sector": _l("Private sector"),
    "journalist": _l("Journalist"),
    "other": _l("Other"),
}


def sort_key(text: str) -> str:
    """Alphabetical order for people: "Égypte" sorts with E, not after Z."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return plain.casefold()


@functools.cache
def _country_names(language: str) -> list[tuple[str, str]]:
    translate: Callable[[str], str] = str
    try:
        translate = gettext_module.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=[language]
        ).gettext
    except FileNotFoundError:
        pass  # no catalogue for this language: the English names
    names = [
        (c.alpha_2, translate(getattr(c, "common_name", None) or c.name))
        for c in pycountry.countries
    ]
    return sorted(names, key=lambda row: sort_key(row[1]))


def countries() -> list[tuple[str, str]]:
    """Every country as (code, name) in the page's language, in alphabetical order."""
    return _country_names(current_language())


@functools.cache
def _country_lookup(language: str) -> dict[str, str]:
    return dict(_country_names(language))


def country_name(code: str) -> str:
    return _country_lookup(current_language()).get(code, code)
