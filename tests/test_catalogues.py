"""Every message catalogue is complete: no French or Dutch entry untranslated or fuzzy, and no
translation whose placeholders differ from its message's (a missing one loses a value, an extra
one breaks the page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from shared.config import ROOT

CHECKED_LANGUAGES = ("fr", "nl")
CATALOGUES = sorted(
    path
    for folder in [ROOT / "shared" / "translations", *(ROOT / "services").glob("*/translations")]
    for path in folder.glob("*/LC_MESSAGES/messages.po")
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def forms(text: str | tuple[str, ...] | list[str]) -> list[str]:
    """The singular and plural forms of a message or a translation."""
    return [text] if isinstance(text, str) else list(text)


def problems(message: Message, language: str) -> list[str]:
    """What is wrong with one entry of a catalogue in `language`."""
    found = []
    translated = [form for form in forms(message.string) if form]
    if message.fuzzy:
        found.append("fuzzy")
    if language in CHECKED_LANGUAGES and len(translated) < len(forms(message.string)):
        found.append("untranslated")
    # Plural forms: a singular may leave out the count, so compare the forms taken together.
    expected = {name for form in forms(message.id) for name in placeholders(form)}
    given = {name for form in translated for name in placeholders(form)}
    if translated and given != expected:
        found.append(f"placeholders {sorted(given)} instead of {sorted(expected)}")
    return found


def report(path: Path) -> list[str]:
    language = path.parent.parent.name
    with path.open("rb") as po_file:
        catalog = read_po(po_file)
    return [
        f"{path.relative_to(ROOT)}: {message.id!r}: {', '.join(found)}"
        for message in catalog
        if message.id and (found := problems(message, language))
    ]


def test_there_are_catalogues_to_check() -> None:
    assert any(path.is_relative_to(ROOT / "shared") for path in CATALOGUES)
    assert len({path.parents[3] for path in CATALOGUES}) >= 4  # shared and the three services


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_entry_is_translated_with_the_same_placeholders(path: Path) -> None:
    found = report(path)
    assert not found, "\n".join(found)


def test_the_check_finds_each_kind_of_problem() -> None:
    assert problems(Message("Sign in", ""), "fr") == ["untranslated"]
    assert problems(Message("Sign in", ""), "en") == []
    assert problems(Message("Sign in", "Connexion", flags=["fuzzy"]), "fr") == ["fuzzy"]
    assert problems(Message("%(n)s seats", "%(m)s places"), "fr") == [
        "placeholders ['m'] instead of ['n']"
    ]
    assert (
        problems(Message(("One seat", "%(n)d seats"), ("%(n)d place", "%(n)d places")), "fr") == []
    )
