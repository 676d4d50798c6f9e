"""The OpenAPI document covers the contract, and /healthz answers."""

from __future__ import annotations

from typing import Any

import pytest

from services.registration.models import ROLES, SESSION_KINDS

# (method, path, who): every registration endpoint of the contract.
CONTRACT = [
    ("post", "/api/v1/events", "organiser"),
    ("get", "/api/v1/events", None),
    ("get", "/api/v1/events/{slug}", None),
    ("post", "/api/v1/events/{slug}/sessions", "organiser"),
    ("get", "/api/v1/events/{slug}/sessions", None),
    ("patch", "/api/v1/events/{slug}/sessions/{code}", "organiser"),
    ("post", "/api/v1/events/{slug}/registrations", None),
    ("get", "/api/v1/events/{slug}/registrations", "organiser"),
    ("post", "/api/v1/events/{slug}/registrations/resend-link", None),
    ("get", "/api/v1/registrations/me", "participant"),
    ("delete", "/api/v1/registrations/me", "participant"),
    ("post", "/api/v1/registrations/me/sessions", "participant"),
    ("delete", "/api/v1/registrations/me/sessions/{code}", "participant"),
    ("get", "/api/v1/registrations/me/export", "participant"),
    ("post", "/api/v1/registrations/me/erase", "participant"),
]


@pytest.fixture
def spec(registration_client) -> dict[str, Any]:
    response = registration_client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return dict(response.get_json())


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def request_schema(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
    return resolve(spec, body["schema"])


@pytest.mark.parametrize(
    ("method", "path", "who"), CONTRACT, ids=[f"{m} {p}" for m, p, _ in CONTRACT]
)
def test_every_contract_path_is_documented(spec, method, path, who):
    assert path in spec["paths"], sorted(spec["paths"])
    operation = spec["paths"][path].get(method)
    assert operation is not None, f"{method.upper()} {path} missing"
    security = operation.get("security", spec.get("security", []))
    if who is None:
        assert not security, (method, path, security)
    else:
        assert {"organiser": []} in security or {who: []} in security, (method, path, security)
        assert {who: []} in security


def test_security_schemes_are_bearer_tokens(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["organiser"] == {"type": "http", "scheme": "bearer"}
    assert schemes["participant"] == {"type": "http", "scheme": "bearer"}


def test_the_registration_schema_has_the_enums_and_required_fields(spec):
    schema = request_schema(spec, "post", "/api/v1/events/{slug}/registrations")
    props = schema["properties"]
    assert props["role"]["enum"] == list(ROLES)
    assert props["language"]["enum"] == ["fr", "nl", "en"]
    assert props["session_codes"]["type"] == "array"
    assert props["consent"]["type"] == "boolean"
    assert set(schema["required"]) >= {"name", "email", "country", "role", "language", "consent"}
    assert schema.get("additionalProperties") is False
    # It is called RegistrationIn in the components.
    assert "RegistrationIn" in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["RegistrationIn"]["properties"]["role"]["enum"] == list(
        ROLES
    )


def test_the_roles_cover_the_participant_categories():
    assert len(ROLES) == len(set(ROLES)) >= 8
    assert "other" in ROLES


def test_the_session_schema_has_the_kinds(spec):
    schema = request_schema(spec, "post", "/api/v1/events/{slug}/sessions")
    assert (
        schema["properties"]["kind"]["enum"]
        == list(SESSION_KINDS)
        == [
            "plenary",
            "thematic",
            "panel",
            "field_visit",
        ]
    )
    assert schema["properties"]["capacity"].get("nullable") is True


def test_the_listing_format_is_an_enum(spec):
    operation = spec["paths"]["/api/v1/events/{slug}/registrations"]["get"]
    (fmt,) = [p for p in operation["parameters"] if p["name"] == "format"]
    assert fmt["in"] == "query"
    assert fmt["schema"]["enum"] == ["json", "csv"]


def test_bad_input_responses_are_documented(spec):
    operation = spec["paths"]["/api/v1/events/{slug}/registrations"]["post"]
    assert {"201", "422"} <= set(operation["responses"])
    created = resolve(spec, operation["responses"]["201"]["content"]["application/json"]["schema"])
    assert {"id", "manage_token", "sessions"} <= set(created["properties"])


def test_the_seat_status_is_an_enum(spec):
    seat = spec["components"]["schemas"]["SeatOut"]
    assert seat["properties"]["status"]["enum"] == ["confirmed", "held", "waitlisted"]


def test_healthz(registration_client):
    response = registration_client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
