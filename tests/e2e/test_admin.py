"""Tenant administration and the supervisor's inbox tools in a real browser: users,
roles, one-time password, incidents with Riprova (htmx), bulk assign, saved filters;
on a desktop and on a 375 px phone; axe-core on every page state."""

from __future__ import annotations

import re

import pytest

from accounts.models import Membership, User
from accounts.roles import Role
from cases.models import SavedFilter, WorkItem
from engine.models import Incident
from tests.e2e.conftest import check_accessibility, screenshot
from tests.engine_models import publish_bundle
from tests.factories import CaseFactory, declaration_payload, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CODES = ["RSSMRA80A01H501U", "PRVGNN90R10H501Q"]
VIEWPORTS = [{"width": 1280, "height": 900}, {"width": 375, "height": 800}]


@pytest.fixture
def office(make_office):
    publish_bundle("broken_script")
    office = make_office(
        people={"registrar": Role.REGISTRAR, "supervisor": Role.SUPERVISOR, "colleague": Role.REGISTRAR},
        usernames={"registrar": "anna.e2e", "supervisor": "sara.e2e", "colleague": "carlo.e2e"},
        cases=[declaration_payload(declarants__0__fiscal_code=cf) for cf in CODES])
    office["broken"] = CaseFactory(tenant=office["tenant"], user=office["registrar"], process_id="broken_script",
                                   data={})
    return office


def _login(page, base, username):
    page.goto(f"{base}/accedi/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _fits(page, viewport):
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= viewport["width"], f"page is {wide}px wide"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desktop", "phone"])
def test_supervisor_manages_users_and_retries_an_incident(browser, live_server, office, viewport):
    label = "phone" if viewport["width"] < 500 else "desktop"
    base = live_server.url
    page = browser.new_page(viewport=viewport)
    _login(page, base, office["supervisor"].username)
    page.locator("a:visible", has_text="Amministrazione").click()
    page.wait_for_url(f"{base}/amministrazione/utenti/")
    assert page.locator("tbody tr", has_text=office["colleague"].username).count() == 1
    check_accessibility(page, "admin users")
    screenshot(page, f"admin-users-{label}")
    _fits(page, viewport)

    # a new user: a wrong fiscal code is explained next to the field, nothing typed is lost
    page.click("text=Nuovo utente")
    username = f"mario.{label}"
    page.fill("#id_username", username)
    page.fill("#id_first_name", "Mario")
    page.fill("#id_last_name", "Rossi")
    page.fill("#id_fiscal_code", "RSSMRA80A01H501X")
    page.click("label[for=role-registrar]")
    page.click("button:has-text('Crea utente')")
    assert "controlla il carattere di controllo" in page.locator("#id_fiscal_code_err").inner_text()
    assert page.input_value("#id_username") == username and page.is_checked("#role-registrar")
    check_accessibility(page, "new user with errors")
    screenshot(page, f"admin-user-errors-{label}")
    page.fill("#id_fiscal_code", "RSSMRA80A01H501U")
    page.click("button:has-text('Crea utente')")
    password = page.locator("#one-time-password").inner_text()
    assert re.fullmatch(r"[\w]{4}-[\w]{4}-[\w]{4}-[\w]{4}", password)
    assert User.objects.get(username=username).check_password(password)
    check_accessibility(page, "user page with one-time password")
    screenshot(page, f"admin-user-{label}")
    _fits(page, viewport)

    # roles: add police, keep registrar
    page.click("label[for=role-police]")
    page.click("button:has-text('Salva i ruoli')")
    assert page.locator(".alert-success").inner_text().startswith("Ruoli di")
    assert set(Membership.objects.filter(user__username=username).values_list("role", flat=True)) == {"registrar", "police"}
    page.reload()
    assert page.locator("#one-time-password").count() == 0  # shown once

    # incidents: plain words, technical detail folded, Riprova swaps the card in place
    page.locator("a:visible", has_text="Amministrazione").click()
    page.locator("a.nav-link", has_text="Incidenti").click()
    card = page.locator("article.incident").first
    assert "non ha trovato un dato che si aspettava" in card.locator(".incident-text").inner_text()
    assert not card.locator("pre").is_visible()
    card.locator("summary", has_text="Dettaglio tecnico").click()
    assert "NameError" in card.locator("pre").inner_text()
    check_accessibility(page, "incidents")
    screenshot(page, f"admin-incidents-{label}")
    _fits(page, viewport)
    first = Incident.objects.get(instance=office["broken"].instance, status="open")
    card.locator("button", has_text="Riprova").click()
    status = page.locator(f"#incident-{first.pk}[role=status]")
    status.wait_for()
    assert "non è riuscito nemmeno questa volta" in status.inner_text()
    assert page.url == f"{base}/amministrazione/incidenti/"  # htmx: no reload
    check_accessibility(page, "incident retried")
    page.close()

    # the new user signs in with the one-time password and must choose their own first
    newcomer = browser.new_page(viewport=viewport)
    newcomer.goto(f"{base}/accedi/")
    newcomer.fill("#id_username", username)
    newcomer.fill("#id_password", password)
    newcomer.click("button[type=submit]")
    newcomer.wait_for_url(f"{base}/password/")
    assert "password provvisoria" in newcomer.locator(".alert-info").inner_text()
    check_accessibility(newcomer, "forced password change")
    _fits(newcomer, viewport)
    newcomer.fill("#id_old_password", password)
    newcomer.fill("#id_new_password1", "una-frase-lunga-2026")
    newcomer.fill("#id_new_password2", "una-frase-lunga-2026")
    newcomer.click("button:has-text('Salva la nuova password')")
    newcomer.wait_for_url(f"{base}/")
    assert newcomer.locator(".alert-success", has_text="Password cambiata.").count() == 1
    newcomer.close()


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desktop", "phone"])
def test_supervisor_assigns_in_bulk_and_saves_a_shared_filter(browser, live_server, office, viewport):
    label = "phone" if viewport["width"] < 500 else "desktop"
    base = live_server.url
    items = [WorkItem.objects.get(case=c, bpmn_id="registration") for c in office["cases"]]
    page = browser.new_page(viewport=viewport)
    _login(page, base, office["supervisor"].username)
    page.goto(f"{base}/?tab=all")
    prefix = "pick-m" if label == "phone" else "pick-d"
    for item in items:
        page.click(f"label[for={prefix}-{item.pk}]")
    page.locator("#bulk-count", has_text="2 compiti selezionati").wait_for()  # htmx refreshed the list
    check_accessibility(page, "inbox with selection")
    screenshot(page, f"inbox-bulk-{label}")
    _fits(page, viewport)
    page.select_option("#bulk-user", str(office["colleague"].pk))
    page.click("button:has-text('Assegna i selezionati')")
    assert "2 compiti assegnati a" in page.locator(".alert-success").inner_text()
    assert set(WorkItem.objects.filter(pk__in=[i.pk for i in items]).values_list("assignee__username", flat=True)) == {
        office["colleague"].username}

    # a filter on the subject, saved and shared
    page.fill("#filter-subject", CODES[0])
    page.click("#inbox-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*subject=" + CODES[0]))
    page.wait_for_load_state("networkidle")  # "change" and "submit" both refresh the list
    page.click("summary:has-text('Salva questo filtro')")
    page.fill("#save-filter-name", f"Rossi {label}")
    page.click("label[for=save-filter-shared]")
    page.click(".save-filter button[type=submit]")
    assert f"Filtro «Rossi {label}» salvato." in page.locator(".alert-success").inner_text()
    saved = SavedFilter.objects.get(name=f"Rossi {label}")
    assert saved.shared and f"subject={CODES[0]}" in saved.query
    check_accessibility(page, "inbox with saved filter")
    screenshot(page, f"inbox-saved-filter-{label}")
    page.close()

    # shared with the team: another supervisor gets it as a quick link
    other_supervisor = make_user(office["tenant"], Role.SUPERVISOR, username=f"ugo.{label}")
    colleague = browser.new_page(viewport=viewport)
    _login(colleague, base, other_supervisor.username)
    colleague.locator(".saved-filters a", has_text=f"Rossi {label}").click()
    colleague.wait_for_url(re.compile(r".*subject=" + CODES[0]))
    assert colleague.locator("a:visible", has_text=office["cases"][0].number).count() == 1
    assert colleague.locator("a:visible", has_text=office["cases"][1].number).count() == 0
    colleague.goto(f"{base}/filtri/")
    check_accessibility(colleague, "saved filters page")
    _fits(colleague, viewport)
    colleague.close()
