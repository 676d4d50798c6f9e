"""Rating a session (errors, success, a change of mind), and every organiser page of the
three services after signing in, in French, Dutch and English, on a phone and a desktop."""

from __future__ import annotations

import time

from playwright.sync_api import Page

from tests.browser.checks import check_page, follow, pick, send, type_into
from tests.browser.programme import SESSIONS, SLUG, TITLE, Programme
from tests.browser.stack import Stack
from tests.browser.test_participant import refused, sign_in

READY_SECONDS = 30
RATE_FORM = "#session-R1 form"


def wait_for(page: Page, selector: str) -> None:
    """Reload until the other services have caught up with the registration's events."""
    deadline = time.monotonic() + READY_SECONDS
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} not on {page.url} in {READY_SECONDS} s"
        time.sleep(0.5)
        page.reload()


def test_rate_a_session_with_an_error_then_success_then_a_change(
    stack: Stack, programme: Programme, page: Page, language: str, width: int
) -> None:
    token = programme.raters[f"{language}-{width}"]
    page.goto(f"{stack.feedback}/rate/{token}")
    wait_for(page, RATE_FORM)
    check_page(page, language, TITLE[language])

    send(page, f"{RATE_FORM} button[type=submit]")  # no rating chosen
    refused(page, language)

    pick(page, f"{RATE_FORM} input[name=rating]", "4")
    type_into(page, f"{RATE_FORM} textarea", "Très utile, merci.")
    send(page, f"{RATE_FORM} button[type=submit]")
    check_page(page, language)
    assert page.locator(f"{RATE_FORM} input[name=rating][value='4']").is_checked()

    pick(page, f"{RATE_FORM} input[name=rating]", "2")
    send(page, f"{RATE_FORM} button[type=submit]")
    check_page(page, language)
    assert page.locator(f"{RATE_FORM} input[name=rating][value='2']").is_checked()
    assert page.input_value(f"{RATE_FORM} textarea") == "Très utile, merci."


def open_event_as_organiser(page: Page, service: str, language: str) -> None:
    """Open a service's organiser home page (signing in on the registration service if not
    signed in yet: it leads back) and follow the link to the event."""
    page.goto(f"{service}/organiser")
    if page.locator("#token").count():
        sign_in(page, language)
        assert page.url.startswith(f"{service}/organiser"), page.url
    check_page(page, language)
    follow(page, f"main a[href$='/organiser/events/{SLUG}']")


def test_one_sign_in_opens_every_service_s_organiser_pages(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    page.goto(f"{stack.feedback}/organiser")
    assert page.url.startswith(f"{stack.registration}/organiser/sign-in"), page.url
    sign_in(page, language)
    assert page.url == f"{stack.feedback}/organiser", page.url
    check_page(page, language)
    for service in (stack.registration, stack.notifier):
        page.goto(f"{service}/organiser/dead-letters")
        assert page.url == f"{service}/organiser/dead-letters", page.url
        check_page(page, language)


def test_registration_organiser_pages(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    open_event_as_organiser(page, stack.registration, language)
    check_page(page, language, TITLE[language])
    assert page.locator("main li.card[id^='session-']").count() == len(SESSIONS)


def test_feedback_organiser_pages(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    open_event_as_organiser(page, stack.feedback, language)
    wait_for(page, "main form[action$='/recommendations']")
    check_page(page, language, TITLE[language])

    send(page, "form[action$='/recommendations'] button[type=submit]")  # nothing written
    refused(page, language)

    follow(page, f"main a[href$='/organiser/events/{SLUG}/report']")
    check_page(page, language, TITLE[language])
    follow(page, f"a[href$='/organiser/events/{SLUG}']")  # back to the dashboard
    check_page(page, language)


def test_notifier_organiser_pages(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    page.goto(f"{stack.notifier}/messages")
    if page.locator("#token").count():
        sign_in(page, language)
    wait_for(page, "main a[href*='/messages/']")
    check_page(page, language)
    follow(page, "main a[href*='/messages/']")
    check_page(page, language)
    page.goto(f"{stack.notifier}/caught")
    wait_for(page, "main a[href*='/caught/']")
    check_page(page, language)
    follow(page, "main a[href*='/caught/']")
    check_page(page, language)
