"""The role matrix (tests/role_matrix.py): every route of every service, found in its URL map
and its OpenAPI document, has decided who may call it (`public`, or a permission); and every
organiser route answers each caller (no credentials, admin, manager of the event or of another,
desk, rapporteur, viewer) 401, 403 or lets them in as the roles' permissions say, the contract's
table of roles checked by name for the routes it speaks of."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shared.accounts import Permission
from shared.config import Settings
from tests import role_matrix
from tests.helpers import ORGANISER_TOKEN, SECRET_KEY, migrated_database
from tests.role_matrix import LET_IN, REFUSED, Matrix, find, openapi_operations, openapi_path


@pytest.fixture(scope="module")
def matrix(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    settings = dataclasses.replace(
        Settings(),
        redis_url=redis_url,
        secret_key=SECRET_KEY,
        organiser_token=ORGANISER_TOKEN,
        rate_limits_enabled=False,
        public_base_url="http://testserver",
    )
    folder = tmp_path_factory.mktemp("role-matrix")
    databases = {s: migrated_database("sqlite", s, folder) for s in role_matrix.SERVICES}
    built = role_matrix.build(role_matrix.make_apps(settings, databases))
    yield built
    if "mailer" in built.apps["notifier"].extensions:
        built.apps["notifier"].extensions["mailer"].close()


def test_every_route_of_every_service_decided_who_may_call_it(matrix):
    assert [route.label for route in matrix.undecided()] == []
    assert len(matrix.organiser_routes) > 30  # the walk found them


def test_every_operation_of_the_openapi_documents_is_a_route_that_decided(matrix):
    for service, app in matrix.apps.items():
        by_path = {
            (openapi_path(r.rule), r.method): r for r in matrix.routes if r.service == service
        }
        for path, method, operation in openapi_operations(app):
            route = by_path.get((path, method))
            assert route is not None, f"{service} {method} {path} is in OpenAPI, not the URL map"
            assert route.decision is not None, route.label
            # The document tells scripts which calls need an organiser token, and tells true.
            organiser = any("organiser" in s for s in operation.get("security", []))
            assert organiser == isinstance(route.decision, Permission), route.label


def test_each_caller_gets_what_the_roles_permissions_say(matrix):
    assert role_matrix.mismatches(matrix) == []


def test_a_route_added_without_a_decision_fails_the_walk(matrix):
    from services.feedback.app import create_app

    settings = matrix.apps["feedback"].extensions["settings"]
    app = create_app({"TESTING": True, "SETTINGS": settings})
    app.add_url_rule("/organiser/forgotten", "forgotten", lambda: "personal data")
    undecided = [r.label for r in role_matrix.routes("feedback", app) if r.decision is None]
    assert undecided == ["feedback GET /organiser/forgotten"]


def outcomes(matrix: Matrix, caller: str, labels: list[tuple[str, str, str]]) -> list[str]:
    return [matrix.outcomes[find(matrix, *label), caller] for label in labels]


# The routes the contract's table of roles speaks of, by name.
PERSONAL = [
    ("registration", "GET", "/api/v1/events/<slug>/registrations"),
    ("registration", "GET", "/organiser/events/<slug>/registrations.csv"),
    ("notifier", "GET", "/api/v1/messages"),
    ("notifier", "GET", "/messages"),
    ("notifier", "GET", "/caught"),
]
FEEDBACK = [
    ("feedback", "GET", "/api/v1/events/<slug>/summary"),
    ("feedback", "GET", "/api/v1/events/<slug>/sessions/<code>/summary"),
    ("feedback", "GET", "/api/v1/events/<slug>/report"),
    ("feedback", "POST", "/api/v1/events/<slug>/recommendations"),
    ("feedback", "GET", "/organiser/events/<slug>"),
    ("feedback", "GET", "/organiser/events/<slug>/report"),
]
PROGRAMME_WRITE = [
    ("registration", "POST", "/api/v1/events/<slug>/sessions"),
    ("registration", "PATCH", "/api/v1/events/<slug>/sessions/<code>"),
]
FILL = [("registration", "GET", "/organiser/events/<slug>")]
EVERY_EVENT = [
    ("registration", "GET", "/api/v1/dead-letters"),
    ("feedback", "GET", "/organiser/dead-letters"),
    ("notifier", "POST", "/api/v1/dead-letters/<dead_letter_id>/replay"),
    ("registration", "POST", "/api/v1/events"),
]


def test_a_manager_has_their_event_s_programme_registrations_feedback_and_emails(matrix):
    mine = PERSONAL[:4] + FEEDBACK + PROGRAMME_WRITE + FILL
    assert set(outcomes(matrix, "manager", mine)) == {LET_IN}
    assert set(outcomes(matrix, "manager", EVERY_EVENT + PERSONAL[4:])) == {REFUSED}
    slugged = [r for r in PERSONAL + FEEDBACK + PROGRAMME_WRITE + FILL if "<slug>" in r[2]]
    assert set(outcomes(matrix, "manager (other event)", slugged)) == {REFUSED}


def test_a_rapporteur_has_the_feedback_and_nothing_personal(matrix):
    assert set(outcomes(matrix, "rapporteur", FEEDBACK)) == {LET_IN}
    assert set(outcomes(matrix, "rapporteur", PERSONAL + PROGRAMME_WRITE)) == {REFUSED}
    export = [("feedback", "GET", "/api/v1/events/<slug>/feedback")]
    assert outcomes(matrix, "rapporteur", export) == [REFUSED]


def test_the_desk_looks_at_the_fill_but_at_no_list(matrix):
    assert outcomes(matrix, "desk", FILL) == [LET_IN]
    assert set(outcomes(matrix, "desk", PERSONAL + FEEDBACK + PROGRAMME_WRITE)) == {REFUSED}


def test_a_viewer_sees_the_programme_and_its_fill_only(matrix):
    assert outcomes(matrix, "viewer", FILL) == [LET_IN]
    for route in matrix.organiser_routes:
        if route.decision not in (Permission.PROGRAMME_READ, Permission.OWN_ACCOUNT):
            assert matrix.outcomes[route, "viewer"] == REFUSED, route.label


def test_every_account_reaches_its_own_account_and_nothing_else_without_a_role(matrix: Any):
    own = [r for r in matrix.organiser_routes if r.decision == Permission.OWN_ACCOUNT]
    assert own, "the account pages and /api/v1/organisers/me are organisers' routes"
    for caller in ("admin *", "manager", "desk", "rapporteur", "viewer"):
        assert {matrix.outcomes[route, caller] for route in own} == {LET_IN}, caller


def test_an_admin_on_every_event_is_let_in_everywhere(matrix: Any):
    assert {matrix.outcomes[route, "admin *"] for route in matrix.organiser_routes} == {LET_IN}
