"""What every rendering of the report writes the same way: the page's language (`Labels`),
numbers, and the sentences shared by the HTML, Markdown and PDF reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.feedback.models import entered_language
from shared import formats
from shared.formats import in_language

NONE = "–"  # a figure there is none of yet (no answer, no attendee)


class Figures(formats.For):
    """The report's and the dashboard's figures in one language; "–" where there is none."""

    def count(self, value: int | None) -> str:
        return NONE if value is None else self.number(value, 0)

    def mean(self, value: float | None) -> str:
        """A mean always has one decimal (4,0 is an average, not a count)."""
        return NONE if value is None else self.fixed(value)

    def median(self, value: float | None) -> str:
        return NONE if value is None else self.number(value)

    def share(self, value: float | None) -> str:
        return NONE if value is None else self.percent(value)

    def support(self, value: float | None) -> str:
        """Mean support from -2 to +2, with its sign: +0,4 / −1,2."""
        if value is None:
            return NONE
        return ("+" if value > 0 else "") + self.fixed(value)


@dataclass
class Labels:
    """What the renderers need from the page's language: a translate function and names."""

    gettext: Callable[..., str]
    language: str
    country: Callable[[str], str] = str
    role: Callable[[str], str] = str
    kind: Callable[[str], str] = str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def figures(self) -> Figures:
        return Figures(self.language)

    def title(self, item: dict[str, Any]) -> str:
        return in_language(item["title"], item.get("title_translations"), self.language)

    def city(self, event: dict[str, Any]) -> str:
        return in_language(event["city"], event.get("city_translations"), self.language)

    def theme(self, theme: dict[str, Any]) -> str:
        return in_language(theme["theme"], theme.get("theme_translations"), self.language)

    def theme_lang(self, theme: dict[str, Any]) -> str | None:
        """The `lang` of a theme's name where it is shown untranslated (HTML only)."""
        return entered_language(
            theme["theme"], theme.get("theme_translations") or {}, self.language
        )

    def colon(self, label: str) -> str:
        """ "Pays :" in French (a non-breaking space before the colon), "Countries:" in English."""
        return self.gettext("%(label)s:", label=label)

    def heading(self, data: dict[str, Any]) -> str:
        return self.gettext("Recommendation report: %(event)s", event=self.title(data["event"]))

    def value(self, kind: str, value: str) -> str:
        if kind == "countries":
            return self.country(value)
        if kind == "roles":
            return self.role(value)
        return value

    def dates(self, event: dict[str, Any]) -> str:
        """The event's dates in prose: "3–5 février 2027" (the JSON keeps ISO dates)."""
        first, last = date.fromisoformat(event["starts_on"]), date.fromisoformat(event["ends_on"])
        return self.figures.day_range(first, last)

    def generated(self, data: dict[str, Any]) -> str:
        """When the report was built, in the event's time zone (UTC for reports from before
        the zone was kept)."""
        zone = data["event"].get("timezone") or "UTC"
        return self.figures.moment(datetime.fromisoformat(data["generated_at"]), zone)

    def place_and_dates(self, data: dict[str, Any]) -> str:
        return self.gettext(
            "%(city)s, %(dates)s. Generated on %(when)s.",
            city=self.city(data["event"]),
            dates=self.dates(data["event"]),
            when=self.generated(data),
        )


def headline_rows(head: dict[str, Any], labels: Labels) -> list[tuple[str, str]]:
    _, f = labels.gettext, labels.figures
    return [
        (_("Participants"), f.count(head["participants"])),
        (_("Countries"), f.count(head["countries"])),
        (_("Cities and regions"), f.count(head["cities"])),
        (_("Sessions rated"), f"{f.count(head['sessions_rated'])} / {f.count(head['sessions'])}"),
        (_("Responses"), f.count(head["responses"])),
        (_("Participants who gave feedback"), f.count(head["respondents"])),
        (_("Response rate (sessions held)"), f.share(head["response_rate"])),
        (_("Mean rating (1 to 5)"), f.mean(head["mean"])),
        (_("Median rating"), f.median(head["median"])),
        (_("Comments"), f.count(head["comments"])),
        (_("Draft recommendations"), f.count(head["recommendations"])),
        (_("Answers on recommendations"), f.count(head["answers"])),
    ]


def session_cells(session: dict[str, Any], labels: Labels) -> list[str]:
    """A session's row in the report's tables: responses, response rate, mean, median."""
    f = labels.figures
    return [
        f"{f.count(session['responses'])} / {f.count(session['attendees'])}",
        f.share(session["response_rate"]),
        f.mean(session["mean"]),
        f.median(session["median"]),
    ]


def support_text(row: dict[str, Any], labels: Labels) -> str:
    _ = labels.gettext
    if not row["answers"]:
        return _("no answer yet")
    return _(
        "support %(mean)s (from -2 to +2), %(share)s in favour, answers: %(num)d",
        mean=labels.figures.support(row["mean"]),
        share=labels.figures.share(row["positive_share"]),
        num=row["answers"],
    )


def theme_sentence(stats: dict[str, Any], labels: Labels) -> str:
    return labels.gettext(
        "Responses: %(responses)d of %(attendees)d attendees (%(rate)s); mean rating %(mean)s.",
        responses=stats["responses"],
        attendees=stats["attendees"],
        rate=labels.figures.share(stats["response_rate"]),
        mean=labels.figures.mean(stats["mean"]),
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
