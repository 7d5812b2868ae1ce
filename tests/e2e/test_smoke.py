"""The operator pages in a real browser: login, inbox, task form with a validation
error and a draft, case page; on a desktop and on a 375 px phone; axe-core on each."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import declaration_payload, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def office(make_office):
    return make_office(people={"registrar": Role.REGISTRAR}, usernames={"registrar": "anna.e2e"},
                       cases=[declaration_payload()])


def _login(page, base, username):
    page.goto(f"{base}/accedi/")
    check_accessibility(page, "login")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 800}], ids=["desktop", "phone"])
def test_registrar_works_a_task_in_the_browser(browser, live_server, office, viewport):
    page = browser.new_page(viewport=viewport)
    label = "phone" if viewport["width"] < 500 else "desktop"
    _login(page, live_server.url, office["registrar"].username)
    page.goto(f"{live_server.url}/?tab=available")
    task_link = page.locator("a:visible", has_text="Registrazione della dichiarazione")
    assert task_link.count() == 1
    check_accessibility(page, "inbox")
    screenshot(page, f"inbox-{label}")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 380).slice(0,6).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], wide

    task_link.click()
    page.fill("textarea[name=notes]", "Verificato allo sportello")
    page.click("button[value=complete]")  # origin missing: an error, nothing lost
    assert page.locator("#form-summary").count() == 1
    assert page.input_value("textarea[name=notes]") == "Verificato allo sportello"
    check_accessibility(page, "task with errors")
    screenshot(page, f"task-errors-{label}")

    page.click("label:has-text(\"Nello stesso comune\")")
    page.click("button[value=draft]")
    assert page.locator("text=Bozza salvata.").count() == 1
    page.reload()
    assert page.is_checked("input[name=origin][value=same_municipality]")
    page.click("button[value=complete]")
    assert page.locator(".alert-success").inner_text().startswith("Compito «Registrazione della dichiarazione» completato")
    check_accessibility(page, "case page")
    screenshot(page, f"case-{label}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.close()


def test_supervisor_team_page_is_accessible(browser, live_server, office):
    supervisor = make_user(office["tenant"], Role.SUPERVISOR, username="sara.e2e")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(page, live_server.url, supervisor.username)
    page.goto(f"{live_server.url}/squadra/")
    assert page.locator("h1", has_text="Squadra").count() == 1
    check_accessibility(page, "team")
    screenshot(page, "team-desktop")
    page.close()


def test_the_404_and_403_pages_are_accessible_and_lead_back(browser, live_server, office):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(page, live_server.url, office["registrar"].username)
    response = page.goto(f"{live_server.url}/pratiche/999999/")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Pagina non trovata"
    check_accessibility(page, "404")
    response = page.goto(f"{live_server.url}/squadra/")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "Accesso non consentito"
    check_accessibility(page, "403")
    page.click("main a:has-text('I tuoi compiti')")
    page.wait_for_url(f"{live_server.url}/")
