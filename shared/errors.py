"""The one family of rule errors every service's domain code raises.

A rule error is a request that is well formed but not allowed now. Domain code raises it with
an English message (what the API answers), the field it is about, and a stable `code` with the
values in the message (`params`), so that pages can say it in the visitor's language.
`shared.http.run_rules` turns it into the HTTP error its `status` names.
"""

from __future__ import annotations

from typing import Any


class RuleError(Exception):
    """Well formed but not allowed now (HTTP 409 unless a subclass says otherwise)."""

    status = 409

    def __init__(
        self, message: str, field: str | None = None, code: str = "", **params: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.params = params


class InvalidInput(RuleError):
    """A value the schema could not judge alone (HTTP 422, naming the field)."""

    status = 422


class NotFound(RuleError):
    status = 404


class Forbidden(RuleError):
    status = 403


class Unauthorised(RuleError):
    status = 401
