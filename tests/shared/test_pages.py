"""What every service's pages share, on each of the three services: the accessibility statement
linked from every footer, the icon, the error pages and the organiser sign-in."""

from __future__ import annotations

import dataclasses
import html
import importlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import render_template_string

from shared.config import Settings
from tests.helpers import migrated_database
from tests.organisers import add_account, sign_in

SERVICES = ("registration", "feedback", "notifier")
# The organiser sign-in page, and its token form (every service's organisers sign in there).
SIGN_IN, TOKEN_SIGN_IN = "/organiser/sign-in", "/organiser/sign-in/token"
# A page of each service that anyone may see, and a form of each (posted to test CSRF).
PUBLIC_PAGE = {"registration": "/organiser/sign-in", "feedback": "/", "notifier": "/accessibility"}
FORM = {
    "registration": "/organiser/sign-in/token",
    "feedback": "/organiser/sign-out",
    "notifier": "/sign-out",
}
MAIL_FROM = "Security, Democracy & Cities <accessibility@agora.test>"
FORBIDDEN = {"fr": "Accès refusé", "nl": "Geen toegang", "en": "Not allowed"}
STATEMENT = {
    "fr": ("Déclaration d’accessibilité", "Procédure de mise en œuvre", "2 décembre 2026"),
    "nl": ("Toegankelijkheidsverklaring", "Handhavingsprocedure", "2 december 2026"),
    "en": ("Accessibility statement", "Enforcement procedure", "2 December 2026"),
}


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_app(
    service: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Any]]:
    """The service's app on its migrated SQLite database (these pages do not depend on the
    backend), with settings and config changed as a test asks."""
    url = migrated_database("sqlite", service, tmp_path_factory.getbasetemp())
    create_app = importlib.import_module(f"services.{service}.app").create_app
    apps = []

    def make(config: dict[str, Any] | None = None, **changes: Any) -> Any:
        changed = dataclasses.replace(
            settings, mail_from=MAIL_FROM, **{f"{service}_database_url": url, **changes}
        )
        config = {"TESTING": True, "SETTINGS": changed, "WTF_CSRF_ENABLED": False, **(config or {})}
        apps.append(create_app(config))
        return apps[-1]

    yield make
    for app in apps:
        if "mailer" in app.extensions:
            app.extensions["mailer"].close()


@pytest.fixture
def client(make_app: Callable[..., Any]) -> Any:
    return make_app().test_client()


def title(page: str) -> str:
    """The page's title, without the " – Agora" a service's layout may add after it."""
    match = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    assert match, page
    return html.unescape(match.group(1).strip()).removesuffix(" – Agora")


def html_lang(page: str) -> str | None:
    match = re.search(r'<html lang="(\w+)">', page)
    return match.group(1) if match else None


def footer(page: str) -> str:
    return page[page.index('<footer class="bottom">') :]


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_the_accessibility_statement_is_on_every_service_in_each_language(client, language):
    heading, enforcement, prepared_on = STATEMENT[language]
    response = client.get(f"/accessibility?lang={language}")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert html_lang(page) == language
    assert title(page) == heading
    assert f"<h1>{heading}</h1>" in page.replace("\u00ad", "")  # a soft hyphen for phones
    assert f'<h2 id="enforcement">{enforcement}</h2>' in page
    assert "Médiateur bruxellois" in page and "Brusselse Ombudsman" in page
    assert prepared_on in page
    assert "EN 301 549" in page and "WCAG" in page
    # Problems are reported to the organiser, at the address the emails come from.
    assert '<a href="mailto:accessibility@agora.test">' in page


def test_the_ombudsman_s_name_is_marked_in_its_own_language(client):
    nl_page = client.get("/accessibility?lang=nl").get_data(as_text=True)
    fr_page = client.get("/accessibility?lang=fr").get_data(as_text=True)
    en_page = client.get("/accessibility?lang=en").get_data(as_text=True)
    assert '<span lang="fr">Médiateur bruxellois</span>' in nl_page
    assert "Brusselse Ombudsman" in nl_page and '<span lang="nl">' not in nl_page
    assert '<span lang="nl">Brusselse Ombudsman</span>' in fr_page
    assert '<span lang="fr">Médiateur bruxellois</span>' in en_page


def test_every_footer_links_to_the_accessibility_statement(service, client):
    page = client.get(f"{PUBLIC_PAGE[service]}?lang=nl").get_data(as_text=True)
    if service == "notifier":  # its only public page is the statement itself
        page = client.get("/no-such-page?lang=nl").get_data(as_text=True)
    assert '<a href="/accessibility">Toegankelijkheidsverklaring</a>' in footer(page)
    statement = client.get("/accessibility").get_data(as_text=True)
    assert '<a href="/accessibility" aria-current="page">' in footer(statement)


def test_the_icon_is_served_and_kept_in_caches(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.data.startswith(b"<svg")
    assert "max-age=604800" in response.headers["Cache-Control"]
    page = client.get("/accessibility").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in page


@pytest.mark.parametrize(
    ("language", "heading"),
    [("fr", "Page introuvable"), ("nl", "Pagina niet gevonden"), ("en", "Page not found")],
)
def test_an_unknown_address_is_a_page_in_the_visitor_s_language(client, language, heading):
    response = client.get(f"/no/such/page?lang={language}")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert html_lang(page) == language
    assert title(page) == heading
    assert "/accessibility" in footer(page)


def test_an_unknown_api_address_is_still_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_a_form_sent_without_its_token_says_it_has_expired(service, make_app):
    client = make_app({"WTF_CSRF_ENABLED": True}).test_client()
    response = client.post(f"{FORM[service]}?lang=fr", data={"token": "x"})
    assert response.status_code == 400
    assert title(response.get_data(as_text=True)) == "Ce formulaire a expiré"


@pytest.mark.parametrize("service", ["registration"])
def test_too_many_sign_in_attempts_get_a_translated_page(make_app):
    client = make_app(rate_limits_enabled=True).test_client()
    responses = [client.post(f"{TOKEN_SIGN_IN}?lang=nl", data={"token": "x"}) for _ in range(7)]
    refused = [response for response in responses if response.status_code == 429]
    assert refused, [response.status_code for response in responses]
    assert title(refused[0].get_data(as_text=True)) == "Te veel pogingen"
    assert refused[0].headers["Retry-After"]


@pytest.mark.parametrize(
    ("language", "error"), [("fr", "Erreur\u00a0: "), ("nl", "Fout: "), ("en", "Error: ")]
)
@pytest.mark.parametrize("service", ["registration"])
def test_a_refused_sign_in_puts_the_error_summary_first_and_in_the_title(client, language, error):
    page = client.get(f"{SIGN_IN}?lang={language}").get_data(as_text=True)
    heading = html.unescape(re.search(r"<h1>(.*?)</h1>", page).group(1))
    assert title(page) == heading
    assert '<div class="error-summary"' not in page

    response = client.post(TOKEN_SIGN_IN, data={"token": "not a token"})
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert html_lang(page) == language
    assert title(page) == error + heading
    main = page[page.index('<main id="main">') :]
    summary = re.search(r'<div class="error-summary"[^>]*>', main)
    assert summary and main.index(summary.group(0)) < main.index("<h1>")
    assert 'tabindex="-1"' in summary.group(0) and "autofocus" in summary.group(0)
    assert re.search(r'<li><a href="#token">[^<]+</a></li>', main)
    assert 'id="token"' in main and 'aria-invalid="true"' in main


def test_the_error_summary_lists_errors_in_the_form_s_order(make_app):
    template = (
        '{% from "agora/_forms.html" import error_summary %}'
        "{{ error_summary(errors, ['name', 'email', 'consent'], ids={'consent': 'consent-yes'}) }}"
    )
    errors = {"consent": "Tick the box", "extra": "Something else", "name": "Name?"}
    with make_app().test_request_context("/"):
        out = render_template_string(template, errors=errors)
        empty = render_template_string(template, errors={})
    links = re.findall(r'<a href="#([\w-]+)">([^<]+)</a>', out)
    assert links == [
        ("name", "Name?"),
        ("consent-yes", "Tick the box"),
        ("extra", "Something else"),
    ]
    assert "<div" not in empty


@pytest.mark.parametrize("service", ["registration", "feedback"])
def test_the_organisers_home_page_is_titled_for_its_events(make_app):
    app = make_app()
    client = app.test_client()
    sign_in(client, app)
    page = client.get("/organiser?lang=fr").get_data(as_text=True)
    heading = html.unescape(re.search(r"<h1>(.*?)</h1>", page).group(1))
    assert title(page) == f"{heading} – événements"
    assert "Se déconnecter" in page


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_a_page_outside_the_organiser_s_roles_is_a_translated_403(service, make_app, language):
    app = make_app()
    client = app.test_client()
    sign_in(client, app, add_account(app, [("other-event", "viewer")]))
    page = {"registration": "/organiser/events/x/registrations.csv"}
    response = client.get(f"{page.get(service, '/organiser/dead-letters')}?lang={language}")
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert html_lang(body) == language
    assert title(body) == FORBIDDEN[language]
    assert "/accessibility" in footer(body)
    assert body.count('action="/organiser/sign-out"') + body.count('action="/sign-out"') == 1


def test_forms_may_lead_to_the_three_services_and_nowhere_else(make_app):
    # Signing in on the registration service leads back to a feedback or notifier page, and
    # `form-action` holds for the redirects after a form too.
    app = make_app(
        public_base_url="https://register.example.org",
        feedback_public_url="https://feedback.example.org",
        notifier_public_url="https://mail.example.org:8443",
    )
    policy = app.test_client().get("/accessibility").headers["Content-Security-Policy"]
    form_action = next(p.strip() for p in policy.split(";") if "form-action" in p)
    assert form_action.split() == [
        "form-action",
        "'self'",
        "https://feedback.example.org",
        "https://mail.example.org:8443",
        "https://register.example.org",
    ]
