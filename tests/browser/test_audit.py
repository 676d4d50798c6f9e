"""The audit trail page of each service, in French, Dutch and English, on a phone and a desktop:
an organiser's read of the registrations is listed, and the list filters by event."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.checks import check_page, choose_value, send
from tests.browser.programme import Programme
from tests.browser.stack import Stack
from tests.browser.test_participant import sign_in

TABLE = "main table.audit"


def test_the_audit_pages_list_reads_and_filter_by_event(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    with stack.api() as api:
        listed = api.get(f"/api/v1/events/{programme.slug}/registrations")
        assert listed.status_code == 200
    page.goto(f"{stack.registration}/organiser/audit")
    if page.locator("#token").count():
        sign_in(page, language)
    assert page.url.startswith(f"{stack.registration}/organiser/audit"), page.url
    check_page(page, language)
    assert "participants.list_read" in page.locator(TABLE).inner_text()

    choose_value(page, "#event", programme.slug)
    send(page, "main form.filters button[type=submit]")
    check_page(page, language)
    events = page.locator(f"{TABLE} tbody td:last-child").all_inner_texts()
    assert events and set(events) == {programme.slug}

    for service in (stack.feedback, stack.notifier):
        page.goto(f"{service}/organiser/audit")
        assert page.url.startswith(f"{service}/organiser/audit"), page.url
        check_page(page, language)
