"""Pages every visitor may reach besides the journeys: the programme with its day links and
filters, the accessibility statement, a page that does not exist, the icon."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser.checks import check_page, follow, send
from tests.browser.programme import SLUG, THEMES, TITLE, Programme
from tests.browser.stack import Stack


def test_programme_jumps_to_a_day_and_filters_by_theme(
    stack: Stack, programme: Programme, page: Page, language: str
) -> None:
    page.goto(f"{stack.registration}/events/{SLUG}")
    check_page(page, language, TITLE[language])
    day_links = page.locator("main nav.jump a[href^='#']")
    assert day_links.count() >= 2
    target = day_links.nth(1).get_attribute("href")
    assert target and page.locator(target).count() == 1

    theme = THEMES["night"]
    page.select_option("#theme", label=theme[language])
    send(page, "main form[method=get] button[type=submit]")
    check_page(page, language)
    shown = page.locator("main li.card[id^='session-']").evaluate_all(
        "(cards) => cards.map(card => card.id.slice(8))"
    )
    assert sorted(shown) == ["T2", "V1"]


@pytest.mark.parametrize("service", ["registration", "feedback", "notifier"])
def test_accessibility_statement(stack: Stack, page: Page, language: str, service: str) -> None:
    page.goto(stack.urls[service] + "/")
    follow(page, "footer a[href$='/accessibility']")
    check_page(page, language)
    assert page.locator("main h2").count() >= 4


@pytest.mark.parametrize("service", ["registration", "feedback", "notifier"])
def test_a_page_that_does_not_exist_and_the_icon(
    stack: Stack, page: Page, language: str, service: str
) -> None:
    answer = page.goto(stack.urls[service] + "/no-such-page")
    assert answer is not None and answer.status == 404
    check_page(page, language)
    icon = httpx.get(stack.urls[service] + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/")
