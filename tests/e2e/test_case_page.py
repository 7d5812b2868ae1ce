"""The case page in a real browser: the BPMN diagram drawn by bpmn-js with the steps done and
the current one marked, on a desktop and on a phone, accessible."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.roles import Role
from cases.models import WorkItem
from cases.services import case_start, work_item_complete
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import declaration_payload, make_tenant, make_user

pytestmark = pytest.mark.django_db(transaction=True)

DECLARATION = declaration_payload()


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 812}],
                         ids=["desktop", "phone"])
def test_the_case_page_draws_the_procedure_with_its_progress(browser, live_server, viewport):
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    registrar = make_user(tenant, Role.REGISTRAR)
    case = case_start(tenant=tenant, user=registrar, process_id="residence_change", data=DECLARATION)
    item = WorkItem.objects.get(case=case, bpmn_id="registration")
    work_item_complete(work_item_id=item.pk, tenant=tenant, user=registrar,
                       data={"origin": "same_municipality", "documents_checked": True})

    context = browser.new_context(viewport=viewport, locale="it-IT", has_touch=viewport["width"] < 500)
    page = context.new_page()
    page.goto(f"{live_server.url}/accedi/")
    page.fill("#id_username", registrar.username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/pratiche/{case.pk}/")
    page.wait_for_selector("#case-diagram .djs-container svg")
    page.wait_for_selector("#case-diagram .procedo-current")
    assert page.locator('#case-diagram [data-element-id="registration"].procedo-done').count() == 1
    # The check is done; the declaration's protocol registration (outbox) is what the case waits on.
    assert page.locator('#case-diagram [data-element-id="protocol_in"].procedo-current').count() == 1
    assert page.locator("#case-diagram .procedo-done-badge").count() >= 2  # start event and registration
    assert "Registrazione della dichiarazione" in page.inner_text("#diagram-text")
    if viewport["width"] < 500:
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    check_accessibility(page, f"case page ({viewport['width']} px)")
    screenshot(page, f"case-page-{'phone' if viewport['width'] < 500 else 'desktop'}")
    context.close()
