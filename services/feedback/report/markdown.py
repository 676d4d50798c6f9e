"""The report in Markdown: everything participants typed escaped, so it can neither format
nor inject."""

from __future__ import annotations

import re
from typing import Any

from services.feedback.report.compose import OTHER
from services.feedback.report.wording import (
    Labels,
    headline_rows,
    method_rules,
    session_cells,
    support_text,
    theme_sentence,
)

# Markdown: every character with a meaning in CommonMark or GFM gets a backslash, and the
# three HTML ones become entities, so participants' text can neither format nor inject.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>=])")


def md_escape(text: str) -> str:
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def render_markdown(data: dict[str, Any], labels: Labels) -> str:
    _ = labels.gettext
    head = data["headline"]
    lines = [
        f"# {md_escape(labels.heading(data))}",
        "",
        md_escape(labels.place_and_dates(data)),
        "",
        f"## {_('Headline figures')}",
        "",
    ]
    for name, value in headline_rows(head, labels):
        lines.append(f"- **{labels.colon(name)}** {value}")  # our own labels and figures
    lines += ["", f"## {_('Who took part')}", ""]
    _md_aggregate(lines, labels, data["participants"])
    for theme in data["themes"]:
        lines += _md_theme(theme, labels)
    lines += ["", f"## {_('Method')}", ""]
    lines += [f"- {rule}" for rule in method_rules(data["method"], labels)]
    return "\n".join(lines) + "\n"


def _md_aggregate(lines: list[str], labels: Labels, who: dict[str, Any]) -> None:
    _ = labels.gettext
    names = {"countries": _("Countries"), "cities": _("Cities"), "roles": _("Roles")}
    for kind, name in names.items():
        group = who[kind]
        parts = [
            f"{md_escape(labels.value(kind, i['value']))} {labels.figures.count(i['count'])}"
            for i in group["items"]
        ]
        if group[OTHER]:
            parts.append(f"{_('other')} {labels.figures.count(group[OTHER])}")
        lines.append(f"- **{labels.colon(name)}** " + (", ".join(parts) or "–"))


def _md_theme(theme: dict[str, Any], labels: Labels) -> list[str]:
    _ = labels.gettext
    stats = theme["stats"]
    lines = [
        "",
        f"## {md_escape(labels.theme(theme))}",
        "",
        theme_sentence(stats, labels),
        "",
        f"### {_('Sessions')}",
        "",
        "| {} | {} | {} | {} | {} |".format(
            _("Session"), _("Responses"), _("Response rate"), _("Mean"), _("Median")
        ),
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for s in theme["sessions"]:
        cells = [md_escape(labels.title(s)), *session_cells(s, labels)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"### {_('Draft recommendations, ranked by support')}", ""]
    if not theme["recommendations"]:
        lines.append(_("No recommendation for this theme yet."))
    for r in theme["recommendations"]:
        lines.append(f"{r['rank']}\\. {md_escape(r['text'])} — {support_text(r, labels)}")
    lines += ["", f"### {_('Recurring keywords in the comments')}", ""]
    if not theme["keywords"]:
        lines.append(_("Too few comments for recurring keywords."))
    for language, words in sorted(theme["keywords"].items()):
        listed = ", ".join(f"{md_escape(w['keyword'])} ({w['comments']})" for w in words)
        lines.append(f"- **{labels.colon(language.upper())}** {listed}")
    lines += ["", f"### {_('Representative comments')}", ""]
    if not theme["representative_comments"]:
        lines.append(_("No comment yet."))
    for c in theme["representative_comments"]:
        rating = _("rating %(rating)d", rating=c["rating"])
        lines += [f"> {md_escape(c['text'])}", f"> — {rating}", ""]
    lines += ["", f"### {_('Who took part')}", ""]
    people = theme["participants"]["people"]
    lines.append(_("People with a confirmed place: %(num)d.", num=people))
    lines.append("")
    _md_aggregate(lines, labels, theme["participants"])
    return lines
