"""The "send me a new link" control on the manage page, in French, Dutch and English, on a
phone and a desktop screen: the answer (which shows no link) and the old link's page, which
explains and leads to the form that sends the newest link again."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.checks import check_page, follow, send
from tests.browser.programme import SLUG, Programme, register
from tests.browser.stack import Stack

NEW_LINK = "main form[action$='/new-link'] button[type=submit]"


def test_a_new_link_replaces_the_old_one(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    with stack.api() as api:
        token = register(api, programme, f"renewer-{language}", ["T1"], language)
    page.goto(f"{stack.registration}/manage/{token}")
    check_page(page, language)

    send(page, NEW_LINK)
    check_page(page, language)
    assert token not in page.content()

    answer = page.goto(f"{stack.registration}/manage/{token}")
    assert answer is not None and answer.status == 410
    check_page(page, language)
    follow(page, f"main a[href$='/events/{SLUG}/resend-link']")
    check_page(page, language)
