"""The feedback catalogue is complete and agrees with the shared one; the OpenAPI document
covers the contract's feedback endpoints with their security."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
FEEDBACK = ROOT / "services" / "feedback" / "translations"
SHARED = ROOT / "shared" / "translations"


def catalogue(directory: Path, language: str) -> Any:
    with (directory / language / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        return read_po(po_file, locale=language)


def key(message_id: Any) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def test_the_feedback_catalogues_are_complete():
    with (ROOT / "services" / "feedback" / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    wanted = {
        key(message[2])
        for message in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords, comment_tags=()
        )
    }
    assert len(wanted) > 100
    for language in ("fr", "nl", "en"):
        found = catalogue(FEEDBACK, language)
        assert sorted(wanted - {key(m.id) for m in found if m.id}) == [], language
        for message in found:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{language}: no translation for {message.id!r}"
            assert not message.fuzzy, f"{language}: fuzzy translation for {message.id!r}"


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_messages_shared_with_the_common_catalogue_keep_its_translation(language):
    # Every app loads every catalogue, a later one winning: a different translation here would
    # change the registration pages too.
    shared = catalogue(SHARED, language)
    for message in catalogue(FEEDBACK, language):
        common = shared.get(message.id) if message.id else None
        if common is not None:
            assert message.string == common.string, message.id


CONTRACT = [
    ("post", "/api/v1/events/{slug}/sessions/{code}/feedback", "participant"),
    ("put", "/api/v1/events/{slug}/sessions/{code}/feedback", "participant"),
    ("get", "/api/v1/events/{slug}/sessions/{code}/feedback", "participant"),
    ("get", "/api/v1/events/{slug}/sessions/{code}/summary", "organiser"),
    ("get", "/api/v1/events/{slug}/summary", "organiser"),
    ("post", "/api/v1/events/{slug}/recommendations", "organiser"),
    ("get", "/api/v1/events/{slug}/recommendations", "organiser"),
    ("get", "/api/v1/events/{slug}/report", "organiser"),
]


@pytest.mark.parametrize(
    ("method", "path", "who"), CONTRACT, ids=[f"{m} {p}" for m, p, _ in CONTRACT]
)
def test_every_feedback_endpoint_of_the_contract_is_documented(feedback_client, method, path, who):
    spec = feedback_client.get("/openapi.json").get_json()
    operation = spec["paths"][path][method]
    assert {who: []} in operation["security"]


def test_the_feedback_schema_documents_its_limits(feedback_client):
    spec = feedback_client.get("/openapi.json").get_json()
    schema = spec["components"]["schemas"]["FeedbackIn"]
    assert schema["required"] == ["rating"]
    assert (
        schema["properties"]["rating"]["minimum"],
        schema["properties"]["rating"]["maximum"],
    ) == (1, 5)
    assert schema["properties"]["comment"]["maxLength"] == 2000
    assert schema["additionalProperties"] is False
    report = spec["paths"]["/api/v1/events/{slug}/report"]["get"]["parameters"]
    formats = next(p for p in report if p["name"] == "format")
    assert formats["schema"]["enum"] == ["json", "html", "md", "pdf"]
    assert feedback_client.get("/healthz").get_json() == {"service": "feedback", "status": "ok"}
