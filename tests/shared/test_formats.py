"""Numbers, dates and times as each language writes them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared import formats


@pytest.mark.parametrize(
    ("language", "mean", "share", "thousands"),
    [("fr", "3,4", "83\u202f%", "1\u202f234,5"), ("nl", "3,4", "83%", "1.234,5"),
     ("en", "3.4", "83%", "1,234.5")],
)  # fmt: skip
def test_numbers(language: str, mean: str, share: str, thousands: str) -> None:
    assert formats.number(3.4, language) == mean
    assert formats.percent(0.833, language).replace("\xa0", "\u202f") == share
    assert formats.number(1234.5, language).replace("\xa0", "\u202f") == thousands
    assert formats.fixed(4, language) == ("4.0" if language == "en" else "4,0")


@pytest.mark.parametrize(
    ("language", "days", "months", "one"),
    [
        ("fr", "3–5 février 2027", "28 février – 2 mars 2027", "3 février 2027"),
        ("nl", "3–5 februari 2027", "28 februari – 2 maart 2027", "3 februari 2027"),
        ("en", "3–5 February 2027", "28 February – 2 March 2027", "3 February 2027"),
    ],
)
def test_date_ranges_and_a_one_day_event(language: str, days: str, months: str, one: str) -> None:
    assert formats.day_range(date(2027, 2, 3), date(2027, 2, 5), language) == days
    assert formats.day_range(date(2027, 2, 28), date(2027, 3, 2), language) == months
    assert formats.day_range(date(2027, 2, 3), date(2027, 2, 3), language) == one
    assert formats.day_range(date(2026, 12, 30), date(2027, 1, 2), language).count("20") == 2


def test_times_are_in_the_event_zone_on_the_24_hour_clock() -> None:
    winter = datetime(2027, 2, 3, 13, 30, tzinfo=UTC)  # 14:30 in Brussels
    assert formats.moment(winter, "Europe/Brussels", "en") == "3 February 2027, 14:30"
    assert formats.moment(winter, "Europe/Brussels", "fr") == "3 février 2027, 14:30"
    ends = datetime(2027, 2, 3, 15, 0, tzinfo=UTC)
    there = formats.local(winter, "Europe/Brussels"), formats.local(ends, "Europe/Brussels")
    assert formats.clock_range(*there, "nl") == "14:30–16:00"


def test_zone_names_and_texts_in_the_reader_language() -> None:
    assert formats.zone_name("Europe/Brussels", "fr") == "heure\u00a0: Belgique"
    assert "België" in formats.zone_name("Europe/Brussels", "nl")
    rooms = {"fr": "Grande salle", "nl": "Grote zaal"}
    assert formats.in_language("Main hall", rooms, "nl") == "Grote zaal"
    assert formats.in_language("Main hall", rooms, "en") == "Main hall"
    assert formats.in_language("Main hall", {"fr": ""}, "fr") == "Main hall"
    assert formats.foreign("en", "fr") == "en"
    assert formats.foreign("fr", "fr") is None and formats.foreign(None, "fr") is None
    assert formats.For("nl").day(date(2027, 2, 3), "full") == "woensdag 3 februari 2027"
