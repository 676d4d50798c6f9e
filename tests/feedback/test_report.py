"""The recommendation report: its figures checked independently, its formats read back, and
everything participants typed escaped in each of them."""

from __future__ import annotations

import io
import json
import random
import statistics
from collections import Counter
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from services.feedback.extensions import db
from services.feedback.models import Event, Report
from services.feedback.report import compose, keywords, markdown, store
from shared.contracts import TaskNames
from tests.feedback.helpers import ORGANISER, OTHER_THEME, THEME, feedback_url
from tests.helpers import now

SCRIPT = "<script>alert('x')</script>"
MARKDOWN = "**bold** [click](javascript:alert(1)) # not a heading | a | table |"


def rebuild(app, event) -> dict:
    with app.app_context():
        return store.rebuild(db, event["slug"])


def get_report(feedback_client, event, fmt="json", lang="en"):
    response = feedback_client.get(
        f"/api/v1/events/{event['slug']}/report?format={fmt}&lang={lang}", headers=ORGANISER
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response


def recommend(feedback_client, event, theme, text):
    response = feedback_client.post(
        f"/api/v1/events/{event['slug']}/recommendations",
        json={"theme": theme, "text": text},
        headers=ORGANISER,
    )
    assert response.status_code == 201
    return response.get_json()["id"]


@pytest.fixture
def conference(feedback_client, world):
    """Two themes, four sessions (one still to come), 30 people rating at random."""
    rng = random.Random(2024)
    event = world.event()
    sessions = [
        world.session(event),
        world.session(event),
        world.session(event, theme=OTHER_THEME),
        world.session(event, starts_at=now() + timedelta(hours=3)),
    ]
    recs = {
        THEME: [
            recommend(feedback_client, event, THEME, t) for t in ("Fund mediation.", "More police.")
        ],
        OTHER_THEME: [recommend(feedback_client, event, OTHER_THEME, "Outreach teams at night.")],
    }
    ratings = {s["code"]: [] for s in sessions}
    attendees = Counter()
    answers = {rid: {} for rids in recs.values() for rid in rids}
    people = {}
    rated_by: set[str] = set()
    countries = ["BE"] * 5 + ["FR"] * 4 + ["NL"] * 2 + ["DE"]
    for n in range(30):
        mine = [s for s in sessions if rng.random() < 0.6]
        person = world.person(
            event, confirmed=mine, country=countries[n % len(countries)],
            city=["Brussels", "Liège", "Lyon"][n % 3], role=["researcher", "magistrate"][n % 2],
        )  # fmt: skip
        people[person.registration_id] = (person, mine)
        for session in mine:
            attendees[session["code"]] += 1
            if session is sessions[3] or rng.random() < 0.25:
                continue
            rating = rng.randint(1, 5)
            endorse = {
                str(rid): rng.randint(-2, 2) for rid in recs[session["theme"]] if rng.random() < 0.7
            }
            response = feedback_client.post(
                feedback_url(event, session),
                json={"rating": rating, "endorsements": endorse},
                headers=person.auth,
            )
            assert response.status_code == 201
            ratings[session["code"]].append(rating)
            rated_by.add(person.registration_id)
            for rid, value in endorse.items():
                answers[int(rid)][person.registration_id] = value  # latest answer wins
    return event, sessions, ratings, attendees, answers, people, recs, rated_by


def approx(value):
    return None if value is None else pytest.approx(value, abs=1e-12)


def test_the_reports_figures_match_an_independent_computation(feedback_app, conference):
    event, sessions, ratings, attendees, answers, people, recs, rated_by = conference
    data = rebuild(feedback_app, event)

    everything = [r for code in ratings for r in ratings[code]]
    held = [s for s in sessions if s["starts_at"] <= now()]
    head = data["headline"]
    assert head["responses"] == len(everything)
    assert head["mean"] == approx(statistics.mean(everything))
    assert head["median"] == approx(statistics.median(everything))
    assert head["distribution"] == {str(r): everything.count(r) for r in range(1, 6)}
    assert head["response_rate"] == approx(
        len(everything) / sum(attendees[s["code"]] for s in held)
    )
    with_seat = [rid for rid, (_p, mine) in people.items() if mine]
    assert head["participants"] == len(with_seat)
    assert head["respondents"] == len(rated_by)
    assert head["sessions"] == 4 and head["sessions_rated"] == 3
    assert head["recommendations"] == 3
    assert head["answers"] == sum(len(a) for a in answers.values())

    themes = {t["theme"]: t for t in data["themes"]}
    assert list(themes) == sorted([THEME, OTHER_THEME])
    for name, theme in themes.items():
        codes = [s["code"] for s in sessions if s["theme"] == name]
        pooled = [r for code in codes for r in ratings[code]]
        stats = theme["stats"]
        assert stats["responses"] == len(pooled)
        assert stats["attendees"] == sum(attendees[c] for c in codes)
        assert stats["mean"] == approx(statistics.mean(pooled))
        assert stats["median"] == approx(statistics.median(pooled))
        for row in theme["sessions"]:
            assert row["responses"] == len(ratings[row["code"]])
            assert row["attendees"] == attendees[row["code"]]
            if ratings[row["code"]]:
                assert row["mean"] == approx(statistics.mean(ratings[row["code"]]))
        # Ranked by mean support, then share in favour, then answers.
        expected = []
        for rid in recs[name]:
            values = list(answers[rid].values())
            mean = statistics.mean(values) if values else -3
            share = sum(v > 0 for v in values) / len(values) if values else -1
            expected.append((-mean, -share, -len(values), rid))
        assert [r["id"] for r in theme["recommendations"]] == [e[3] for e in sorted(expected)]
        assert [r["rank"] for r in theme["recommendations"]] == list(range(1, len(recs[name]) + 1))
        for row in theme["recommendations"]:
            values = list(answers[row["id"]].values())
            assert row["answers"] == len(values)
            assert row["mean"] == approx(statistics.mean(values) if values else None)
        # Who took part: people with a confirmed place in one of the theme's sessions.
        present = {
            rid for rid, (_p, mine) in people.items() if any(s["theme"] == name for s in mine)
        }
        assert theme["participants"]["people"] == len(present)


def test_respondents_are_the_people_who_gave_feedback(feedback_client, feedback_app, world):
    event = world.event()
    one, two = world.session(event), world.session(event)
    a = world.person(event, confirmed=[one, two])
    b = world.person(event, confirmed=[one])
    world.person(event, confirmed=[one])
    for person, session in ((a, one), (a, two), (b, one)):
        feedback_client.post(feedback_url(event, session), json={"rating": 4}, headers=person.auth)
    data = rebuild(feedback_app, event)
    assert (data["headline"]["respondents"], data["headline"]["responses"]) == (2, 3)
    assert data["headline"]["participants"] == 3


def test_small_groups_are_pooled_as_other(feedback_app, world):
    event = world.event()
    session = world.session(event)
    for country, city in [("BE", "Brussels")] * 3 + [("NL", "Utrecht"), ("FR", "Lyon"), ("FR", "")]:
        world.person(event, confirmed=[session], country=country, city=city, role="researcher")
    data = rebuild(feedback_app, event)
    who = data["participants"]
    assert who["people"] == 6
    assert who["countries"] == {"items": [{"value": "BE", "count": 3}], "other": 3}
    assert who["cities"] == {"items": [{"value": "Brussels", "count": 3}], "other": 3}
    assert who["roles"] == {"items": [{"value": "researcher", "count": 6}], "other": 0}
    assert data["themes"][0]["participants"] == who


def comment(feedback_client, world, event, session, rating, text, language="en"):
    person = world.person(event, confirmed=[session], language=language)
    response = feedback_client.post(
        feedback_url(event, session), json={"rating": rating, "comment": text}, headers=person.auth
    )
    assert response.status_code == 201
    return person


def test_keywords_recur_in_several_comments_per_language(feedback_client, feedback_app, world):
    event = world.event()
    session = world.session(event)
    french = [
        "La médiation sociale dans le métro fonctionne bien.",
        "Il faut financer la médiation sociale dans chaque quartier.",
        "Les salles de consommation réduisent les nuisances.",
        "Sans médiation sociale, rien ne change la nuit.",
    ]
    dutch = [
        "Preventie bij jongeren werkt beter dan repressie.",
        "Meer preventie bij jongeren in Brussel, graag.",
    ]
    for text in french:
        comment(feedback_client, world, event, session, 4, text, "fr")
    for text in dutch:
        comment(feedback_client, world, event, session, 3, text, "nl")
    comment(
        feedback_client, world, event, session, 5, "Only one English comment about mediation.", "en"
    )
    theme = rebuild(feedback_app, event)["themes"][0]
    keywords = {
        lang: {k["keyword"]: k["comments"] for k in ks} for lang, ks in theme["keywords"].items()
    }
    assert set(keywords) == {"fr", "nl"}  # one English comment: nothing can recur
    assert keywords["fr"].get("médiation sociale") == 3
    assert all(n >= 2 for ks in keywords.values() for n in ks.values())
    assert any("preventie" in k for k in keywords["nl"])
    assert "nuisances" not in keywords["fr"]  # in one comment only
    assert theme["comments"] == {"count": 7, "by_language": {"fr": 4, "nl": 2, "en": 1}}


def test_keywords_are_reused_while_the_comments_do_not_change(
    feedback_client, feedback_app, world, monkeypatch
):
    event = world.event()
    session = world.session(event)
    for text in ("Mediation works in the metro.", "Mediation works at night too."):
        comment(feedback_client, world, event, session, 4, text)
    calls = []
    original = keywords.extract_keywords
    monkeypatch.setattr(keywords, "extract_keywords", lambda *a: calls.append(a) or original(*a))
    first = rebuild(feedback_app, event)["themes"][0]["keywords"]
    second = rebuild(feedback_app, event)["themes"][0]["keywords"]
    assert first == second and len(calls) == 1
    comment(feedback_client, world, event, session, 2, "Mediation alone is not enough.")
    rebuild(feedback_app, event)
    assert len(calls) == 2


def test_representative_comments_are_closest_to_the_mean_longest_first(
    feedback_client, feedback_app, world
):
    event = world.event()
    session = world.session(event)
    texts = {
        "close long": (
            3,
            "This session gave a balanced view of mediation in public transport networks.",
        ),
        "close short": (3, "It was fine."),
        "close medium": (4, "Good speakers and a useful exchange on night-time governance."),
        "far": (1, "I did not learn anything new about drug policy in European cities today."),
        "far too": (
            5,
            "Brilliant, inspiring and concrete: the best session of the whole conference.",
        ),
    }
    for rating, text in texts.values():
        comment(feedback_client, world, event, session, rating, text)
    theme = rebuild(feedback_app, event)["themes"][0]
    mean = statistics.mean(r for r, _t in texts.values())  # 3.2
    informative = [(r, t) for r, t in texts.values() if len(t.split()) >= compose.INFORMATIVE_WORDS]
    informative.sort(key=lambda rt: (abs(rt[0] - mean), -len(rt[1])))
    assert [c["text"] for c in theme["representative_comments"]] == [t for _r, t in informative[:3]]
    assert theme["representative_comments"][0]["rating"] == 3


# --- formats and escaping ----------------------------------------------------------------------


@pytest.fixture
def hostile(feedback_client, world):
    """An event whose participants and organisers typed markup."""
    event = world.event(title="Sécurité & <Cities>")
    session = world.session(event, title="Drugs <b>and</b> trafficking")
    recommend(feedback_client, event, THEME, f"Ban {SCRIPT} from reports")
    for text in (
        SCRIPT + " was in my comment, twice the comment",
        MARKDOWN + " and again the comment",
    ):
        comment(feedback_client, world, event, session, 3, text)
    return event


def test_json_report(feedback_client, hostile):
    data = json.loads(get_report(feedback_client, hostile, "json").get_data(as_text=True))
    assert data["version"] == compose.REPORT_VERSION
    texts = [c["text"] for c in data["themes"][0]["representative_comments"]]
    assert any(SCRIPT in t for t in texts)  # JSON carries the text as typed: readers escape


def test_html_report_escapes_what_participants_typed(feedback_client, hostile):
    response = get_report(feedback_client, hostile, "html")
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Drugs &lt;b&gt;and&lt;/b&gt; trafficking" in html
    assert "Sécurité &amp; &lt;Cities&gt;" in html
    assert "<svg" in html and "@page" in html


def test_markdown_report_escapes_markup_and_html(feedback_client, hostile):
    md = get_report(feedback_client, hostile, "md").get_data(as_text=True)
    assert "<script" not in md and "<b>" not in md
    assert "&lt;script&gt;" in md
    escaped = r"\*\*bold\*\* \[click\]\(javascript:alert\(1\)\) \# not a heading \| a \| table \|"
    assert escaped in md
    assert "**bold**" not in md
    for line in md.splitlines():
        assert not line.startswith("# not"), line


def test_markdown_escape_neutralises_every_construct():
    for raw in (
        "# h",
        "> q",
        "- item",
        "1. item",
        "`code`",
        "![i](x)",
        "<a href=x>",
        "a\n===",
        "~~s~~",
    ):
        escaped = markdown.md_escape(raw)
        assert "<" not in escaped and "\n" not in escaped
        assert all(
            escaped[i - 1] == "\\" for i, ch in enumerate(escaped) if ch in "#>-.`![]()=~" and i
        )


def test_pdf_report_reads_back(feedback_client, hostile):
    response = get_report(feedback_client, hostile, "pdf")
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    assert "Recommendation report" in flat
    assert "Sécurité & <Cities>" in flat
    assert SCRIPT in flat  # shown as text, not taken as ReportLab markup
    assert "Headline figures" in flat and "Responses" in flat
    assert reader.metadata.title.startswith("Recommendation report")


def test_reports_follow_the_requested_language(feedback_client, hostile):
    md = get_report(feedback_client, hostile, "md", "fr").get_data(as_text=True)
    assert "Rapport de recommandations" in md
    pdf = PdfReader(io.BytesIO(get_report(feedback_client, hostile, "pdf", "nl").data))
    assert "Aanbevelingsrapport" in " ".join(p.extract_text() for p in pdf.pages)


def test_report_pdf_with_characters_outside_the_font(feedback_client, feedback_app, world):
    event = world.event()
    session = world.session(event)
    comment(feedback_client, world, event, session, 4, "Budapest őrség 😀 Łódź — “quoted”")
    comment(feedback_client, world, event, session, 4, "Another comment")
    pdf = PdfReader(io.BytesIO(get_report(feedback_client, event, "pdf").data))
    assert "Łódź" in " ".join(p.extract_text() for p in pdf.pages)


def test_unknown_format_is_422(feedback_client, hostile):
    response = feedback_client.get(
        f"/api/v1/events/{hostile['slug']}/report?format=docx", headers=ORGANISER
    )
    assert response.status_code == 422
    assert "format" in response.get_json()["errors"]["query"]


# --- freshness ---------------------------------------------------------------------------------


def report_row(app, event) -> Report:
    with app.app_context():
        event_id = db.session.scalar(select(Event.id).where(Event.slug == event["slug"]))
        return db.session.get(Report, event_id)


def age_marker(app, event, seconds: int) -> None:
    with app.app_context():
        event_id = db.session.scalar(select(Event.id).where(Event.slug == event["slug"]))
        db.session.execute(
            update(Report)
            .where(Report.event_id == event_id)
            .values(dirty_since=now() - timedelta(seconds=seconds))
        )
        db.session.commit()


def test_a_burst_of_feedback_marks_the_report_once(feedback_client, feedback_app, world):
    from services.feedback import submissions

    event = world.event()
    session = world.session(event)
    rebuild(feedback_app, event)
    assert report_row(feedback_app, event).dirty_since is None
    due = []
    for _ in range(3):
        person = world.person(event, confirmed=[session])
        with feedback_app.app_context():
            result = submissions.submit_feedback(
                db.session, event["slug"], session["code"],
                world.tokens and _claim(person), {"rating": 4}, replace=False,
            )  # fmt: skip
            db.session.commit()
        due.append(result.report_due)
    assert due == [True, False, False]  # only the first schedules a rebuild
    marked = report_row(feedback_app, event).dirty_since
    assert marked is not None
    data = rebuild(feedback_app, event)
    assert data["headline"]["responses"] == 3
    assert report_row(feedback_app, event).dirty_since is None


def _claim(person):
    from shared.auth import ParticipantClaim

    return ParticipantClaim(person.registration_id, person.info["token_version"])


def test_readers_get_the_stored_report_within_a_minute_then_a_fresh_one(
    feedback_client, feedback_app, world
):
    event = world.event()
    session = world.session(event)
    comment(feedback_client, world, event, session, 5, "First")
    assert (
        get_report(feedback_client, event).get_json()["headline"]["responses"] == 1
    )  # built on first read
    comment(feedback_client, world, event, session, 1, "Second")
    # Changes younger than a minute may be missing: the scheduled rebuild is on its way.
    assert get_report(feedback_client, event).get_json()["headline"]["responses"] == 1
    age_marker(feedback_app, event, int(store.MAX_AGE.total_seconds()) + 1)
    assert get_report(feedback_client, event).get_json()["headline"]["responses"] == 2
    assert report_row(feedback_app, event).dirty_since is None


def test_the_periodic_job_rebuilds_reports_left_dirty(feedback_client, feedback_app, world):
    event = world.event()
    session = world.session(event)
    rebuild(feedback_app, event)
    comment(feedback_client, world, event, session, 5, "First")
    with feedback_app.app_context():
        assert store.rebuild_stale(db) == 0  # younger than a burst: the scheduled task's job
    age_marker(feedback_app, event, store.COALESCE_SECONDS + 1)
    with feedback_app.app_context():
        assert store.rebuild_stale(db) == 1
    assert report_row(feedback_app, event).data["headline"]["responses"] == 1


def test_erasure_drops_the_stored_report_that_quoted_the_person(
    feedback_client, feedback_app, world
):
    event = world.event()
    session = world.session(event)
    gone = comment(
        feedback_client, world, event, session, 3, "A very personal remark about my own city hall"
    )
    comment(
        feedback_client,
        world,
        event,
        session,
        3,
        "Something else entirely, said by someone staying",
    )
    assert "personal remark" in get_report(feedback_client, event, "md").get_data(as_text=True)
    world.deliver(
        TaskNames.ERASED, {"registration_id": gone.registration_id, "event_slug": event["slug"]}
    )
    assert report_row(feedback_app, event).data is None
    body = get_report(feedback_client, event, "md").get_data(as_text=True)
    assert "personal remark" not in body and "someone staying" in body


def test_a_build_started_before_an_erasure_is_not_stored(
    feedback_app, world, feedback_client, monkeypatch
):
    event = world.event()
    session = world.session(event)
    gone = comment(feedback_client, world, event, session, 3, "Erase me please, this is my comment")
    original = store.compose

    def erase_meanwhile(*args):
        world.deliver(
            TaskNames.ERASED, {"registration_id": gone.registration_id, "event_slug": event["slug"]}
        )
        return original(*args)

    monkeypatch.setattr(store, "compose", erase_meanwhile)
    rebuild(feedback_app, event)
    assert report_row(feedback_app, event).data is None
