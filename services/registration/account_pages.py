"""Organiser accounts on the web: signing in (a password, an emailed link or a token, then the
second factor), the one-time links, a forgotten password, "my account", and the admins' pages.

Nested in the pages' blueprint (endpoints `web.accounts.*`), so these pages have its layout,
headers and error pages. Signing in here signs the browser in on every service (one cookie, one
session in Redis: `shared.pages.start_organiser_session`); the other services send their
visitors here to sign in, with a `next` address on their own origin.

Between the password (or link) and the second factor, the account waits in the signed session
cookie for a few minutes; no organiser session exists until the second factor is given.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from marshmallow import ValidationError
from redis.exceptions import RedisError
from sqlalchemy import select

from services.registration import organisers
from services.registration.extensions import SERVICE, db
from services.registration.models import Event, OrganiserAccount
from shared import pages
from shared.accounts import ALL_EVENTS, ROLES, Permission
from shared.auth import OrganiserSessions
from shared.contracts import LANGUAGES
from shared.errors import RuleError
from shared.http import client_key, field_key, limiter, public
from shared.validation import check_email, text_error

bp = Blueprint("accounts", __name__)
page = functools.partial(pages.render, SERVICE)

# Wrong passwords: a few a minute per address typed, more per client (a team behind one
# address); only refusals count, so signing in never uses a try up.
SIGN_IN_PER_CLIENT = "20 per minute;100 per hour"
SIGN_IN_PER_EMAIL = "5 per minute;20 per hour"
# Each emailed link is an email to someone's inbox: a few an hour per address.
EMAIL_LINK_PER_CLIENT = "20 per hour"
EMAIL_LINK_PER_EMAIL = "3 per hour;10 per day"
# Second-factor codes have a million values: five wrong ones a minute per account at most.
SECOND_FACTOR_PER_ACCOUNT = "5 per minute;20 per hour"
# How long the password (or the link) counts while the second factor is awaited.
PENDING_SECONDS = 300
PENDING = "organiser_pending"
LANDING = "web.organiser_home"

# Each rule the domain module raises (RuleError.code), in the visitor's language.
RULE_MESSAGES: dict[str, Any] = {
    "password_short": _l("A password needs at least %(length)d characters."),
    "password_long": _l("A password has at most %(length)d characters."),
    "password_is_email": _l("The password cannot be the email address."),
    "totp_wrong": _l("This code is not valid: type the 6 digits your app shows now."),
    "totp_enabled": _l("A second factor is set up already."),
    "totp_not_started": _l("Start the setting up of the second factor again."),
    "email_taken": _l("An organiser account with this email address exists already."),
    "name_required": _l("Please enter a name (at most 200 characters)."),
    "unknown_language": _l("Please choose a language."),
    "unknown_role": _l("Please choose a role from the list."),
    "two_roles": _l("Please choose one role per event."),
    "unknown_events": _l("One of these events does not exist any more."),
    "account_disabled": _l("This organiser account is disabled."),
    "link_invalid": _l("This link has been used or has expired."),
}
LANGUAGE_LABELS = {"fr": "Français", "nl": "Nederlands", "en": "English"}
ORGANISER_ROLE_LABELS: dict[str, Any] = {
    "admin": _l("Administrator"),
    "manager": _l("Manager"),
    "desk": _l("Registration desk"),
    "rapporteur": _l("Rapporteur"),
    "viewer": _l("Viewer"),
}
# What each role may do, as the contract's table says it.
ORGANISER_ROLE_HINTS: dict[str, Any] = {
    "admin": _l("Everything, organiser accounts included."),
    "manager": _l(
        "For its events: the programme, the registrations and their exports, the feedback, "
        "the report, the emails."
    ),
    "desk": _l("Checks people in and looks one participant up; no lists, no exports."),
    "rapporteur": _l("Feedback summaries, recommendations and the report; no personal data."),
    "viewer": _l("The programme and how full it is; nothing personal."),
}


def explain(rule: RuleError) -> str:
    message = RULE_MESSAGES.get(rule.code)
    return str(message) % rule.params if message is not None else rule.message


# --- rate limits -------------------------------------------------------------------------------


def _limits(
    scope: str, limits: tuple[tuple[str, Callable[[], str]], ...], failures_only: bool
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Several limits on a form's POSTs, each with its key; `failures_only` counts the
    refusals (401) alone."""
    deduct = pages.refused if failures_only else None

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        for limit, key in limits:
            view = limiter.shared_limit(
                limit, scope=scope, key_func=key, methods=["POST"], deduct_when=deduct
            )(view)
        return view

    return decorate


def pending_key() -> str:
    """The account awaiting its second factor in this browser (else the client's address)."""
    pending = session.get(PENDING)
    account = pending.get("account") if isinstance(pending, dict) else None
    if not isinstance(account, str):
        return client_key()
    return f"{current_app.extensions['service']}/second-factor/{account}"


limit_password = _limits(
    "organiser-sign-in",
    ((SIGN_IN_PER_CLIENT, client_key), (SIGN_IN_PER_EMAIL, field_key("email"))),
    failures_only=True,
)
limit_token = _limits(
    "organiser-sign-in-token", ((pages.SIGN_IN_LIMIT, client_key),), failures_only=True
)
limit_email_link = _limits(
    "organiser-email-link",
    ((EMAIL_LINK_PER_CLIENT, client_key), (EMAIL_LINK_PER_EMAIL, field_key("email"))),
    failures_only=False,
)
# A link's token cannot be guessed; this only keeps a client from hammering the page.
limit_link = _limits("organiser-link", ((SIGN_IN_PER_CLIENT, client_key),), failures_only=False)
limit_second_factor = _limits(
    "organiser-second-factor",
    ((SECOND_FACTOR_PER_ACCOUNT, pending_key), (SIGN_IN_PER_CLIENT, client_key)),
    failures_only=True,
)


# --- signing in --------------------------------------------------------------------------------


def next_target() -> str | None:
    """Where signing in leads: a page of ours under /organiser, or one on the other services'
    origins (they send their visitors here); anything else is dropped."""
    return pages.safe_return(request.values.get("next"), "/organiser")


def landing(target: str | None) -> str:
    return target or url_for(LANDING)


def sign_in_page(status: int = 200, **values: Any) -> Any:
    values.setdefault("errors", {})
    values.setdefault("form", {})
    values.setdefault("next", next_target())
    return page("account_sign_in.html", status, **values)


def unavailable(template: str = "account_sign_in.html", **values: Any) -> Any:
    message = _("Signing in is not possible right now. Please try again in a minute.")
    values.setdefault("errors", {"_form": message})
    values.setdefault("form", {})
    return page(template, 503, **values)


def start_session(account: OrganiserAccount, target: str | None) -> Any:
    """Signed in: on every service, until the session ends or the account is disabled."""
    organisers.signed_in(db.session, account)
    db.session.commit()
    session.pop(PENDING, None)
    response = redirect(landing(target), 303)
    try:
        return pages.start_organiser_session(response, account.id)
    except RedisError:
        return unavailable(next=target)


def first_factor_given(account: OrganiserAccount, target: str | None) -> Any:
    """A password or a link was right: signed in, or on to the second factor when the account
    has one or must set one up."""
    if organisers.totp_enabled(account) or account.totp_required:
        db.session.commit()
        session[PENDING] = {
            "account": account.id,
            "until": time.time() + PENDING_SECONDS,
            "next": target,
        }
        return redirect(url_for("web.accounts.second_factor"), 303)
    return start_session(account, target)


def form_text(name: str) -> str:
    value = request.form.get(name, "")
    return value.strip() if text_error(value) is None else ""


@bp.route("/organiser/sign-in", methods=["GET", "POST"])
@public
@limit_password
def sign_in() -> Any:
    """Email and password; or "email me a link"; or an organiser token."""
    target = next_target()
    if request.method == "GET":
        if pages.signed_in_actor() is not None:
            return redirect(landing(target))
        return sign_in_page()
    email, password = form_text("email"), request.form.get("password", "")
    errors = {}
    if not email:
        errors["email"] = _("Please enter your email address.")
    if not password:
        errors["password"] = _("Please enter your password.")
    if errors:
        return sign_in_page(422, errors=errors, form={"email": email})
    account = organisers.verify_password(db.session, email, password)
    if account is None:
        db.session.rollback()
        wrong = _("The email address or the password is not right.")
        return sign_in_page(401, errors={"password": wrong}, form={"email": email})
    return first_factor_given(account, target)


@bp.post("/organiser/sign-in/link")
@public
@limit_email_link
def email_sign_in_link() -> Any:
    """Email a one-time sign-in link; the answer is the same whether the address is known."""
    return email_link(organisers.SIGN_IN, "account_sign_in.html", "link_email")


def email_link(purpose: str, template: str, field: str) -> Any:
    email = form_text("email")
    try:
        address = check_email(email)
    except ValidationError:
        message = _("Please enter a valid email address.")
        return page(template, 422, errors={field: message}, form={field: email}, next=next_target())
    account = organisers.account_by_email(db.session, address)
    if account is not None and account.disabled_at is None:
        base_url = current_app.extensions["settings"].public_base_url
        organisers.email_link(db.session, account, purpose, base_url)
        db.session.commit()
    sent = _(
        "If an organiser account has this address, an email with a link is on its way to it. "
        "The link works once, for 30 minutes."
    )
    return page(template, 200, errors={}, form={}, sent=sent, next=next_target())


@bp.post("/organiser/sign-in/token")
@public
@limit_token
def sign_in_with_token() -> Any:
    """An organiser token signs in too (the one from the settings, or an account's)."""
    target = next_target()
    token = form_text("token")
    response = redirect(landing(target), 303)
    try:
        if token and pages.sign_organiser_in(response, token):
            session.pop(PENDING, None)
            return response
    except RedisError:
        return unavailable()
    message = _("This organiser token is not valid.")
    return sign_in_page(401, errors={"token": message})


def pending_account() -> tuple[OrganiserAccount, str | None] | None:
    """The account that gave its first factor in this browser a moment ago, and where to go."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None
    account = db.session.get(OrganiserAccount, str(pending.get("account")))
    if account is None or account.disabled_at is not None:
        return None
    target = pending.get("next")
    return account, pages.safe_return(target, "/organiser") if isinstance(target, str) else None


def qr_code(uri: str) -> Markup:
    """The otpauth address as an inline SVG QR code (no script, no image request)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=2, omitsize=False)
    return Markup(svg)  # noqa: S704 — segno writes the markup; the URI is ours


def setup_values(account: OrganiserAccount) -> dict[str, Any]:
    """What the setting up of a second factor shows: the QR code and the secret as text."""
    secret = account.totp_secret or ""
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {"qr": qr_code(organisers.provisioning_uri(account)), "secret": grouped}


@bp.route("/organiser/sign-in/second-factor", methods=["GET", "POST"])
@public
@limit_second_factor
def second_factor() -> Any:
    """The code from the authenticator app; set one up first when an admin requires it."""
    found = pending_account()
    if found is None:
        session.pop(PENDING, None)
        flash(_("Signing in took too long: please start again."), "error")
        return redirect(url_for("web.accounts.sign_in"), 303)
    account, target = found
    setting_up = not organisers.totp_enabled(account)
    if setting_up:
        organisers.begin_totp(db.session, account)
        db.session.commit()
    values = setup_values(account) if setting_up else {}
    if request.method == "GET":
        return page("account_second_factor.html", errors={}, setting_up=setting_up, **values)
    code = form_text("code")
    if setting_up:
        try:
            organisers.confirm_totp(db.session, account, code)
        except RuleError as rule:
            db.session.commit()  # the step a right but reused code named is kept
            errors = {"code": explain(rule)}
            return page("account_second_factor.html", 401, errors=errors, setting_up=True, **values)
        return start_session(account, target)
    if organisers.verify_totp(db.session, account, code):
        return start_session(account, target)
    db.session.commit()
    errors = {"code": str(RULE_MESSAGES["totp_wrong"])}
    return page("account_second_factor.html", 401, errors=errors, setting_up=False)


# --- one-time links and a forgotten password ---------------------------------------------------


def link_or_404(token: str) -> Any:
    link = organisers.find_link(db.session, token)
    if link is None:
        heading = _("This link has been used or has expired")
        message = _(
            "Each link works once, for a limited time. Ask for a new one from the sign-in page."
        )
        body, status = page("error.html", 404, heading=heading, message=message)
        abort(current_app.make_response((body, status)))
    return link


@bp.route("/organiser/link/<token>", methods=["GET", "POST"])
@public
@limit_link
def use_link(token: str) -> Any:
    """An emailed link. A GET only shows a button (mail scanners open links); the POST uses it:
    it signs in, or sets the password of a reset or an invitation, then signs in."""
    link = link_or_404(token)
    account = db.session.get(OrganiserAccount, link.account_id)
    values = {"purpose": link.purpose, "account": account, "token": token, "form": {}}
    if request.method == "GET":
        return page("account_link.html", errors={}, **values)
    password = request.form.get("password", "")
    if link.purpose != organisers.SIGN_IN:
        errors = password_errors(password, request.form.get("confirm", ""))
        if errors:
            return page("account_link.html", 422, errors=errors, **values)
    try:
        account = organisers.use_link(db.session, token, password or None)
    except RuleError as rule:
        db.session.rollback()
        field = "password" if rule.field == "password" else "_form"
        return page("account_link.html", 422, errors={field: explain(rule)}, **values)
    if link.purpose != organisers.SIGN_IN:
        flash(_("Your password is set."), "success")
    return first_factor_given(account, None)


def password_errors(password: str, confirm: str) -> dict[str, str]:
    if not password:
        return {"password": _("Please choose a password.")}
    if len(password) < organisers.PASSWORD_MIN_LENGTH:
        return {"password": str(RULE_MESSAGES["password_short"]) % {"length": 12}}
    if password != confirm:
        return {"confirm": _("The two passwords are not the same.")}
    return {}


@bp.route("/organiser/forgot-password", methods=["GET", "POST"])
@public
@limit_email_link
def forgot_password() -> Any:
    """A link to choose a new password, emailed; the same answer for an unknown address."""
    if request.method == "GET":
        return page("account_forgot.html", errors={}, form={})
    return email_link(organisers.PASSWORD_RESET, "account_forgot.html", "email")


# --- my account --------------------------------------------------------------------------------

# Every role may read the programme: these pages are for any organiser with a role.
signed_in = pages.organiser_required("web.accounts.sign_in", Permission.OWN_ACCOUNT)


def my_account() -> OrganiserAccount | None:
    """The signed-in account (None for ORGANISER_TOKEN, which has no account)."""
    return db.session.get(OrganiserAccount, g.actor.account_id)


def account_page(status: int = 200, **values: Any) -> Any:
    account = my_account()
    if account is None:
        return page("account_mine.html", status, account=None, errors={})
    values.setdefault("errors", {})
    setting_up = account.totp_secret is not None and not organisers.totp_enabled(account)
    return page(
        "account_mine.html",
        status,
        account=account,
        row=organisers.account_row(db.session, account),
        tokens=organisers.tokens_of(db.session, account.id),
        setting_up=setting_up,
        role_labels=ORGANISER_ROLE_LABELS,
        event_titles=event_titles(),
        **(setup_values(account) if setting_up else {}),
        **values,
    )


def account_or_back() -> OrganiserAccount:
    account = my_account()
    if account is None:
        abort(current_app.make_response(redirect(url_for("web.accounts.account"), 303)))
    return account


@bp.get("/organiser/account")
@signed_in
def account() -> Any:
    return account_page()


@bp.post("/organiser/account/password")
@signed_in
def change_password() -> Any:
    account = account_or_back()
    current, password = request.form.get("current", ""), request.form.get("password", "")
    errors: dict[str, str] = {}
    if account.password_hash is not None and not organisers.verify_password(
        db.session, account.email, current
    ):
        errors["current"] = _("This is not your current password.")
    errors = errors or password_errors(password, request.form.get("confirm", ""))
    if not errors:
        try:
            organisers.set_password(db.session, account, password)
        except RuleError as rule:
            errors = {"password": explain(rule)}
    if errors:
        db.session.rollback()
        return account_page(422, errors=errors)
    db.session.commit()
    flash(_("Your password is changed."), "success")
    return redirect(url_for("web.accounts.account"), 303)


@bp.post("/organiser/account/second-factor")
@signed_in
def begin_second_factor() -> Any:
    account = account_or_back()
    if not organisers.totp_enabled(account):
        organisers.begin_totp(db.session, account)
        db.session.commit()
    return redirect(url_for("web.accounts.account", _anchor="second-factor"), 303)


@bp.post("/organiser/account/second-factor/confirm")
@signed_in
def confirm_second_factor() -> Any:
    account = account_or_back()
    try:
        organisers.confirm_totp(db.session, account, form_text("code"))
    except RuleError as rule:
        db.session.commit()
        return account_page(422, errors={"code": explain(rule)})
    db.session.commit()
    flash(_("Your second factor is on: signing in now asks for a code."), "success")
    return redirect(url_for("web.accounts.account"), 303)


@bp.post("/organiser/account/second-factor/remove")
@signed_in
def remove_second_factor() -> Any:
    account = account_or_back()
    if account.totp_required:
        message = _("An administrator requires a second factor for your account.")
        return account_page(409, errors={"remove_code": message})
    if organisers.totp_enabled(account) and not organisers.verify_totp(
        db.session, account, form_text("code")
    ):
        db.session.commit()
        return account_page(422, errors={"remove_code": str(RULE_MESSAGES["totp_wrong"])})
    organisers.remove_totp(db.session, account)
    db.session.commit()
    flash(_("Your second factor is removed."), "success")
    return redirect(url_for("web.accounts.account"), 303)


def token_name_error(name: str) -> str | None:
    if not name or len(name) > 120:
        return str(_("Please give the token a name (at most 120 characters)."))
    return None


@bp.post("/organiser/account/tokens")
@signed_in
def create_my_token() -> Any:
    account = account_or_back()
    name = form_text("name")
    if problem := token_name_error(name):
        return account_page(422, errors={"name": problem})
    _row, token = organisers.issue_token(db.session, account, name)
    db.session.commit()
    # Shown in this answer only: never put in a flash message (the session cookie is readable).
    return account_page(201, new_token=token, new_token_name=name)


@bp.post("/organiser/account/tokens/<int:token_id>/revoke")
@signed_in
def revoke_my_token(token_id: int) -> Any:
    account = account_or_back()
    try:
        organisers.revoke_token(db.session, account, token_id)
    except RuleError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_("The token is revoked: it no longer works anywhere."), "success")
    return redirect(url_for("web.accounts.account", _anchor="tokens"), 303)


# --- the admins' pages -------------------------------------------------------------------------


admin_only = pages.organiser_required("web.accounts.sign_in", Permission.ACCOUNTS)


def event_titles() -> dict[str, str]:
    """Each event's title in the page's language, by slug."""
    language = pages.current_language()
    events = db.session.scalars(select(Event).order_by(Event.starts_on, Event.id)).all()
    return {e.slug: str(e.title_translations.get(language, e.title)) for e in events}


def accounts_page(status: int = 200, **values: Any) -> Any:
    values.setdefault("errors", {})
    values.setdefault("form", {"language": pages.current_language()})
    return page(
        "accounts.html",
        status,
        rows=organisers.list_accounts(db.session),
        role_labels=ORGANISER_ROLE_LABELS,
        event_titles=event_titles(),
        languages=[(code, LANGUAGE_LABELS[code]) for code in LANGUAGES],
        **values,
    )


@bp.get("/organiser/accounts")
@admin_only
def accounts() -> Any:
    return accounts_page()


def invitation_errors(form: Mapping[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form["name"] or len(form["name"]) > 200:
        errors["name"] = str(RULE_MESSAGES["name_required"])
    try:
        check_email(form["email"])
    except ValidationError:
        errors["email"] = _("Please enter a valid email address.")
    if form["language"] not in LANGUAGES:
        errors["language"] = str(RULE_MESSAGES["unknown_language"])
    return errors


@bp.post("/organiser/accounts")
@admin_only
def invite() -> Any:
    """A new account, and its owner invited by email to choose a password."""
    form = {key: form_text(key) for key in ("email", "name", "language")}
    if errors := invitation_errors(form):
        return accounts_page(422, errors=errors, form=form)
    try:
        account = organisers.create_account(
            db.session, check_email(form["email"]), form["name"], form["language"]
        )
    except RuleError as rule:
        db.session.rollback()
        return accounts_page(422, errors={rule.field or "email": explain(rule)}, form=form)
    base_url = current_app.extensions["settings"].public_base_url
    organisers.email_link(db.session, account, organisers.INVITATION, base_url)
    db.session.commit()
    flash(_("The invitation is on its way to %(email)s.", email=account.email), "success")
    return redirect(url_for("web.accounts.manage_account", account_id=account.id), 303)


def managed_or_404(account_id: str) -> OrganiserAccount:
    account = db.session.get(OrganiserAccount, account_id)
    if account is None:
        abort(404)
    return account


def manage_page(account: OrganiserAccount, status: int = 200, **values: Any) -> Any:
    values.setdefault("errors", {})
    row = organisers.account_row(db.session, account)
    return page(
        "account_admin.html",
        status,
        account=account,
        row=row,
        granted={grant["event"]: grant["role"] for grant in row.roles},
        tokens=organisers.tokens_of(db.session, account.id),
        role_labels=ORGANISER_ROLE_LABELS,
        role_hints=ORGANISER_ROLE_HINTS,
        roles=ROLES,
        event_titles=event_titles(),
        ALL_EVENTS=ALL_EVENTS,
        **values,
    )


@bp.get("/organiser/accounts/<account_id>")
@admin_only
def manage_account(account_id: str) -> Any:
    return manage_page(managed_or_404(account_id))


def role_field(event: str) -> str:
    return "role-all" if event == ALL_EVENTS else f"role-{event}"


@bp.post("/organiser/accounts/<account_id>/roles")
@admin_only
def set_roles(account_id: str) -> Any:
    account = managed_or_404(account_id)
    events = [ALL_EVENTS, *event_titles()]
    chosen = {event: request.form.get(role_field(event), "") for event in events}
    grants = [{"event": event, "role": role} for event, role in chosen.items() if role]
    try:
        organisers.set_roles(db.session, account, grants)
    except RuleError as rule:
        db.session.rollback()
        return manage_page(account, 422, errors={"role-all": explain(rule)})
    db.session.commit()
    flash(_("The roles are saved."), "success")
    return redirect(url_for("web.accounts.manage_account", account_id=account.id), 303)


@bp.post("/organiser/accounts/<account_id>/second-factor")
@admin_only
def require_second_factor(account_id: str) -> Any:
    account = managed_or_404(account_id)
    try:
        organisers.require_totp(db.session, account, request.form.get("required") == "yes")
    except RuleError as rule:
        db.session.rollback()
        return manage_page(account, 409, errors={"required": explain(rule)})
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("web.accounts.manage_account", account_id=account.id), 303)


@bp.post("/organiser/accounts/<account_id>/invite-again")
@admin_only
def invite_again(account_id: str) -> Any:
    account = managed_or_404(account_id)
    if account.disabled_at is not None:
        return manage_page(account, 409, errors={"_form": str(RULE_MESSAGES["account_disabled"])})
    base_url = current_app.extensions["settings"].public_base_url
    organisers.email_link(db.session, account, organisers.INVITATION, base_url)
    db.session.commit()
    flash(_("The invitation is on its way to %(email)s.", email=account.email), "success")
    return redirect(url_for("web.accounts.manage_account", account_id=account.id), 303)


def end_sessions(account_id: str) -> None:
    sessions: OrganiserSessions = current_app.extensions["organiser_sessions"]
    sessions.end_all(account_id)


@bp.post("/organiser/accounts/<account_id>/disable")
@admin_only
def disable(account_id: str) -> Any:
    account = managed_or_404(account_id)
    if request.form.get("confirm") != "yes":
        message = _("Tick the box to confirm that this account must stop working.")
        return manage_page(account, 422, errors={"confirm": message})
    organisers.disable(db.session, account)
    db.session.commit()
    end_sessions(account.id)
    flash(_("The account is disabled: its tokens and sessions no longer work."), "success")
    return redirect(url_for("web.accounts.manage_account", account_id=account.id), 303)


@bp.post("/organiser/accounts/<account_id>/tokens/<int:token_id>/revoke")
@admin_only
def revoke_token(account_id: str, token_id: int) -> Any:
    account = managed_or_404(account_id)
    try:
        organisers.revoke_token(db.session, account, token_id)
    except RuleError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_("The token is revoked: it no longer works anywhere."), "success")
    return redirect(url_for("web.accounts.manage_account", account_id=account.id), 303)
