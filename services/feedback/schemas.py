"""Request and response schemas of the feedback API (they are the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from shared.contracts import LANGUAGES
from shared.validation import Text

COMMENT_MAX = 2000
RATING_ERROR = "Must be a whole number from 1 to 5."
ENDORSEMENT_ERROR = "Must be a whole number from -2 to 2."
REPORT_FORMATS = ("json", "html", "md", "pdf")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class FeedbackIn(StrictSchema):
    rating = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=5, error=RATING_ERROR),
        metadata={"description": "1 (poor) to 5 (excellent)", "minimum": 1, "maximum": 5},
    )
    comment = Text(
        multiline=True,
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=COMMENT_MAX, error=f"At most {COMMENT_MAX} characters."),
    )
    endorsements = fields.Dict(
        keys=Text(),
        values=fields.Integer(
            strict=True, validate=validate.Range(min=-2, max=2, error=ENDORSEMENT_ERROR)
        ),
        load_default=dict,
        validate=validate.Length(max=100),
        metadata={
            "description": "Recommendation id → -2 (strongly oppose) … +2 (strongly support); "
            "only recommendations of the session's theme."
        },
    )


class FeedbackOut(Schema):
    session = fields.String()
    rating = fields.Integer()
    comment = fields.String(allow_none=True)
    endorsements = fields.Dict(keys=fields.String(), values=fields.Integer())
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class _Stats(Schema):
    responses = fields.Integer()
    attendees = fields.Integer(metadata={"description": "confirmed for the session(s)"})
    response_rate = fields.Float(metadata={"description": "responses / attendees, 0 to 1"})
    mean = fields.Float(allow_none=True)
    median = fields.Float(allow_none=True)
    distribution = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": '{"1": n, …}'}
    )
    comments = fields.List(
        fields.String(), metadata={"description": "alphabetical; never who wrote them"}
    )


class SessionSummaryOut(_Stats):
    event = fields.String()
    code = fields.String()
    title = fields.String()
    theme = fields.String()
    kind = fields.String()
    starts_at = fields.AwareDateTime()


class SessionRowOut(_Stats):
    code = fields.String()
    title = fields.String()
    theme = fields.String()
    kind = fields.String()
    starts_at = fields.AwareDateTime()


class ThemeRowOut(_Stats):
    theme = fields.String()
    sessions = fields.List(fields.String())


class EventSummaryOut(Schema):
    event = fields.String()
    sessions = fields.List(fields.Nested(SessionRowOut))
    themes = fields.List(fields.Nested(ThemeRowOut))


class SummaryArgs(Schema):
    comments = fields.Boolean(
        load_default=True, metadata={"description": "false leaves the comments out"}
    )


class RecommendationIn(StrictSchema):
    theme = Text(required=True, validate=validate.Length(min=1, max=120))
    text = Text(required=True, multiline=True, validate=validate.Length(min=1, max=COMMENT_MAX))
    language = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(LANGUAGES),
        metadata={"description": "the language of `text` (fr, nl, en); null: not known"},
    )

    @validates("text")
    def check_text(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Must not be blank.")


class RecommendationCreated(Schema):
    id = fields.Integer()
    theme = fields.String()
    text = fields.String()
    language = fields.String(allow_none=True)


class RecommendationOut(RecommendationCreated):
    created_at = fields.AwareDateTime()
    answers = fields.Integer()
    mean = fields.Float(allow_none=True, metadata={"description": "-2 to +2"})
    positive_share = fields.Float(allow_none=True, metadata={"description": "answers > 0"})
    distribution = fields.Dict(keys=fields.String(), values=fields.Integer())


class ReportArgs(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(REPORT_FORMATS))
    lang = fields.String(load_default=None, validate=validate.OneOf(LANGUAGES))


class FeedbackExportArgs(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class FeedbackExportRow(Schema):
    session = fields.String()
    session_title = fields.String()
    theme = fields.String()
    rating = fields.Integer()
    comment = fields.String(allow_none=True)
    language = fields.String()
