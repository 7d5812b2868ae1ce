"""Form widgets in a real browser: the municipality picker is a keyboard-usable combobox."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.roles import Role
from cases.models import WorkItem
from cases.services import case_start
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import declaration_payload, make_tenant, make_user

pytestmark = pytest.mark.django_db(transaction=True)

DECLARATION = declaration_payload(declaration_date="2026-11-20")


def test_the_municipality_of_origin_is_picked_with_the_keyboard(browser, live_server):
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Lucca", istat="046017", belfiore="E715")
    registrar = make_user(tenant, Role.REGISTRAR, username="rita.e2e")
    case = case_start(tenant=tenant, user=registrar, process_id="residence_change", data=DECLARATION)
    item = WorkItem.objects.get(case=case, bpmn_id="registration")

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="it-IT")
    page.goto(f"{live_server.url}/accedi/")
    page.fill("#id_username", registrar.username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/compiti/{item.pk}/")
    page.click('label:has-text("Da altro comune")')
    field = page.locator("#f-previous_municipality")
    field.click()
    field.type("Capan", delay=30)
    page.wait_for_selector("#f-previous_municipality-list [role=option]")
    assert field.get_attribute("aria-expanded") == "true"
    check_accessibility(page, "municipality picker open")
    screenshot(page, "municipality-picker")
    field.press("ArrowDown")
    field.press("ArrowDown")
    assert field.get_attribute("aria-activedescendant") == "f-previous_municipality-list-opt-2"
    field.press("Enter")
    assert field.input_value() == "Capannori (LU) · 046007"
    assert field.get_attribute("aria-expanded") == "false"
    page.click('label:has-text("verificati")')
    page.click("button[value=complete]")
    assert "completato" in page.locator(".alert-success").inner_text()
    page.goto(f"{live_server.url}/pratiche/{case.pk}/")
    assert "Comune di provenienza: Capannori (LU) (046007)" in page.inner_text("section[aria-labelledby=h-data]")
    page.close()
