"""A participant's journeys, in French, Dutch and English, on a phone and a desktop screen:
register (nothing filled in, a conflict, success), the confirmation email and its link,
"manage my registration", "resend my link". Forms are filled and sent with the keyboard."""

from __future__ import annotations

import json
import time

from playwright.sync_api import Page

from tests.browser import checks
from tests.browser.checks import check_page, follow, send, tab_to, tick, type_into
from tests.browser.programme import CITY, SLUG, TITLE, Programme, register
from tests.browser.stack import Stack
from tests.helpers import ORGANISER_TOKEN

EMAIL_SECONDS = 30
RELEASE = "main a[href*='/sessions/{}']"  # on the manage page: release this seat


def refused(page: Page, language: str) -> list[str]:
    """A refused form: checked like any page, the focus on its summary, which follows the
    form's order; returns the fields the summary names."""
    check_page(page, language)
    targets = checks.assert_error_summary_focused(page)
    assert checks.in_document_order(page, targets), f"summary order {targets}"
    return targets


def test_register_with_errors_then_a_conflict_then_success(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    page.goto(f"{stack.registration}/events/{SLUG}")
    check_page(page, language, TITLE[language])
    assert CITY[language] in page.inner_text("main")
    follow(page, f"main a[href*='/events/{SLUG}/register']")
    check_page(page, language, TITLE[language])

    send(page)  # nothing filled in
    assert {"#name", "#email", "#consent"} <= set(refused(page, language))

    email = programme.email(f"walk-{language}")
    type_into(page, "#name", "Éloïse Van den Berghe")
    type_into(page, "#email", email)
    type_into(page, "#organisation", "Ville de Namur")
    type_into(page, "#city", "Namur")
    checks.choose_value(page, "#country", "BE")
    checks.choose_value(page, "#role", "local_government")
    tick(page, "#s-T1")
    tick(page, "#s-T2")  # the same time as T1
    tick(page, "#consent")
    send(page)
    assert "#session_codes" in refused(page, language)
    assert page.input_value("#name") == "Éloïse Van den Berghe"  # what was typed is kept
    assert page.input_value("#email") == email
    assert page.locator("#s-T1").is_checked() and page.locator("#s-T2").is_checked()

    tab_to(page, "#s-T2")
    page.keyboard.press("Space")
    send(page)
    assert "/manage/" in page.url
    check_page(page, language, TITLE[language])
    assert "Éloïse" in page.inner_text("main")

    manage_link = confirmation_link(page, stack, email, language)
    page.goto(manage_link)
    check_page(page, language)
    assert page.input_value("#name") == "Éloïse Van den Berghe"


def confirmation_link(page: Page, stack: Stack, email: str, language: str) -> str:
    """Read the confirmation email in the mail catcher, as an organiser, and take its link."""
    page.goto(f"{stack.notifier}/caught")
    if page.locator("#token").count():
        sign_in(page, language)
        page.goto(f"{stack.notifier}/caught")
    check_page(page, language)
    deadline = time.monotonic() + EMAIL_SECONDS
    while page.locator(f"main li:has-text('{email}') a").count() == 0:
        assert time.monotonic() < deadline, f"no email to {email} after {EMAIL_SECONDS} s"
        time.sleep(0.5)
        page.reload()
    follow(page, f"main li:has-text('{email}') a")
    check_page(page, language)
    body = page.frame_locator("iframe").locator("a[href*='/manage/']").first
    return str(body.get_attribute("href"))


# The registration service's sign-in with an organiser token: every service's organiser pages
# send a visitor there, and it leads back to the page they asked for.
TOKEN_SIGN_IN = "main form[action$='/organiser/sign-in/token'] button[type=submit]"


def sign_in(page: Page, language: str) -> None:
    """Sign in once, for every service, on the registration sign-in, with the keyboard."""
    check_page(page, language)
    type_into(page, "#token", "not-the-token")
    send(page, TOKEN_SIGN_IN)
    refused(page, language)
    type_into(page, "#token", ORGANISER_TOKEN)
    send(page, TOKEN_SIGN_IN)


def test_manage_drop_add_details_download_and_cancel(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    with stack.api() as api:
        token = register(api, programme, f"manager-{language}", ["T1", "V1"], language)
    page.goto(f"{stack.registration}/manage/{token}")
    check_page(page, language, TITLE[language])
    # T2 is at the same time as T1: it is not offered (nor T1, already held).
    offered = page.locator("#code option").evaluate_all("(o) => o.map(x => x.value)")
    assert "T2" not in offered and "T1" not in offered and "OPEN" in offered

    # Releasing a seat asks first.
    follow(page, RELEASE.format("V1"))
    check_page(page, language)
    send(page)
    check_page(page, language)
    assert page.locator(RELEASE.format("V1")).count() == 0

    checks.choose_value(page, "#code", "OPEN")
    send(page, "form[action$='/sessions'] button[type=submit]")
    check_page(page, language)
    assert page.locator(RELEASE.format("OPEN")).count() == 1

    type_into(page, "#organisation", "Stad Gent")
    send(page, "form[action$='/details'] button[type=submit]")
    check_page(page, language)
    assert page.input_value("#organisation") == "Stad Gent"

    with page.expect_download() as download:
        page.locator(f"main a[href$='/manage/{token}/export']").click()
    data = json.loads(download.value.path().read_text())
    assert data["services"]["registration"]["registration"]["organisation"] == "Stad Gent"

    tick(page, "#confirm-cancel")
    send(page, "form[action$='/cancel'] button[type=submit]")
    check_page(page, language)
    assert page.locator(RELEASE.format("")).count() == 0


def test_resend_my_link(stack: Stack, programme: Programme, page: Page, language: str) -> None:
    page.goto(f"{stack.registration}/events/{SLUG}/resend-link")
    check_page(page, language, TITLE[language])
    send(page)
    refused(page, language)
    type_into(page, "#email", "nobody-here@example.org")
    send(page)
    check_page(page, language)
    assert page.locator("main .notice, main .flash, main [role=status]").count() >= 1
