"""The organisers' page of messages set aside (dead letters), on the notifier: a message that
breaks its contract is listed, in French, Dutch and English, and sent again with its button."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page

from shared.celery_app import make_celery
from shared.config import Settings
from shared.contracts import Queues, TaskNames
from tests.browser.checks import check_page, send
from tests.browser.conftest import REDIS_DATABASE
from tests.browser.stack import Stack
from tests.browser.test_participant import sign_in

READY_SECONDS = 30
CARD = "main li.card"


def set_aside_one(stack: Stack, redis_url: str) -> None:
    """A message the notifier cannot read (an unknown field): it is set aside at once."""
    broker = re.sub(r"/\d+$", "", redis_url) + f"/{REDIS_DATABASE}"
    make_celery("test-sender", Settings(redis_url=broker)).send_task(
        TaskNames.LINK_REQUESTED, kwargs={"surprise": True}, queue=Queues.NOTIFIER
    )


def test_dead_letters_page_lists_a_broken_message_and_sends_it_again(
    stack: Stack, page: Page, language: str, width: int, redis_url: str
) -> None:
    set_aside_one(stack, redis_url)
    page.goto(f"{stack.notifier}/organiser/dead-letters")
    sign_in(page, language)
    deadline = time.monotonic() + READY_SECONDS
    while page.locator(CARD).count() == 0:
        assert time.monotonic() < deadline, "no dead letter listed"
        time.sleep(0.5)
        page.reload()
    check_page(page, language)
    assert TaskNames.LINK_REQUESTED in page.locator(CARD).first.inner_text()

    send(page, f"{CARD} form button[type=submit]")
    check_page(page, language)
    assert page.locator(".flash-success").count() == 1
