"""Server-rendered pages: programme, registration form, confirmation, manage page."""

from __future__ import annotations

from flask import Blueprint, request

bp = Blueprint("web", __name__, template_folder="templates")
LANGUAGES = ("fr", "nl", "en")


def select_locale() -> str | None:
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES)
