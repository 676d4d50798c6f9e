"""The organiser API of the delivery log: list with filters, one message, resend a failed one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.notifier.app import create_app
from services.notifier.extensions import db
from services.notifier.models import Message
from shared.contracts import OwnTasks, Queues, TaskNames
from tests.helpers import bearer
from tests.notifier.conftest import Messages, queued


def deliver_all(app: Any, run_task: Any) -> None:
    with app.app_context():
        ids = db.session.scalars(select(Message.id)).all()
    for message_id in ids:
        run_task(OwnTasks.DELIVER, message_id=message_id)


def test_the_delivery_log_needs_an_organiser(notifier_client, organiser):
    assert notifier_client.get("/api/v1/messages").status_code == 401
    assert notifier_client.get("/api/v1/messages", headers=bearer("nope")).status_code == 401
    response = notifier_client.get("/api/v1/messages", headers=organiser)
    assert response.status_code == 200 and response.get_json() == []


def test_the_delivery_log_lists_messages_with_the_contract_fields(
    notifier_app, notifier_client, organiser, run_task, smtp, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    deliver_all(notifier_app, run_task)
    response = notifier_client.get("/api/v1/messages", headers=organiser)
    (row,) = response.get_json()
    assert response.headers["X-Total-Count"] == "1"
    assert {"id", "to", "template", "language", "status", "attempts", "created_at", "sent_at"} <= (
        row.keys()
    )
    assert (row["to"], row["template"], row["language"], row["status"], row["attempts"]) == (
        ana.email,
        "confirmation",
        "fr",
        "sent",
        1,
    )
    assert "body_text" not in row  # bodies carry personal links: not in the log


def test_the_delivery_log_filters_by_status_recipient_and_template_and_pages(
    notifier_app, notifier_client, organiser, run_task, smtp, ana
):
    ben = Messages(email="ben@example.org", name="Ben", language="en")
    for person in (ana, ben):
        run_task(TaskNames.REGISTERED, **person.registered())
        run_task(TaskNames.LINK_REQUESTED, **person.link_requested())
    smtp.mode = "refuse"
    deliver_all(notifier_app, run_task)
    run_task(TaskNames.LINK_REQUESTED, **ana.link_requested())

    def listed(query: str) -> list[dict[str, Any]]:
        response = notifier_client.get(f"/api/v1/messages?{query}", headers=organiser)
        assert response.status_code == 200, response.get_json()
        return list(response.get_json())

    assert len(listed("")) == 5
    assert {r["to"] for r in listed("to=BEN@example.org")} == {"ben@example.org"}
    assert len(listed("template=manage_link")) == 3
    assert len(listed("status=failed")) == 4
    assert [r["status"] for r in listed("status=queued")] == ["queued"]
    assert len(listed("to=ana.dupont@example.org&template=manage_link&status=failed")) == 1
    first, second = listed("per_page=3&page=1"), listed("per_page=3&page=2")
    assert len(first) == 3 and len(second) == 2
    assert not {r["id"] for r in first} & {r["id"] for r in second}


def test_bad_filters_are_422_with_the_field_named(notifier_client, organiser):
    for query, field in (("status=lost", "status"), ("per_page=0", "per_page"), ("page=x", "page")):
        response = notifier_client.get(f"/api/v1/messages?{query}", headers=organiser)
        assert response.status_code == 422
        assert field in response.get_json()["errors"]["query"]


def test_one_message_and_an_unknown_one(notifier_app, notifier_client, organiser, run_task, ana):
    run_task(TaskNames.REGISTERED, **ana.registered())
    with notifier_app.app_context():
        message_id = db.session.scalar(select(Message.id))
    response = notifier_client.get(f"/api/v1/messages/{message_id}", headers=organiser)
    assert response.status_code == 200 and response.get_json()["status"] == "queued"
    assert notifier_client.get("/api/v1/messages/nope", headers=organiser).status_code == 404
    assert notifier_client.get(f"/api/v1/messages/{message_id}").status_code == 401


def test_an_organiser_resends_a_failed_message_and_it_arrives(
    notifier_app, notifier_client, organiser, run_task, smtp, broker, ana
):
    run_task(TaskNames.REGISTERED, **ana.registered())
    smtp.mode = "refuse"
    deliver_all(notifier_app, run_task)
    with notifier_app.app_context():
        message_id = db.session.scalar(select(Message.id))
    smtp.mode = "accept"
    broker.delete(Queues.NOTIFIER_DELIVERY)

    response = notifier_client.post(f"/api/v1/messages/{message_id}/resend", headers=organiser)
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    assert [m["kwargs"] for m in queued(broker, Queues.NOTIFIER_DELIVERY)] == [
        {"message_id": message_id}
    ]
    run_task(OwnTasks.DELIVER, message_id=message_id)
    assert len(smtp.wait_for(1)) == 1
    again = notifier_client.post(f"/api/v1/messages/{message_id}/resend", headers=organiser)
    assert again.status_code == 409
    assert "failed" in again.get_json()["message"]
    assert notifier_client.post("/api/v1/messages/nope/resend", headers=organiser).status_code == (
        404
    )


def test_health_and_openapi(notifier_client):
    assert notifier_client.get("/healthz").get_json() == {"status": "ok", "service": "notifier"}
    spec = notifier_client.get("/openapi.json").get_json()
    assert {"/api/v1/messages", "/api/v1/messages/{message_id}"} <= spec["paths"].keys()
    parameters = spec["paths"]["/api/v1/messages"]["get"]["parameters"]
    status = next(p for p in parameters if p["name"] == "status")
    assert status["schema"]["enum"] == ["queued", "sent", "retrying", "failed"]


def test_the_notifiers_own_settings_come_from_the_environment_and_are_checked(
    notifier_settings, monkeypatch, broker
):
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", notifier_settings.notifier_database_url)
    monkeypatch.setenv("REDIS_URL", notifier_settings.redis_url)
    monkeypatch.setenv("SECRET_KEY", notifier_settings.secret_key)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    monkeypatch.setenv("NOTIFIER_MAILCATCHER_HOST", "mailcatcher")
    monkeypatch.setenv("NOTIFIER_RETRY_BASE_SECONDS", "5")
    app = create_app()
    assert (app.extensions["mailer"].config.host, app.extensions["mailer"].config.port) == (
        "mailcatcher",
        1025,
    )
    assert app.extensions["retry_policy"].base_seconds == 5.0
    monkeypatch.setenv("NOTIFIER_RETRY_BASE_SECONDS", "soon")
    with pytest.raises(SystemExit, match="NOTIFIER_RETRY_BASE_SECONDS: must be a positive number"):
        create_app()
