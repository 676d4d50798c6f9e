"""Numbers, dates, times and time zones as a reader of each language writes them (Babel).

Every page, email, report and PDF formats through these functions, with the reader's
language passed in: the same call serves a request and a Celery task. English is written
the British way (3 February 2027, 14:30), as a European conference does.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_location
from babel.numbers import format_decimal, format_percent

# The Babel locale behind each page language.
LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB"}


def locale(language: str | None) -> Locale:
    return Locale.parse(LOCALES.get(language or "en", language or "en"))


def in_language(text: str, translations: dict[str, Any] | None, language: str | None) -> str:
    """A text in the reader's language where there is one, else the text as entered."""
    chosen = (translations or {}).get(language or "")
    return str(chosen) if chosen else text


def number(value: float | int, language: str | None, digits: int = 1) -> str:
    """3.4 as "3,4" in French and Dutch, "3.4" in English; `digits` decimals at most."""
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=locale(language))


def fixed(value: float | int, language: str | None, digits: int = 1) -> str:
    """Always `digits` decimals: a mean of 4 is "4,0" in French (an average, not a count)."""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=locale(language))


def percent(fraction: float, language: str | None) -> str:
    """0.83 as "83 %" in French, "83%" in English."""
    return format_percent(fraction, locale=locale(language))


def day(value: date | datetime, language: str | None, width: str = "long") -> str:
    """3 February 2027 / 3 février 2027 / 3 februari 2027 ("full" adds the weekday)."""
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, width, locale=locale(language))


def day_range(first: date, last: date, language: str | None) -> str:
    """3–5 February 2027, 28 February – 2 March 2027; a one-day event is one date.

    Our three locales all write day, month, year, so the parts join the same way in each."""
    if first == last:
        return day(first, language)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{day(last, language)}"
    if first.year == last.year:
        start = format_date(first, "d MMMM", locale=locale(language))
        return f"{start} – {day(last, language)}"
    return f"{day(first, language)} – {day(last, language)}"


def clock(value: datetime, language: str | None) -> str:
    """14:30 in every one of our languages (the 24-hour clock of the locale)."""
    return format_time(value, "HH:mm", locale=locale(language))


def clock_range(starts: datetime, ends: datetime, language: str | None) -> str:
    return f"{clock(starts, language)}–{clock(ends, language)}"


def local(moment: datetime, zone: str | tzinfo) -> datetime:
    """A stored (UTC) moment in the event's time zone."""
    return moment.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone)


def moment(value: datetime, zone: str | tzinfo, language: str | None) -> str:
    """A date and time in the event's zone: "3 février 2027, 14:30"."""
    there = local(value, zone)
    return f"{day(there, language)}, {clock(there, language)}"


def zone_name(zone: str, language: str | None) -> str:
    """ "Europe/Brussels" as a reader says it: "heure : Belgique", "tijd in België" (French
    with its non-breaking space before the colon, which the locale data leaves out)."""
    name = get_timezone_location(ZoneInfo(zone), locale=locale(language))
    return name.replace(" :", "\u00a0:")


def foreign(text_language: str | None, language: str | None) -> str | None:
    """The `lang` attribute a text needs on a page in `language`: None when it is the page's
    own language or not known."""
    return text_language if text_language and text_language != language else None


class For:
    """The functions above bound to one reader's language: `fmt.day(d)`, `fmt.number(x)`.

    Pages get one for the page's language as `fmt`; emails and reports make their own.
    """

    def __init__(self, language: str | None) -> None:
        self.language = language or "en"

    def text(self, text: str, translations: dict[str, Any] | None) -> str:
        return in_language(text, translations, self.language)

    def number(self, value: float | int, digits: int = 1) -> str:
        return number(value, self.language, digits)

    def fixed(self, value: float | int, digits: int = 1) -> str:
        return fixed(value, self.language, digits)

    def percent(self, fraction: float) -> str:
        return percent(fraction, self.language)

    def day(self, value: date | datetime, width: str = "long") -> str:
        return day(value, self.language, width)

    def day_range(self, first: date, last: date) -> str:
        return day_range(first, last, self.language)

    def clock(self, value: datetime) -> str:
        return clock(value, self.language)

    def clock_range(self, starts: datetime, ends: datetime) -> str:
        return clock_range(starts, ends, self.language)

    def moment(self, value: datetime, zone: str | tzinfo) -> str:
        return moment(value, zone, self.language)

    def zone_name(self, zone: str) -> str:
        return zone_name(zone, self.language)

    def foreign(self, text_language: str | None) -> str | None:
        return foreign(text_language, self.language)
