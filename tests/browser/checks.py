"""What every page state must pass in the browser, and keyboard-only form filling.

`check_page` is called on every state a journey reaches: axe-core (WCAG 2.1 A and AA rules)
without a serious or critical finding, `<html lang>` the page's language, a title that names
the page, no English word in a French or Dutch page outside text marked with its own `lang`,
and nothing wider than the screen.
"""

from __future__ import annotations

import re
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

AXE = Axe()
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
SEVERE = {"serious", "critical"}

# Words that are English and neither French nor Dutch (so not "session", "programme",
# "details" or "link"): one of them in a French or Dutch page's own text means a string or
# a programme field went untranslated.
ENGLISH_WORDS = frozenset(
    """the and your you with this that from please room hall seat seats waiting list sign
    rating registration theme themes field visit visits opening closing plenary speakers
    speaker send cancel confirmed release keep back organisers recommendations
    recommendation summary responses attendees time language city name country role save
    add what when where who which mayor director representative""".split()
)
# Proper names and codes our pages show in every language.
NAMES = frozenset({"agora", "efus"})
WORD = re.compile(r"[A-Za-zÀ-ÿ]+(?:'[A-Za-z]+)?")

# The page's own text: visible text nodes whose closest `lang` is the page's.
OWN_TEXT_JS = """
(pageLang) => {
  const words = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const element = node.parentElement;
    if (!element || !node.textContent.trim()) continue;
    const style = getComputedStyle(element);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    if (element.closest('script,style,[hidden],input,textarea,code,pre')) continue;
    const marked = element.closest('[lang]');
    if (marked && marked.getAttribute('lang') !== pageLang) continue;
    words.push(node.textContent);
  }
  return words.join(' ');
}
"""


def axe_findings(page: Page) -> list[dict[str, Any]]:
    results = AXE.run(page, options=AXE_OPTIONS)
    return [v for v in results.response["violations"] if v.get("impact") in SEVERE]


def describe(findings: list[dict[str, Any]]) -> str:
    lines = []
    for finding in findings:
        targets = [", ".join(node["target"]) for node in finding["nodes"][:3]]
        lines.append(f"{finding['id']} ({finding['impact']}): {finding['help']} at {targets}")
    return "\n".join(lines)


def english_words(page: Page, language: str) -> list[str]:
    text = page.evaluate(OWN_TEXT_JS, language)
    found = {w for w in WORD.findall(text) if w.lower() in ENGLISH_WORDS}
    return sorted(found - {w for w in found if w.lower() in NAMES})


def check_page(page: Page, language: str, names: str | None = None) -> None:
    """Everything a page state must pass; `names`: a word the title must contain."""
    assert page.evaluate("document.documentElement.lang") == language, page.url
    title = page.title()
    assert title and title != "Agora", f"no title naming the page at {page.url}"
    if names:
        assert names.lower() in title.lower(), f"title {title!r} does not name {names!r}"
    findings = axe_findings(page)
    assert not findings, f"axe at {page.url}:\n{describe(findings)}"
    if language != "en":
        words = english_words(page, language)
        assert not words, f"English on a {language} page at {page.url}: {words}"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow} px wider than the screen"


def assert_error_summary_focused(page: Page) -> list[str]:
    """After a refused form the focus is on the error summary, whose links lead to fields;
    returns the ids they lead to, in the summary's order."""
    summary = page.locator(":focus")
    assert summary.count() == 1, "nothing has the focus after a refused form"
    targets = [
        href
        for href in summary.locator("a[href^='#']").evaluate_all("(a) => a.map(x => x.hash)")
        if href
    ]
    assert targets, (
        f"the focus is not on an error summary: {summary.evaluate('e => e.outerHTML')[:200]}"
    )
    for target in targets:
        assert page.locator(target).count() == 1, f"the summary links to a missing {target}"
    return targets


def in_document_order(page: Page, targets: list[str]) -> bool:
    """Whether the elements with these ids (#a, #b) come in this order in the page."""
    return bool(
        page.evaluate(
            """(ids) => { const all = [...document.querySelectorAll('[id]')].map(e => '#' + e.id);
                          const at = ids.map(id => all.indexOf(id));
                          return at.every((p, i) => i === 0 || at[i - 1] < p); }""",
            targets,
        )
    )


# --- the keyboard only ------------------------------------------------------------------------

MAX_TABS = 400


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until the element matching `selector` has the focus (never clicks)."""
    for _ in range(MAX_TABS):
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with Tab on {page.url}")


def type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def tick(page: Page, selector: str) -> None:
    """Tick a checkbox (or pick a radio button) with the space bar."""
    tab_to(page, selector)
    if not page.locator(selector).is_checked():
        page.keyboard.press("Space")
    assert page.locator(selector).is_checked(), selector


def pick(page: Page, group: str, value: str) -> None:
    """Pick a radio button of a group (`group` selects all of them) with the arrow keys."""
    tab_to(page, group)
    for _ in range(page.locator(group).count() + 1):
        if page.locator(f"{group}[value='{value}']").is_checked():
            return
        page.keyboard.press("ArrowRight")
    raise AssertionError(f"{value!r} not reached in {group}")


def choose_value(page: Page, selector: str, value: str) -> None:
    """Pick the option with this value of a <select>, with the keyboard: the first letter of
    its label jumps near it, the arrow keys do the rest."""
    tab_to(page, selector)
    label = page.eval_on_selector(
        selector, "(s, v) => [...s.options].find(o => o.value === v)?.textContent.trim()", value
    )
    assert label, f"no option {value!r} in {selector}"
    page.keyboard.press("Home")
    page.keyboard.type(label[0])
    for _ in range(page.locator(f"{selector} option").count()):
        if page.input_value(selector) == value:
            return
        page.keyboard.press("ArrowDown")
    assert page.input_value(selector) == value, f"option {value!r} not reached in {selector}"


def follow(page: Page, selector: str) -> None:
    """Follow a link (the first matching `selector`) and wait for the page it leads to: a
    check on the page before it has arrived would read the one it leaves."""
    with page.expect_navigation():
        page.locator(selector).first.click()


def send(page: Page, selector: str = "main form button[type=submit]") -> None:
    """Send a form: Tab to its button, press Enter, wait for the next page."""
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press("Enter")
