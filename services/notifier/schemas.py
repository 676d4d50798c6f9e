"""Request and response schemas of the notifier API (they are the OpenAPI document)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from services.notifier.emails import TEMPLATES
from services.notifier.models import STATUSES
from shared.validation import Email


class MessageListArgs(Schema):
    class Meta:
        unknown = RAISE
        ordered = True

    status = fields.String(validate=validate.OneOf(STATUSES))
    to = Email(
        validate=validate.Length(min=1, max=254),
        metadata={"description": "exact address (a domain in Unicode finds its ASCII form)"},
    )
    template = fields.String(validate=validate.OneOf(TEMPLATES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class MessageOut(Schema):
    class Meta:
        ordered = True

    id = fields.String()
    to = fields.String(attribute="to_address")
    registration_id = fields.String(allow_none=True)
    template = fields.String()
    language = fields.String()
    subject = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
