"""The report as a PDF (ReportLab), in a Unicode font: DejaVu when installed, else Vera."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from services.feedback.models import RATINGS
from services.feedback.report.compose import OTHER
from services.feedback.report.wording import (
    Labels,
    headline_rows,
    method_rules,
    session_cells,
    support_text,
    theme_sentence,
)

_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
)


@cache
def _fonts() -> tuple[str, str, frozenset[int]]:
    """A Unicode TrueType font (DejaVu when installed, else ReportLab's own Vera) and its glyphs."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular, bold = None, None
    for path, bold_name in _FONT_CANDIDATES:
        if Path(path).exists() and (Path(path).parent / bold_name).exists():
            regular, bold = Path(path), Path(path).parent / bold_name
            break
    if regular is None or bold is None:
        fonts = Path(reportlab.__file__).parent / "fonts"
        regular, bold = fonts / "Vera.ttf", fonts / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont("AgoraSans", str(regular)))
    pdfmetrics.registerFont(TTFont("AgoraSans-Bold", str(bold)))
    pdfmetrics.registerFontFamily("AgoraSans", normal="AgoraSans", bold="AgoraSans-Bold")
    face = pdfmetrics.getFont("AgoraSans").face
    return "AgoraSans", "AgoraSans-Bold", frozenset(face.charToGlyph)


def pdf_text(text: str) -> str:
    """Text for a ReportLab Paragraph: XML-escaped, characters the font lacks simplified."""
    glyphs = _fonts()[2]
    out = []
    for char in " ".join(str(text).split()):
        if ord(char) in glyphs:
            out.append(char)
            continue
        plain = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(plain if plain and all(ord(c) in glyphs for c in plain) else "?")
    return xml_escape("".join(out))


def render_pdf(data: dict[str, Any], labels: Labels) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _ = labels.gettext
    regular, bold, _glyphs = _fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=9.5)
    styles = {
        "title": ParagraphStyle("t", parent=base["Title"], fontName=bold, alignment=TA_LEFT),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=bold),
        "h3": ParagraphStyle("h3", parent=base["Heading3"], fontName=bold),
        "body": body,
        "quote": ParagraphStyle(
            "q", parent=body, leftIndent=8 * mm, textColor=colors.HexColor("#333")
        ),
        "small": ParagraphStyle("s", parent=body, fontSize=8, textColor=colors.HexColor("#555")),
    }

    def p(text: str, style: str = "body") -> Paragraph:
        return Paragraph(pdf_text(text), styles[style])

    def table(rows: list[list[Any]], widths: list[float]) -> Table:
        t = Table(rows, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), regular),
                    ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    story: list[Any] = [
        p(labels.heading(data), "title"),
        p(labels.place_and_dates(data), "small"),
        p(_("Headline figures"), "h2"),
        table(
            [[p(n), p(v)] for n, v in headline_rows(data["headline"], labels)], [90 * mm, 60 * mm]
        ),
        p(_("Who took part"), "h2"),
        *[p(line) for line in _aggregate_lines(data["participants"], labels)],
    ]
    for theme in data["themes"]:
        story += _pdf_theme(theme, labels, p, table, mm)
    story += [
        p(_("Method"), "h2"),
        *[p("• " + rule) for rule in method_rules(data["method"], labels)],
    ]
    buffer = io.BytesIO()
    title = labels.heading(data)
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=title,
        author="Agora",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    )
    story.insert(2, Spacer(1, 4 * mm))
    document.build(story)
    return buffer.getvalue()


def _aggregate_lines(who: dict[str, Any], labels: Labels) -> list[str]:
    _ = labels.gettext
    names = {"countries": _("Countries"), "cities": _("Cities"), "roles": _("Roles")}
    lines = []
    for kind, name in names.items():
        group = who[kind]
        parts = [
            f"{labels.value(kind, i['value'])} {labels.figures.count(i['count'])}"
            for i in group["items"]
        ]
        if group[OTHER]:
            parts.append(f"{_('other')} {labels.figures.count(group[OTHER])}")
        lines.append(f"{labels.colon(name)} " + (", ".join(parts) or "–"))
    return lines


def _pdf_theme(
    theme: dict[str, Any],
    labels: Labels,
    p: Callable[..., Any],
    table: Callable[..., Any],
    mm: float,
) -> list[Any]:
    _ = labels.gettext
    stats = theme["stats"]
    out: list[Any] = [
        p(labels.theme(theme), "h2"),
        p(theme_sentence(stats, labels)),
        _pdf_distribution(stats["distribution"], labels),
        p(_("Sessions"), "h3"),
        table(
            [
                [
                    p(_("Session")),
                    p(_("Responses")),
                    p(_("Response rate")),
                    p(_("Mean")),
                    p(_("Median")),
                ]
            ]
            + [
                [p(labels.title(s)), *(p(cell) for cell in session_cells(s, labels))]
                for s in theme["sessions"]
            ],
            [78 * mm, 24 * mm, 26 * mm, 20 * mm, 20 * mm],
        ),
        p(_("Draft recommendations, ranked by support"), "h3"),
    ]
    if not theme["recommendations"]:
        out.append(p(_("No recommendation for this theme yet.")))
    for r in theme["recommendations"]:
        out.append(p(f"{r['rank']}. {r['text']} — {support_text(r, labels)}"))
    out.append(p(_("Recurring keywords in the comments"), "h3"))
    if not theme["keywords"]:
        out.append(p(_("Too few comments for recurring keywords.")))
    for language, words in sorted(theme["keywords"].items()):
        listed = ", ".join(f"{w['keyword']} ({w['comments']})" for w in words)
        out.append(p(f"{labels.colon(language.upper())} {listed}"))
    out.append(p(_("Representative comments"), "h3"))
    if not theme["representative_comments"]:
        out.append(p(_("No comment yet.")))
    for c in theme["representative_comments"]:
        rating = _("rating %(rating)d", rating=c["rating"])
        out.append(p(f"“{c['text']}” — {rating}", "quote"))
    out.append(p(_("Who took part"), "h3"))
    out.append(p(_("People with a confirmed place: %(num)d.", num=theme["participants"]["people"])))
    out += [p(line) for line in _aggregate_lines(theme["participants"], labels)]
    return out


def _pdf_distribution(distribution: dict[str, int], labels: Labels) -> Any:
    """A small bar chart of the ratings 1 to 5."""
    from reportlab.graphics.shapes import Drawing, Rect, String
    from reportlab.lib import colors

    regular = _fonts()[0]
    width, height, bar = 220, 70, 28
    drawing = Drawing(width, height)
    top = max(distribution.values()) or 1
    for index, rating in enumerate(RATINGS):
        count = distribution.get(str(rating), 0)
        x = 10 + index * (bar + 12)
        h = 40 * count / top
        drawing.add(Rect(x, 14, bar, h, fillColor=colors.HexColor("#0b57a4"), strokeColor=None))
        drawing.add(
            String(x + bar / 2, 3, str(rating), fontName=regular, fontSize=7, textAnchor="middle")
        )
        drawing.add(
            String(
                x + bar / 2, 16 + h, str(count), fontName=regular, fontSize=7, textAnchor="middle"
            )
        )
    return drawing
