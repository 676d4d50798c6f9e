"""Fixtures of the browser suite: Debian's Chromium driven by Playwright, the services started
once for the whole folder, a page per language and screen width, a screenshot on failure.

Without Chromium these tests skip (outside CI) or fail (under CI=true, where `.ci/run`
installs Debian's `chromium` package). `make test-browser` runs them alone.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from shared.config import ROOT
from tests.browser.programme import Programme, create
from tests.browser.stack import Stack, running_stack
from tests.helpers import IN_CI

LANGUAGES = ("fr", "nl", "en")
WIDTHS = {"phone": 390, "desktop": 1280}
# A folder of its own on the machine's Redis (the other tests use their own numbers).
REDIS_DATABASE = 10
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", ROOT / "var" / "browser-failures"))
# As root in a container, without sandbox; no calls home, which this machine's network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "Chromium is not installed (apt-get install chromium); browser tests need it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="package")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    chromium_path()
    own_redis = re.sub(r"/\d+$", "", redis_url) + f"/{REDIS_DATABASE}"
    with running_stack(tmp_path_factory.mktemp("stack"), own_redis) as running:
        yield running


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=list(WIDTHS))
def width(request: pytest.FixtureRequest) -> int:
    return WIDTHS[request.param]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def context(
    browser: Browser, language: str, width: int, request: pytest.FixtureRequest
) -> Iterator[BrowserContext]:
    """A fresh browser (no cookies) whose visitor asks for `language`, on a screen `width` wide."""
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        locale={"fr": "fr-BE", "nl": "nl-BE", "en": "en-GB"}[language],
        extra_http_headers={"Accept-Language": language},
    )
    context.set_default_timeout(15_000)
    yield context
    if request.node.stash.get(FAILED, False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
        for index, open_page in enumerate(context.pages):
            open_page.screenshot(path=SCREENSHOTS / f"{name}-{index}.png", full_page=True)
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="package")
def programme(stack: Stack) -> Programme:
    """The journeys' event; one participant per language and width who can rate a session."""
    keys = [f"{language}-{width}" for language in LANGUAGES for width in WIDTHS.values()]
    return create(stack, keys)
