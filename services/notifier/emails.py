"""Which email each event sends, and how it reads: subject, text, HTML and calendar, per language.

Rendering needs a Flask app context (templates, catalogues); the language is forced for each
email, because without `force_locale` Flask-Babel silently uses the default locale.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import formatdate
from typing import Any
from zoneinfo import ZoneInfo

import idna
from flask import render_template
from flask_babel import force_locale, ngettext
from flask_babel import lazy_gettext as _l
from icalendar import Calendar
from icalendar import Event as CalendarEvent

from shared import formats
from shared.auth import EmailConfirmationTokens, ParticipantTokens
from shared.contracts import TaskNames

CONFIRMATION = "confirmation"
SEAT_CONFIRMED = "seat_confirmed"
WAITLISTED = "waitlisted"
PROMOTED = "promoted"
SEAT_RELEASED = "seat_released"
CANCELLED = "cancelled"
MANAGE_LINK = "manage_link"
FEEDBACK_INVITATION = "feedback_invitation"
# A seat event in a session that holds places until the address is confirmed sends one of
# these instead of its own email (`template_for`).
SEAT_HELD = "seat_held"
EMAIL_CONFIRMED = "email_confirmed"
HOLD_EXPIRED = "hold_expired"
HOLD_TEMPLATES = (SEAT_HELD, EMAIL_CONFIRMED, HOLD_EXPIRED)

# The one email each consumed event sends (erasure sends none).
TEMPLATE_FOR_EVENT: dict[str, str] = {
    TaskNames.REGISTERED: CONFIRMATION,
    TaskNames.SEAT_CONFIRMED: SEAT_CONFIRMED,
    TaskNames.SEAT_WAITLISTED: WAITLISTED,
    TaskNames.SEAT_PROMOTED: PROMOTED,
    TaskNames.SEAT_RELEASED: SEAT_RELEASED,
    TaskNames.CANCELLED: CANCELLED,
    TaskNames.LINK_REQUESTED: MANAGE_LINK,
    TaskNames.FEEDBACK_INVITATION: FEEDBACK_INVITATION,
}
TEMPLATES = (*TEMPLATE_FOR_EVENT.values(), *HOLD_TEMPLATES)
# Emails to organisers (TaskNames.ORGANISER_EMAIL): one template per kind of link.
ORGANISER_TEMPLATES: dict[str, str] = {
    "sign_in": "organiser_sign_in",
    "password_reset": "organiser_password_reset",
    "invitation": "organiser_invitation",
}

# Who an email is from when it is about no event in particular.
DEFAULT_SENDER = "Agora"

SUBJECTS = {
    CONFIRMATION: _l("Your registration for %(event)s"),
    SEAT_CONFIRMED: _l("Your place in “%(session)s” is confirmed"),
    WAITLISTED: _l("You are on the waiting list for “%(session)s”"),
    PROMOTED: _l("Good news: a place is yours in “%(session)s”"),
    SEAT_RELEASED: _l("You have left “%(session)s”"),
    CANCELLED: _l("Your registration for %(event)s is cancelled"),
    MANAGE_LINK: _l("Your personal link for %(event)s"),
    FEEDBACK_INVITATION: _l("How was “%(session)s”? Give us your opinion"),
    SEAT_HELD: _l("Confirm your email address to keep your place in “%(session)s”"),
    EMAIL_CONFIRMED: _l("Your place in “%(session)s” is confirmed"),
    HOLD_EXPIRED: _l("Your place in “%(session)s” has been released"),
    "organiser_sign_in": _l("Your link to sign in to Agora"),
    "organiser_password_reset": _l("Choose a new password for Agora"),
    "organiser_invitation": _l("Your organiser account on Agora"),
}


@dataclass(frozen=True)
class Person:
    registration_id: str
    email: str
    name: str
    language: str
    token_version: int


@dataclass(frozen=True)
class Links:
    """The participant links put in emails, signed like the registration service signs them."""

    public_base_url: str
    feedback_public_url: str
    tokens: ParticipantTokens
    confirmations: EmailConfirmationTokens

    def manage(self, person: Person) -> str:
        token = self.tokens.sign(person.registration_id, person.token_version)
        return f"{self.public_base_url.rstrip('/')}/manage/{token}"

    def confirm_email(self, person: Person) -> str:
        """The link that confirms the address: only ever in an email, never in the API."""
        token = self.confirmations.sign(person.registration_id, person.token_version)
        return f"{self.public_base_url.rstrip('/')}/confirm-email/{token}"

    def rate(self, person: Person) -> str:
        token = self.tokens.sign(person.registration_id, person.token_version)
        return f"{self.feedback_public_url.rstrip('/')}/rate/{token}"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: str


@dataclass(frozen=True)
class Email:
    template: str
    language: str
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = field(default=())
    # The From display name (MAIL_FROM keeps the address): the event's title as the reader says it.
    sender: str = DEFAULT_SENDER


# --- what the templates show ------------------------------------------------------------------


def translated(item: Mapping[str, Any], language: str) -> str:
    return formats.in_language(item["title"], item.get("title_translations"), language)


def room_of(session: Mapping[str, Any], language: str) -> str:
    return formats.in_language(
        session.get("room") or "", session.get("room_translations"), language
    )


def city_of(event: Mapping[str, Any], language: str) -> str:
    return formats.in_language(event["city"], event.get("city_translations"), language)


def session_view(
    session: Mapping[str, Any], event: Mapping[str, Any], language: str, position: int | None = None
) -> dict[str, Any]:
    """A session as an email shows it, in the reader's language: title, room, local day and time."""
    fmt = formats.For(language)
    starts = formats.local(session["starts_at"], event["timezone"])
    ends = formats.local(session["ends_at"], event["timezone"])
    return {
        "code": session["code"],
        "title": translated(session, language),
        "day": fmt.day(starts, "full"),
        "time": fmt.clock_range(starts, ends),
        "room": room_of(session, language),
        "position": position,
    }


def base_context(event: Mapping[str, Any], person: Person, links: Links) -> dict[str, Any]:
    fmt = formats.For(person.language)
    return {
        "name": person.name,
        "event_title": translated(event, person.language),
        "city": city_of(event, person.language),
        "dates": fmt.day_range(event["starts_on"], event["ends_on"]),
        "zone": fmt.zone_name(event["timezone"]),
        "manage_url": links.manage(person),
    }


def calendar(
    event: Mapping[str, Any],
    sessions: Iterable[Mapping[str, Any]],
    person: Person,
    links: Links,
    stamp: datetime,
) -> Attachment:
    """An .ics with one VEVENT per session, in the event's time zone, with stable UIDs."""
    zone = ZoneInfo(event["timezone"])
    sessions = list(sessions)
    cal = Calendar()
    cal.add("prodid", "-//Agora//Conference registration//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    for session in sessions:
        item = CalendarEvent()
        # Same person, same session, same UID: a later email updates the calendar entry.
        item.add("uid", f"{event['slug']}.{session['code']}.{person.registration_id}@agora")
        item.add("dtstamp", stamp)
        item.add("dtstart", session["starts_at"].astimezone(zone))
        item.add("dtend", session["ends_at"].astimezone(zone))
        item.add("summary", translated(session, person.language))
        place = (room_of(session, person.language), city_of(event, person.language))
        location = ", ".join(part for part in place if part)
        item.add("location", location)
        item.add("description", translated(event, person.language))
        item.add("url", links.manage(person))
        cal.add_component(item)
    # Only the years the sessions span: the full 1970-2038 table would weigh kilobytes.
    first = min(s["starts_at"] for s in sessions).date() - timedelta(days=366)
    last = max(s["ends_at"] for s in sessions).date() + timedelta(days=366)
    cal.add_missing_timezones(date(first.year, 1, 1), date(last.year + 1, 1, 1))
    return Attachment(
        filename=f"{event['slug']}.ics",
        content_type="text/calendar; method=PUBLISH",
        content=cal.to_ical().decode(),
    )


def template_for(name: str, message: Mapping[str, Any]) -> str:
    """The email an event sends: its own, or for a seat held until the address is confirmed
    (or confirmed, or released for want of it) the version that says so."""
    template = TEMPLATE_FOR_EVENT[name]
    seat = message.get("seat")
    if template not in (SEAT_CONFIRMED, PROMOTED, SEAT_RELEASED) or not seat:
        return template
    if seat.get("reason") == "hold_expired":
        return HOLD_EXPIRED
    if seat.get("reason") == "email_confirmed":
        return EMAIL_CONFIRMED
    return SEAT_HELD if seat["status"] == "held" and template != SEAT_RELEASED else template


def held_until(seat: Mapping[str, Any], event: Mapping[str, Any], language: str) -> str:
    """A held seat's deadline in the event's time zone, as the reader writes it."""
    fmt, zone = formats.For(language), event["timezone"]
    return f"{fmt.moment(seat['hold_expires_at'], zone)} ({fmt.zone_name(zone)})"


# --- one builder per template -----------------------------------------------------------------


def _confirmation(message: dict[str, Any], person: Person, links: Links) -> dict[str, Any]:
    event, language = message["event"], person.language
    seats = message["seats"]
    confirmed = [s["session"] for s in seats if s["status"] == "confirmed"]
    held = [
        {**session_view(s["session"], event, language), "until": held_until(s, event, language)}
        for s in seats
        if s["status"] == "held"
    ]
    return {
        "confirmed": [session_view(s, event, language) for s in confirmed],
        "held": held,
        # Only with a held seat: confirming the address is what keeps it.
        "confirm_url": links.confirm_email(person) if held else None,
        "waitlisted": [
            session_view(s["session"], event, language, s["waitlist_position"])
            for s in seats
            if s["status"] == "waitlisted"
        ],
        "_calendar": confirmed,
    }


def _seat(message: dict[str, Any], person: Person, links: Links) -> dict[str, Any]:
    seat, event = message["seat"], message["event"]
    view = session_view(seat["session"], event, person.language, seat["waitlist_position"])
    with_calendar = seat["status"] == "confirmed" and message["_template"] != SEAT_RELEASED
    return {"session": view, "_calendar": [seat["session"]] if with_calendar else []}


def _seat_held(message: dict[str, Any], person: Person, links: Links) -> dict[str, Any]:
    seat, event = message["seat"], message["event"]
    return {
        "session": session_view(seat["session"], event, person.language),
        "until": held_until(seat, event, person.language),
        "confirm_url": links.confirm_email(person),
    }


def _cancelled(message: dict[str, Any], person: Person, links: Links) -> dict[str, Any]:
    known: Mapping[str, Mapping[str, Any]] = message.get("_known_sessions", {})
    released = [
        session_view(known[code], message["event"], person.language)
        if code in known
        else {"code": code, "title": code, "day": "", "time": "", "room": "", "position": None}
        for code in message["released"]
    ]
    return {"released": released}


def _manage_link(message: dict[str, Any], person: Person, links: Links) -> dict[str, Any]:
    return {}


def _feedback(message: dict[str, Any], person: Person, links: Links) -> dict[str, Any]:
    session = session_view(message["session"], message["event"], person.language)
    # The last day on which feedback is open: a window closing at midnight ends the day before.
    closes = message["event"]["feedback_closes_at"] - timedelta(seconds=1)
    last_day = formats.local(closes, message["event"]["timezone"])
    return {
        "session": session,
        "rate_url": links.rate(person),
        "closes_on": formats.day(last_day, person.language),
    }


_BUILDERS = {
    CONFIRMATION: _confirmation,
    SEAT_CONFIRMED: _seat,
    WAITLISTED: _seat,
    PROMOTED: _seat,
    SEAT_RELEASED: _seat,
    CANCELLED: _cancelled,
    MANAGE_LINK: _manage_link,
    FEEDBACK_INVITATION: _feedback,
    SEAT_HELD: _seat_held,
    EMAIL_CONFIRMED: _seat,
    HOLD_EXPIRED: _seat,
}


def compose(
    template: str,
    message: dict[str, Any],
    person: Person,
    links: Links,
    known_sessions: Mapping[str, Mapping[str, Any]] | None = None,
) -> Email:
    """The email `template` for a received event, rendered in the person's language."""
    event = message["event"]
    data = {**message, "_template": template, "_known_sessions": known_sessions or {}}
    values = _BUILDERS[template](data, person, links)
    sessions = values.pop("_calendar", [])
    context = {**base_context(event, person, links), **values}
    subject_values = {
        "event": context["event_title"],
        "session": context.get("session", {}).get("title", ""),
    }
    text, html, subject = render(template, person.language, context, subject_values)
    stamp = message["occurred_at"]
    attachments = (calendar(event, sessions, person, links, stamp),) if sessions else ()
    return Email(
        template, person.language, subject, text, html, attachments, sender=context["event_title"]
    )


def compose_organiser_email(message: Mapping[str, Any]) -> Email:
    """The email with an organiser's one-time link (ORGANISER_EMAIL), in their language."""
    template, language = ORGANISER_TEMPLATES[message["kind"]], message["language"]
    minutes = max(1, round((message["expires_at"] - message["occurred_at"]).total_seconds() / 60))
    with force_locale(language):
        if minutes < 24 * 60:
            validity = ngettext(
                "The link works once, for %(num)d minute.",
                "The link works once, for %(num)d minutes.",
                minutes,
            )
        else:
            days = round(minutes / (24 * 60))
            validity = ngettext(
                "The link works once, for %(num)d day.",
                "The link works once, for %(num)d days.",
                days,
            )
    context = {"name": message["name"], "url": message["url"], "validity": validity}
    text, html, subject = render(template, language, context, {})
    return Email(template, language, subject, text, html)


def render(
    template: str, language: str, context: dict[str, Any], subject_values: dict[str, str]
) -> tuple[str, str, str]:
    """Text body, HTML body and subject of one email, in `language` whatever the default."""
    with force_locale(language):
        subject = one_line(str(SUBJECTS[template]) % subject_values)
        text = render_template(f"notifier/email/{template}.txt", subject=subject, **context)
        html = render_template(
            f"notifier/email/{template}.html", subject=subject, language=language, **context
        )
    return tidy(text), html, subject


def one_line(text: str) -> str:
    """A header's text: runs of white space (line breaks included: titles come from organisers'
    input) become one space; the non-breaking spaces of French typography stay."""
    return re.sub(r"[^\S\u00a0\u202f]+", " ", text).strip()


def tidy(text: str) -> str:
    """Plain text as templates leave it, without trailing spaces or runs of blank lines."""
    lines = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return re.sub(r"\n{3,}", "\n\n", lines) + "\n"


# --- the message as it goes over SMTP -------------------------------------------------------------


def parse_mail_from(value: str) -> Address:
    """MAIL_FROM as people write it: `Name <address>`, even with an unquoted comma in the name
    (the default has one), or a bare address."""
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>\s]+)>\s*", value)
    if match is None:
        return Address(addr_spec=value.strip())
    name = match.group(1).strip().strip('"').strip()
    return Address(display_name=name, addr_spec=match.group(2))


def sender_address(name: str, mail_from: str) -> Address:
    """MAIL_FROM's address under the email's own display name (non-ASCII is RFC 2047 encoded)."""
    return Address(display_name=one_line(name), addr_spec=parse_mail_from(mail_from).addr_spec)


class UnusableAddress(ValueError):
    """An address no mail server can be given (a domain with no IDNA form): never retried."""


def wire_address(address: str) -> str:
    """An address as SMTP carries it: a non-ASCII domain in its IDNA form (`xn--`); a non-ASCII
    local part stays as it is, and needs a server that offers SMTPUTF8."""
    local, _, domain = address.strip().rpartition("@")
    if not local or not domain:
        raise UnusableAddress("the address has no local part or no domain")
    if domain.isascii():
        return f"{local}@{domain}"
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError as error:
        raise UnusableAddress(f"the domain has no IDNA form: {error}") from None


def needs_smtputf8(address: str) -> bool:
    """Whether sending to this address (its wire form) needs the server's SMTPUTF8."""
    return not address.isascii()


def message_id(key: str, mail_from: str) -> str:
    """The same idempotency key always gives the same Message-ID (receivers can deduplicate)."""
    domain = parse_mail_from(mail_from).addr_spec.rpartition("@")[2] or "agora.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def to_mime(email: Email, key: str, to: str, mail_from: str) -> bytes:
    """The email as sent: text and HTML alternatives, then any attachment; CRLF line ends.

    Built once, when the email is composed: building MIME costs more than sending it. A
    non-ASCII local part is written as UTF-8 (RFC 6532), never RFC 2047-encoded, which would
    garble the address; raises UnusableAddress for an address no server can be given.
    """
    local, _, domain = wire_address(to).rpartition("@")
    message = EmailMessage()
    message["Subject"] = email.subject
    message["From"] = sender_address(email.sender, mail_from)
    message["To"] = Address(username=local, domain=domain)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(key, mail_from)
    # An automatic message: out-of-office robots must not answer it (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    for attachment in email.attachments:
        maintype, _, rest = attachment.content_type.partition("/")
        subtype, *params = [part.strip() for part in rest.split(";")]
        message.add_attachment(
            attachment.content.encode(),
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=dict(param.split("=", 1) for param in params if "=" in param),
        )
    # Set last: building the body moves the Content-* headers set before it into the first part.
    message["Content-Language"] = email.language
    return message.as_bytes(policy=SMTPUTF8 if needs_smtputf8(local) else SMTP)
