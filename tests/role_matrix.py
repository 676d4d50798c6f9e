"""The role matrix: every route of the three services (from their URL maps and OpenAPI
documents) with the decision it made (`public`, or the permission it needs), and for every
organiser route what each role gets: no credentials, an admin on every event, a manager of the
route's event, a manager of another event, desk, rapporteur and viewer of the route's event.

API routes are called with the account's bearer token, pages with a web session of the account
(as the registration sign-in starts it). Each account lives in every service's own copy, written
as the `organiser.*` events write it. `tests/test_role_matrix.py` holds the matrix to the roles'
permissions; `python -m tests.role_matrix_table` prints it.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from werkzeug.routing import Rule

from services.feedback import tasks as feedback_tasks
from shared.accounts import ALL_EVENTS, Actor, Grant, Permission
from shared.config import Settings
from shared.http import decision, needs_every_event
from tests.helpers import event_body, now
from tests.organisers import account_state, apply_state, start_session, use_session

SERVICES = ("registration", "feedback", "notifier")
EVENT = "matrix-event"
OTHER_EVENT = "other-event"
# Who calls each organiser route: None is no credentials; else the account's grants.
CALLERS: dict[str, tuple[tuple[str, str], ...] | None] = {
    "none": None,
    "admin *": ((ALL_EVENTS, "admin"),),
    "manager": ((EVENT, "manager"),),
    "manager (other event)": ((OTHER_EVENT, "manager"),),
    "desk": ((EVENT, "desk"),),
    "rapporteur": ((EVENT, "rapporteur"),),
    "viewer": ((EVENT, "viewer"),),
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}
SESSION = "S1"
# A value for each kind of path argument: the event is the one the roles are granted on.
ARGUMENTS = {"slug": EVENT, "code": SESSION, "fmt": "json"}
LET_IN = "let in"
REFUSED = "403"
NO_CREDENTIALS = "401"
TO_SIGN_IN = "sign-in"


@dataclass(frozen=True)
class Route:
    """One method of one URL rule, and what it decided."""

    service: str
    method: str
    rule: str
    endpoint: str
    decision: Permission | str | None
    every_event: bool

    @property
    def is_api(self) -> bool:
        return self.rule.startswith("/api/")

    @property
    def event(self) -> str | None:
        """The event the permission is checked on, for this route's calls."""
        if self.every_event:
            return ALL_EVENTS
        return EVENT if "<slug>" in self.rule else None

    @property
    def label(self) -> str:
        return f"{self.service} {self.method} {self.rule}"


def view_of(app: Any, rule: Rule, method: str) -> Any:
    """The function that serves `method` on `rule` (a MethodView's method, or the view)."""
    view = app.view_functions[rule.endpoint]
    view_class = getattr(view, "view_class", None)
    return getattr(view_class, method.lower()) if view_class is not None else view


def routes(service: str, app: Any) -> list[Route]:
    """Every route of an app's URL map, one per method, with its decision."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            view = view_of(app, rule, method)
            found.append(
                Route(
                    service,
                    method,
                    rule.rule,
                    rule.endpoint,
                    decision(view),
                    needs_every_event(view),
                )
            )
    return sorted(found, key=lambda route: (route.rule, route.method))


def openapi_path(rule: str) -> str:
    """A Flask rule as the OpenAPI document writes it (`<int:id>` → `{id}`)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def openapi_operations(app: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for each operation of the app's OpenAPI document."""
    spec = app.test_client().get("/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method.upper() not in IGNORED_METHODS and isinstance(operation, dict):
                yield path, method.upper(), operation


def expected(route: Route, caller: str) -> str:
    """What the roles' permissions say a caller gets on an organiser route."""
    grants = CALLERS[caller]
    if grants is None:
        return NO_CREDENTIALS if route.is_api else TO_SIGN_IN
    actor = Actor(caller, tuple(Grant(event, role) for event, role in grants))
    assert isinstance(route.decision, Permission)
    return LET_IN if actor.may(route.decision, route.event) else REFUSED


def outcome(route: Route, status: int, location: str) -> str:
    """What a response says a caller got."""
    if status == 401:
        return NO_CREDENTIALS
    if status == 403:
        return REFUSED
    if status == 302 and "next=" in location:  # a page sends the visitor to sign in
        return TO_SIGN_IN
    return LET_IN


@dataclass
class Matrix:
    """The apps, their routes, and for each organiser route the status each caller got."""

    apps: dict[str, Any]
    routes: list[Route]
    statuses: dict[tuple[Route, str], int] = dataclasses.field(default_factory=dict)
    outcomes: dict[tuple[Route, str], str] = dataclasses.field(default_factory=dict)

    @property
    def organiser_routes(self) -> list[Route]:
        return [route for route in self.routes if isinstance(route.decision, Permission)]

    def undecided(self) -> list[Route]:
        return [route for route in self.routes if route.decision is None]


def make_apps(settings: Settings, databases: dict[str, str]) -> dict[str, Any]:
    """The three services' apps on their (migrated) databases, CSRF off (as a script calls)."""
    apps = {}
    for service in SERVICES:
        changed = dataclasses.replace(settings, **{f"{service}_database_url": databases[service]})
        create_app = importlib.import_module(f"services.{service}.app").create_app
        apps[service] = create_app(
            {"TESTING": True, "SETTINGS": changed, "WTF_CSRF_ENABLED": False}
        )
    return apps


def path_of(app: Any, route: Route) -> str:
    """The route's path, its arguments filled in (the event the roles are about, 1 for numbers,
    `x` for the rest: an unknown id is a 404, which tells a caller let in from one refused)."""
    values: dict[str, Any] = {name: "x" for name in re.findall(r"<(?:\w+:)?(\w+)>", route.rule)}
    values.update((name, value) for name, value in ARGUMENTS.items() if name in values)
    values.update((name, 1) for name in re.findall(r"<int:(\w+)>", route.rule))
    adapter = app.url_map.bind("localhost")
    return str(adapter.build(route.endpoint, values, method=route.method))


def call(app: Any, route: Route, token: str | None, session_id: str | None) -> Any:
    """Call one route as a script (API, bearer token) or a browser (page, web session) would."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"} if token and route.is_api else {}
    if session_id and not route.is_api:
        use_session(client, session_id)
    body: dict[str, Any] = {}
    if route.method in ("POST", "PUT", "PATCH") and route.is_api:
        body["json"] = {}
    return client.open(path_of(app, route), method=route.method, headers=headers, **body)


def seed(apps: dict[str, Any]) -> None:
    """The event and a session of it on the registration service, and on the feedback service
    from the registration's events (as its worker gets them), so that a caller let in gets the
    page or the data, not a 404."""
    registration = apps["registration"]
    token = registration.extensions["settings"].organiser_token
    client, headers = registration.test_client(), {"Authorization": f"Bearer {token}"}
    client.post("/api/v1/events", json=event_body(slug=EVENT), headers=headers)
    start = now() + timedelta(days=30)
    session = {
        "code": SESSION,
        "title": "Night-time governance",
        "kind": "thematic",
        "theme": "Nightlife",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "capacity": 10,
    }
    client.post(f"/api/v1/events/{EVENT}/sessions", json=session, headers=headers)
    with registration.app_context():
        events = [(row.task_name, row.payload) for row in registration_events()]
    with apps["feedback"].app_context():
        for name, payload in events:
            if name in feedback_tasks.HANDLERS:
                feedback_tasks.consume(name, payload)


def registration_events() -> list[Any]:
    from services.registration.extensions import db
    from services.registration.models import Outbox

    return list(db.session.scalars(select(Outbox).order_by(Outbox.seq)))


def build(apps: dict[str, Any]) -> Matrix:
    """Every route's decision, and every organiser route called by every caller."""
    seed(apps)
    matrix = Matrix(
        apps, [route for service in SERVICES for route in routes(service, apps[service])]
    )
    callers = {}
    for caller, grants in CALLERS.items():
        if grants is None:
            callers[caller] = (None, None)
            continue
        state, token = account_state(grants, account_id=uuid.uuid4().hex)
        for app in apps.values():
            apply_state(app, state)
        callers[caller] = (token, start_session(apps["registration"], state["id"]))
    for route in matrix.organiser_routes:
        for caller, (token, session_id) in callers.items():
            response = call(apps[route.service], route, token, session_id)
            matrix.statuses[route, caller] = response.status_code
            matrix.outcomes[route, caller] = outcome(
                route, response.status_code, response.headers.get("Location", "")
            )
    return matrix


def table(matrix: Matrix) -> str:
    """The matrix in Markdown: one row per organiser route, one column per caller; a cell is
    the status the caller got (`sign-in`: a page sent them to sign in)."""
    header = ["route", "permission", *CALLERS]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for route in matrix.organiser_routes:
        permission = str(route.decision) + (" (`*`)" if route.every_event else "")
        cells = []
        for caller in CALLERS:
            got = matrix.outcomes[route, caller]
            status = matrix.statuses[route, caller]
            cells.append(TO_SIGN_IN if got == TO_SIGN_IN else str(status))
        lines.append(f"| `{route.label}` | {permission} | " + " | ".join(cells) + " |")
    public = sum(route.decision == "public" for route in matrix.routes)
    lines.append("")
    lines.append(
        f"{len(matrix.organiser_routes)} organiser routes, {public} public routes, "
        f"{len(matrix.undecided())} without a decision."
    )
    return "\n".join(lines)


def mismatches(matrix: Matrix) -> list[str]:
    """Every cell where the caller got something else than the roles' permissions say."""
    wrong = []
    for route in matrix.organiser_routes:
        for caller in CALLERS:
            got, want = matrix.outcomes[route, caller], expected(route, caller)
            status = matrix.statuses[route, caller]
            if got != want or status >= 500:
                wrong.append(f"{route.label} as {caller}: got {status} ({got}), expected {want}")
    return wrong


def find(matrix: Matrix, service: str, method: str, rule: str) -> Route:
    for route in matrix.routes:
        if (route.service, route.method, route.rule) == (service, method, rule):
            return route
    raise LookupError(f"no route {service} {method} {rule}")


def let_in(matrix: Matrix, caller: str, labels: Iterable[tuple[str, str, str]]) -> list[bool]:
    return [matrix.outcomes[find(matrix, *label), caller] == LET_IN for label in labels]
