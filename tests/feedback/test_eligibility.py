"""Who may rate what, and when: the rule in SQL and the rule in Python give the same verdict.

The same table of cases runs through the Python rule (every backend) and, on PostgreSQL where
the one-statement POST uses it, through the SQL rule; each case must get its expected verdict
from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.feedback import eligibility
from services.feedback.extensions import db
from services.feedback.readmodel import get_event
from services.feedback.recommendations import create_recommendation
from shared.auth import ParticipantClaim
from shared.contracts import TaskNames
from shared.errors import RuleError
from tests.feedback.helpers import OTHER_THEME, THEME
from tests.helpers import now

UNKNOWN_TEXT = 999_999


@dataclass(frozen=True)
class Case:
    name: str
    who: str  # a rater set up in `raters`
    when: str  # a moment set up in `moments`
    verdict: str | None  # the rule that says no (its code), None when the rating is allowed
    endorsing: tuple[str, ...] = ()  # texts set up in `texts`


CASES = [
    Case("allowed", "confirmed", "during", None),
    Case("allowed, endorsing the theme's own texts", "confirmed", "during", None, ("ours",)),
    Case("allowed from the moment the session starts", "confirmed", "at the start", None),
    Case("the token version is stale", "revoked", "during", "invalid_link"),
    Case("waitlisted", "waitlisted", "during", "not_confirmed"),
    Case("no seat in this session", "elsewhere", "during", "not_confirmed"),
    Case("the seat was released", "released", "during", "not_confirmed"),
    Case("registered for another event", "stranger", "during", "other_event"),
    Case("before the session starts", "confirmed", "before the start", "not_started"),
    Case("after the feedback window", "confirmed", "at the close", "closed"),
    Case("after the feedback window, later still", "confirmed", "after the close", "closed"),
    Case("endorsing another theme's text", "confirmed", "during", "other_theme", ("theirs",)),
    Case(
        "endorsing one of its texts and another theme's",
        "confirmed",
        "during",
        "other_theme",
        ("ours", "theirs"),
    ),
    Case("endorsing an unknown text", "confirmed", "during", "unknown_recommendation", ("gone",)),
]


def python_verdict(
    slug: str, code: str, claim: ParticipantClaim, given: dict[str, int], when: datetime
) -> str | None:
    try:
        eligibility.check(db.session, slug, code, claim, given, when)
    except RuleError as rule:
        return rule.code
    return None


def setting(world: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """An event with a session of each theme, and people in every situation the cases name."""
    closes = now() + timedelta(days=14)
    event = world.event(feedback_closes_at=closes)
    session = world.session(event, theme=THEME)
    other = world.session(event, theme=OTHER_THEME)
    elsewhere = world.event()
    people = {
        "confirmed": world.person(event, confirmed=[session]),
        "revoked": world.person(event, confirmed=[session]),
        "waitlisted": world.person(event, waitlisted=[session]),
        "elsewhere": world.person(event, confirmed=[other]),
        "released": world.person(event, confirmed=[session]),
        "stranger": world.person(elsewhere, confirmed=[world.session(elsewhere)]),
    }
    revoked = people["revoked"]
    revoked.info["token_version"] = 2  # the registration service revoked the old links
    world.seat(TaskNames.SEAT_CONFIRMED, event, revoked, session, "confirmed")
    world.seat(TaskNames.SEAT_RELEASED, event, people["released"], session, "confirmed")
    raters = {
        who: ParticipantClaim(person.registration_id, 1)  # the version of their link
        for who, person in people.items()
    }
    moments = {
        "before the start": session["starts_at"] - timedelta(seconds=1),
        "at the start": session["starts_at"],
        "during": session["starts_at"] + timedelta(hours=1),
        "at the close": closes,
        "after the close": closes + timedelta(days=1),
    }
    return event, session, raters, moments


def test_the_sql_rule_and_the_python_rule_agree_case_by_case(feedback_app, world, backend):
    event, session, raters, moments = setting(world)
    with feedback_app.app_context():
        found = get_event(db.session, event["slug"])
        texts = {
            "ours": create_recommendation(db.session, found, THEME, "Fund mediation teams.").id,
            "theirs": create_recommendation(db.session, found, OTHER_THEME, "Open a clinic.").id,
            "gone": UNKNOWN_TEXT,
        }
        db.session.commit()
        for case in CASES:
            claim, when = raters[case.who], moments[case.when]
            given = {str(texts[name]): 1 for name in case.endorsing}
            verdict = python_verdict(event["slug"], session["code"], claim, given, when)
            assert verdict == case.verdict, case.name
            if backend == "postgresql":  # the one-statement POST, and so the SQL rule, is there
                ids = sorted(eligibility.endorsement_values(given))
                allowed = eligibility.sql_allows(
                    db.session, event["slug"], session["code"], claim, ids, when
                )
                assert allowed == (verdict is None), case.name
        db.session.rollback()
