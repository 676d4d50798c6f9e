"""The notifier's pages: organiser sign-in, the delivery log, and the local mail catcher."""

from __future__ import annotations

import dataclasses
import os
import re
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from html import unescape
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from icalendar import Calendar
from sqlalchemy import select, update

from services.notifier import catcher
from services.notifier import messages as messages_module
from services.notifier.extensions import db
from services.notifier.models import FAILED, CaughtMessage, Message
from shared import formats
from shared.config import ROOT
from shared.contracts import OwnTasks, TaskNames
from tests import organisers
from tests.helpers import SECRET_KEY, free_port, port_open
from tests.notifier.conftest import FAST_RETRIES


def sign_in(client: Any, account: Any = None) -> None:
    """Signed in as the registration service's sign-in does it (ORGANISER_TOKEN by default)."""
    organisers.sign_in(client, client.application, account)


def body(response: Any) -> str:
    return str(response.get_data(as_text=True))


def test_every_page_needs_the_organiser_sign_in(notifier_client):
    for path in ("/messages", "/caught", "/messages/x", "/caught/1"):
        response = notifier_client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/sign-in?next=")
    assert notifier_client.post("/caught/clear").status_code == 302


def test_the_sign_in_is_the_registration_service_s_and_leads_back(notifier_client):
    elsewhere = notifier_client.get("/sign-in?next=/caught")
    assert elsewhere.status_code == 302
    target = urlsplit(elsewhere.headers["Location"])
    assert (target.netloc, target.path) == ("testserver", "/organiser/sign-in")
    assert parse_qs(target.query)["next"] == ["http://127.0.0.1:8003/caught"]
    evil = notifier_client.get("/sign-in?next=https://evil.example/").headers["Location"]
    assert "evil" not in unquote(evil)
    sign_in(notifier_client)
    signed = notifier_client.get("/sign-in?next=https://evil.example/")
    assert signed.status_code == 302 and signed.headers["Location"] == "/messages"
    assert notifier_client.get("/messages").status_code == 200
    out = notifier_client.post("/sign-out")
    assert out.status_code == 303 and out.headers["Location"].startswith("http://testserver/")
    assert notifier_client.get("/messages").status_code == 302


def test_an_event_s_manager_sees_only_its_messages_and_no_caught_email(
    notifier_app, notifier_client, run_task, smtp, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    with notifier_app.app_context():
        message_id = db.session.scalar(select(Message.id))
        slug = messages_module.event_of(db.session, db.session.get(Message, message_id))
    mine = organisers.add_account(notifier_app, [(slug, "manager")])
    other = organisers.add_account(notifier_app, [("another-event", "manager")])
    sign_in(notifier_client, mine)
    assert ana.email in body(notifier_client.get("/messages"))
    assert notifier_client.get(f"/messages/{message_id}").status_code == 200
    assert notifier_client.get("/caught").status_code == 403
    assert 'href="/caught"' not in body(notifier_client.get("/messages"))
    sign_in(notifier_client, other)
    assert ana.email not in body(notifier_client.get("/messages"))
    assert notifier_client.get(f"/messages/{message_id}").status_code == 404
    api = notifier_client.get("/api/v1/messages", headers=other.headers)
    assert api.status_code == 200 and api.get_json() == []
    assert api.headers["X-Total-Count"] == "0"
    listed = notifier_client.get("/api/v1/messages", headers=mine.headers).get_json()
    assert [row["id"] for row in listed] == [message_id]
    rapporteur = organisers.add_account(notifier_app, [(slug, "rapporteur")])
    assert notifier_client.get("/api/v1/messages", headers=rapporteur.headers).status_code == 403


def test_the_delivery_log_page_lists_and_filters_in_the_organisers_language(
    notifier_app, notifier_client, run_task, smtp, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    run_task(TaskNames.LINK_REQUESTED, **ana.link_requested())
    sign_in(notifier_client)
    page = body(notifier_client.get("/messages?lang=fr"))
    assert "Journal d’envoi" in page
    assert page.count(ana.email) == 2
    assert "Inscription confirmée" in page and "Lien personnel" in page
    filtered = body(notifier_client.get("/messages?template=manage_link&status=nonsense"))
    assert filtered.count(ana.email) == 1  # the bad status is ignored, the template applies
    assert '<option value="manage_link" selected>' in filtered
    assert "no-store" in notifier_client.get("/messages").headers["Cache-Control"]


def test_a_failed_message_can_be_sent_again_from_its_page(
    notifier_app, notifier_client, run_task, smtp, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    with notifier_app.app_context():
        message_id = db.session.scalar(select(Message.id))
    sign_in(notifier_client)
    assert "Send again" not in body(notifier_client.get(f"/messages/{message_id}"))
    with db.transaction() as session:
        session.execute(update(Message).values(status=FAILED, last_error="550 no such user"))
    page = body(notifier_client.get(f"/messages/{message_id}"))
    assert "Send again" in page and "550 no such user" in page
    response = notifier_client.post(f"/messages/{message_id}/resend")
    assert response.status_code == 303
    assert "The message is queued to be sent again." in body(notifier_client.get(response.location))
    run_task(OwnTasks.DELIVER, message_id=message_id)
    assert len(smtp.wait_for(1)) == 1


def test_forms_need_their_csrf_token(notifier_settings, broker):
    from services.notifier.app import create_app

    app = create_app({"TESTING": True, "SETTINGS": notifier_settings})
    client = app.test_client()
    sign_in(client)
    response = client.post("/sign-out")
    assert response.status_code == 400
    assert "This form has expired" in body(response)
    page = body(client.get("/messages"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    ok = client.post("/sign-out", data={"csrf_token": token})
    assert ok.status_code == 303
    app.extensions["mailer"].close()


# --- the local mail catcher ----------------------------------------------------------------------


@pytest.fixture
def catcher_port(notifier_app: Any) -> Iterator[int]:
    """The mail catcher, on a free port, keeping messages in the notifier's database."""
    port = free_port()
    controller = catcher.start(db, "127.0.0.1", port)
    yield port
    controller.stop()


@pytest.fixture
def catching_app(notifier_settings: Any, catcher_port: int) -> Iterator[Any]:
    """The notifier with SMTP_HOST unset: its mail goes to the local mail catcher."""
    from services.notifier.app import create_app

    settings = dataclasses.replace(
        notifier_settings, smtp_host=None, notifier_mailcatcher_port=catcher_port, **FAST_RETRIES
    )
    app = create_app({"TESTING": True, "SETTINGS": settings, "WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["mailer"].close()


def test_without_smtp_host_emails_are_caught_and_shown_on_the_notifier_pages(catching_app, ana):
    tasks = catching_app.extensions["tasks"]
    tasks[TaskNames.REGISTERED](**ana.registered())
    with catching_app.app_context():
        message_id = db.session.scalar(select(Message.id))
    tasks[OwnTasks.DELIVER](message_id=message_id)
    client = catching_app.test_client()
    sign_in(client)

    listing = body(client.get("/caught?lang=en"))
    assert "Votre inscription à Sécurité, démocratie et villes" in listing
    assert ana.email in listing
    with catching_app.app_context():
        caught = db.session.scalar(select(CaughtMessage))
    assert f"/caught/{caught.id}" in body(client.get(f"/messages/{message_id}"))

    page = body(client.get(f"/caught/{caught.id}"))
    iframe = re.search(r"<iframe [^>]*>", page).group(0)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in iframe
    assert "allow-scripts" not in iframe and "allow-same-origin" not in iframe
    srcdoc = unescape(re.search(r'srcdoc="([^"]*)"', iframe).group(1))
    assert "<p>Bonjour Ana Dupont,</p>" in srcdoc  # the HTML part, whole, inside the frame
    assert srcdoc.startswith("<!doctype html>")
    assert '<head><base target="_blank">' in srcdoc  # its links open outside the frame
    assert "Bonjour Ana Dupont," in page  # the text part
    assert "sdc-brussels.ics" in page
    ics = client.get(f"/caught/{caught.id}/attachments/0")
    assert ics.mimetype == "text/calendar"
    assert len(Calendar.from_ical(ics.data).walk("VEVENT")) == 1
    assert client.get(f"/caught/{caught.id}/attachments/5").status_code == 404

    client.post("/caught/clear")
    assert "No message caught yet." in body(client.get("/caught?lang=en"))


def caught_email(language: str, subject: str) -> EmailMessage:
    email = EmailMessage()
    email["Subject"], email["From"], email["To"] = subject, "a@example.org", "b@example.org"
    email["Date"] = "Wed, 20 Mar 2024 08:30:00 +0000"
    email.set_content("Bonjour")
    email["Content-Language"] = language
    return email


def test_caught_pages_name_themselves_write_dates_in_the_pages_language_and_mark_the_email(
    notifier_app, notifier_client
):
    caught_id = catcher.store(db, "", ["b@example.org"], bytes(caught_email("fr", "Bonjour")))
    same = catcher.store(db, "", ["b@example.org"], bytes(caught_email("nl", "Hallo")))
    sign_in(notifier_client)
    page = body(notifier_client.get(f"/caught/{caught_id}?lang=nl"))
    assert "<title>Onderschepte e-mail: Bonjour</title>" in page
    assert '<h1 lang="fr">Bonjour</h1>' in page
    assert '<pre class="caught-text" lang="fr">' in page
    assert "20 maart 2024, 08:30 UTC" in page  # the Date header, not "Wed, 20 Mar 2024"
    assert "Wed, 20 Mar" not in page
    dutch = body(notifier_client.get(f"/caught/{same}?lang=nl"))
    assert "<h1>Hallo</h1>" in dutch and 'lang="nl"' not in dutch.split("<main", 1)[1]
    listing = body(notifier_client.get("/caught?lang=nl"))
    assert f'<a href="/caught/{caught_id}" lang="fr">Bonjour</a>' in listing
    assert f'<a href="/caught/{same}">Hallo</a>' in listing
    assert "2 onderschepte berichten" in listing


def test_the_delivery_log_writes_dates_languages_and_counts_in_the_pages_language(
    notifier_app, notifier_client, run_task, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    with notifier_app.app_context():
        row = db.session.scalar(select(Message))
    created = formats.moment(row.created_at, "UTC", "fr")
    sign_in(notifier_client)
    listing = body(notifier_client.get("/messages?lang=nl"))
    assert "Frans" in listing  # the email's language, named in Dutch
    assert formats.moment(row.created_at, "UTC", "nl") + " UTC" in listing
    assert '<a href="/messages?status=queued">In de wachtrij</a>: 1 ·' in listing
    french = body(notifier_client.get("/messages?lang=fr"))
    assert '<a href="/messages?status=queued">En file d’attente</a>\u00a0: 1 ·' in french
    page = body(notifier_client.get(f"/messages/{row.id}?lang=fr"))
    assert "<title>Inscription confirmée – Journal d’envoi</title>" in page
    assert f"{created} UTC" in page
    assert f'<dd lang="fr">{row.subject}</dd>' not in page  # French on a French page: no mark
    english = body(notifier_client.get(f"/messages/{row.id}?lang=en"))
    assert f'<dd lang="fr">{row.subject}</dd>' in english


def test_a_caught_emails_html_cannot_run_script_or_break_out_of_its_frame(
    notifier_app, notifier_client
):
    email = EmailMessage()
    email["Subject"], email["From"], email["To"] = "Hi", "a@example.org", "b@example.org"
    email.set_content("plain <b>text</b>")
    email.add_alternative('"><script>alert(1)</script><p onclick="x()">hi</p>', subtype="html")
    caught_id = catcher.store(db, "a@example.org", ["b@example.org"], bytes(email))
    sign_in(notifier_client)
    response = notifier_client.get(f"/caught/{caught_id}")
    page = body(response)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page and "&#34;&gt;" in page
    assert "plain &lt;b&gt;text&lt;/b&gt;" in page
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none'


def test_the_mailcatcher_command_serves_smtp_and_keeps_what_it_receives(notifier_app, notifier_db):
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NOTIFIER_DATABASE_URL": notifier_db,
        "SECRET_KEY": SECRET_KEY,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "services.notifier.app", "mailcatcher",
         "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the mail catcher did not start"
            time.sleep(0.1)
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            smtp.sendmail("a@example.org", ["Someone@Example.org"], b"Subject: caught\r\n\r\nhi")
        with notifier_app.app_context():
            caught = db.session.scalar(select(CaughtMessage))
        assert caught.subject == "caught"
        assert caught.envelope_to == "\nsomeone@example.org\n"
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert f"mail catcher listening on 127.0.0.1:{port}" in output
    assert "someone@example.org" not in output.lower()  # no address in its log
