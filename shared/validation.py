"""What every service accepts as typed text, a date or an email address, checked where input
enters (the schemas), so that no value reaches a database, a page or an email that cannot
carry it.

A lone surrogate ("\\ud800", valid in JSON, not in UTF-8) makes SQLite and psycopg fail to
encode the statement; PostgreSQL refuses NUL in text; other control characters garble pages,
CSV files and email headers. A year near 1 or 9999 overflows as soon as a time zone or a
default window is added to it. An address with non-ASCII letters before the @ can only be
delivered by a server that offers SMTPUTF8, which most do not: such an address is refused,
and a domain is kept in its ASCII (IDNA) form, which every server accepts.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import abort, request
from marshmallow import ValidationError, fields

FIRST_YEAR, LAST_YEAR = 2000, 2100

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 control characters and DEL; a multi-line text keeps tab, line feed and return.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

SURROGATE_ERROR = "Contains a character that is not valid Unicode (a lone surrogate)."
NUL_ERROR = "Must not contain a NUL character."
CONTROL_ERROR = "Must not contain line breaks, tabs or other control characters."
CONTROL_IN_MULTILINE_ERROR = "Must not contain control characters (line breaks and tabs are fine)."
YEAR_ERROR = f"Must be in the years {FIRST_YEAR} to {LAST_YEAR}."
NON_ASCII_EMAIL_ERROR = (
    "This address cannot receive our emails: use an address with only Latin letters before the @."
)


def text_error(value: str, multiline: bool = False) -> str | None:
    """Why a text cannot be stored, shown and sent as it is; None when it can."""
    if _SURROGATE.search(value):
        return SURROGATE_ERROR
    if "\x00" in value:
        return NUL_ERROR
    if multiline:
        return CONTROL_IN_MULTILINE_ERROR if _CONTROL_IN_MULTILINE.search(value) else None
    return CONTROL_ERROR if _CONTROL.search(value) else None


class Text(fields.String):
    """A string of characters every database, page and email can carry (see `text_error`);
    `multiline=True` for texts that may have line breaks and tabs (descriptions, comments)."""

    def __init__(self, *args: Any, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        problem = text_error(text, self.multiline)
        if problem:
            raise ValidationError(problem)
        return text


def within_years(value: date) -> None:
    """A conference's dates: far enough from year 1 and 9999 that no time zone or default
    window added to them overflows."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(YEAR_ERROR)


class Day(fields.Date):
    """A calendar day in the years a conference may have (`within_years`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.validators.insert(0, within_years)


class Moment(fields.AwareDateTime):
    """A date and time with its offset, in the years a conference may have (`within_years`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.validators.insert(0, within_years)


def check_email(value: str) -> str:
    """The address as we store and send it: lower case, its domain in ASCII (IDNA), or a
    ValidationError saying why we cannot send to it."""
    try:
        found = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(f"Not a valid email address: {error}") from None
    if found.ascii_email is None:  # the part before the @ needs SMTPUTF8
        raise ValidationError(NON_ASCII_EMAIL_ERROR)
    return found.ascii_email.lower()


class Email(Text):
    """An email address, checked once and given back as `check_email` normalises it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return check_email(super()._deserialize(value, attr, data, **kwargs))


def refuse_control_characters_in_path() -> None:
    """A 404 for a path with a control character (NUL included): it names nothing that could
    have been stored, and PostgreSQL would refuse to even look it up."""
    if _CONTROL.search(request.path):
        # As if no route matched: the 404 page must not look up what the path names either.
        request.url_rule, request.view_args = None, None
        abort(404)
