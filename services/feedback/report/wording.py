"""What every rendering of the report writes the same way: the page's language (`Labels`),
numbers, and the sentences shared by the HTML, Markdown and PDF reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Labels:
    """What the renderers need from the page's language: a translate function and names."""

    gettext: Callable[..., str]
    language: str
    country: Callable[[str], str] = str
    role: Callable[[str], str] = str
    kind: Callable[[str], str] = str
    extra: dict[str, Any] = field(default_factory=dict)

    def title(self, item: dict[str, Any]) -> str:
        return str((item.get("title_translations") or {}).get(self.language) or item["title"])

    def value(self, kind: str, value: str) -> str:
        if kind == "countries":
            return self.country(value)
        if kind == "roles":
            return self.role(value)
        return value


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(100 * value)} %"


def number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def headline_rows(head: dict[str, Any], labels: Labels) -> list[tuple[str, str]]:
    _ = labels.gettext
    return [
        (_("Participants"), str(head["participants"])),
        (_("Countries"), str(head["countries"])),
        (_("Cities and regions"), str(head["cities"])),
        (_("Sessions rated"), f"{head['sessions_rated']} / {head['sessions']}"),
        (_("Responses"), str(head["responses"])),
        (_("Participants who gave feedback"), str(head["respondents"])),
        (_("Response rate (sessions held)"), percent(head["response_rate"])),
        (_("Mean rating (1 to 5)"), number(head["mean"])),
        (_("Median rating"), number(head["median"], 1)),
        (_("Comments"), str(head["comments"])),
        (_("Draft recommendations"), str(head["recommendations"])),
        (_("Answers on recommendations"), str(head["answers"])),
    ]


def support_text(row: dict[str, Any], labels: Labels) -> str:
    _ = labels.gettext
    if not row["answers"]:
        return _("no answer yet")
    return _(
        "support %(mean)s (from -2 to +2), %(share)s in favour, answers: %(num)d",
        mean=signed(row["mean"]),
        share=percent(row["positive_share"]),
        num=row["answers"],
    )


def theme_sentence(stats: dict[str, Any], labels: Labels) -> str:
    return labels.gettext(
        "Responses: %(responses)d of %(attendees)d attendees (%(rate)s); mean rating %(mean)s.",
        responses=stats["responses"],
        attendees=stats["attendees"],
        rate=percent(stats["response_rate"]),
        mean=number(stats["mean"]),
    )


def method_rules(method: dict[str, Any], labels: Labels) -> list[str]:
    _ = labels.gettext
    return [
        _(
            "Recommendations are ranked by mean support (from -2 to +2), then by the share of "
            "positive answers, then by the number of answers; each participant has one answer "
            "per recommendation, their latest."
        ),
        _(
            "Keywords are extracted with YAKE from the newest comments of each theme in each "
            "language (up to %(budget)d characters), and kept only when they recur in at least "
            "two comments; the figure is the number of comments containing them.",
            budget=method["keyword_text_budget"],
        ),
        _(
            "Representative comments: among comments of at least %(words)d words, those whose "
            "rating is closest to the theme's mean rating, longest first (at most %(num)d).",
            words=method["informative_words"],
            num=method["representative_comments"],
        ),
        _(
            "Who took part: people with a confirmed place, counted once per theme; countries, "
            "cities and roles with fewer than %(num)d people are grouped as “other”.",
            num=method["small_group"],
        ),
        _("Comments are never shown with their author; nothing here identifies anyone."),
    ]
