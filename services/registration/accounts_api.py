"""JSON API of organiser accounts: accounts, their roles per event and their tokens (admin), and
`me` for any organiser. Disabling an account ends its web sessions here; its tokens and the
other services' copies follow from its events."""

from __future__ import annotations

import functools
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from services.registration import organisers
from services.registration.extensions import db, organiser_auth
from services.registration.models import OrganiserAccount
from services.registration.schemas import StrictSchema
from shared.accounts import ALL_EVENTS, ROLES, Permission
from shared.auth import OrganiserSessions
from shared.contracts import LANGUAGES
from shared.http import current_actor, error, run_rules
from shared.validation import Email, Text

organisers_bp = Blueprint(
    "organisers", __name__, url_prefix="/api/v1/organisers", description="Organiser accounts"
)
ORGANISER: list[dict[str, list[str]]] = [{"organiser": []}]
run = functools.partial(run_rules, db)
EMAIL_TAKEN = "An organiser account with this email address exists already."


class AccountIn(StrictSchema):
    email = Email(required=True, validate=validate.Length(max=254))
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    language = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))


class AccountCreated(StrictSchema):
    id = fields.String(required=True)


class Grant(StrictSchema):
    event = Text(
        required=True,
        validate=validate.Length(min=1, max=80),
        metadata={"description": f"An event's slug, or {ALL_EVENTS!r} for every event."},
    )
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class RolesIn(StrictSchema):
    roles = fields.List(fields.Nested(Grant), required=True)


class AccountOut(StrictSchema):
    id = fields.String()
    email = fields.String()
    name = fields.String()
    language = fields.String()
    disabled = fields.Boolean()
    roles = fields.List(fields.Nested(Grant))
    has_password = fields.Boolean()
    totp_enabled = fields.Boolean()
    totp_required = fields.Boolean()
    last_sign_in_at = fields.AwareDateTime(allow_none=True)


class TokenIn(StrictSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=120))


class TokenCreated(StrictSchema):
    id = fields.Integer()
    token = fields.String(metadata={"description": "Shown this once; only its hash is kept."})


class TokenOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    created_at = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)


def end_sessions(account_id: str) -> None:
    """End the account's web sessions (the shared cookie's sessions: every service's)."""
    sessions: OrganiserSessions = current_app.extensions["organiser_sessions"]
    sessions.end_all(account_id)


def account_or_404(account_id: str) -> Any:
    return run(organisers.get_account, db.session, account_id)


@organisers_bp.route("")
class Accounts(MethodView):
    @organiser_auth.requires(Permission.ACCOUNTS)
    @organisers_bp.response(200, AccountOut(many=True))
    @organisers_bp.doc(security=ORGANISER)
    def get(self) -> Any:
        """Every organiser account, with its roles (admin)."""
        return [vars(row) for row in organisers.list_accounts(db.session)]

    @organiser_auth.requires(Permission.ACCOUNTS)
    @organisers_bp.arguments(AccountIn)
    @organisers_bp.response(201, AccountCreated)
    @organisers_bp.doc(security=ORGANISER)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an account (admin) and email its owner an invitation to set a password."""
        account = run(
            organisers.create_account,
            db.session,
            data["email"],
            data["name"],
            data["language"],
            conflict=EMAIL_TAKEN,
        )
        base_url = current_app.extensions["settings"].public_base_url
        organisers.email_link(db.session, account, organisers.INVITATION, base_url)
        db.session.commit()
        return {"id": account.id}


@organisers_bp.route("/me")
class Me(MethodView):
    # Any account, even one not given a role yet.
    @organiser_auth.requires(Permission.OWN_ACCOUNT)
    @organisers_bp.response(200, AccountOut)
    @organisers_bp.doc(security=ORGANISER)
    def get(self) -> Any:
        """The organiser these credentials act for, with their roles."""
        actor = current_actor()
        if actor is None:
            error(401, "An organiser bearer token is required.")
        account = db.session.get(OrganiserAccount, actor.account_id)
        if account is None:  # ORGANISER_TOKEN: no account, every right
            roles = [{"event": g.event, "role": g.role} for g in actor.grants]
            return {"id": actor.account_id, "name": actor.name, "roles": roles, "disabled": False}
        return vars(organisers.account_row(db.session, account))


@organisers_bp.route("/<account_id>")
class Account(MethodView):
    @organiser_auth.requires(Permission.ACCOUNTS)
    @organisers_bp.response(200, AccountOut)
    @organisers_bp.doc(security=ORGANISER)
    def get(self, account_id: str) -> Any:
        """One account (admin)."""
        return vars(organisers.account_row(db.session, account_or_404(account_id)))

    @organiser_auth.requires(Permission.ACCOUNTS)
    @organisers_bp.response(204)
    @organisers_bp.doc(security=ORGANISER)
    def delete(self, account_id: str) -> Any:
        """Disable an account (admin): its tokens and web sessions end on every service."""
        account = account_or_404(account_id)
        run(organisers.disable, db.session, account)
        db.session.commit()
        end_sessions(account.id)


@organisers_bp.route("/<account_id>/roles")
class Roles(MethodView):
    @organiser_auth.requires(Permission.ACCOUNTS)
    @organisers_bp.arguments(RolesIn)
    @organisers_bp.response(200, AccountOut)
    @organisers_bp.doc(security=ORGANISER)
    def put(self, data: dict[str, Any], account_id: str) -> Any:
        """Replace an account's roles (admin): one per event, `*` for every event."""
        account = account_or_404(account_id)
        run(organisers.set_roles, db.session, account, data["roles"])
        db.session.commit()
        return vars(organisers.account_row(db.session, account))


@organisers_bp.route("/<account_id>/tokens")
class Tokens(MethodView):
    @organiser_auth.requires(Permission.ACCOUNTS)
    @organisers_bp.response(200, TokenOut(many=True))
    @organisers_bp.doc(security=ORGANISER)
    def get(self, account_id: str) -> Any:
        """An account's tokens (admin): names and dates, never the tokens."""
        return organisers.tokens_of(db.session, account_or_404(account_id).id)

    @organiser_auth.requires(Permission.ACCOUNTS)
    @organisers_bp.arguments(TokenIn)
    @organisers_bp.response(201, TokenCreated)
    @organisers_bp.doc(security=ORGANISER)
    def post(self, data: dict[str, Any], account_id: str) -> Any:
        """Issue a token for an account's scripts (admin): the answer is the only time it shows."""
        account = account_or_404(account_id)
        row, token = run(organisers.issue_token, db.session, account, data["name"])
        db.session.commit()
        return {"id": row.id, "token": token}


@organisers_bp.route("/<account_id>/tokens/<int:token_id>")
class Token(MethodView):
    @organiser_auth.requires(Permission.ACCOUNTS)
    @organisers_bp.response(204)
    @organisers_bp.doc(security=ORGANISER)
    def delete(self, account_id: str, token_id: int) -> Any:
        """Revoke a token (admin): refused by every service within seconds."""
        account = account_or_404(account_id)
        run(organisers.revoke_token, db.session, account, token_id)
        db.session.commit()
