"""The support pages in a real browser on a desktop and on a 375 px phone, with axe-core on each
state: the service-level terms (/assistenza/livelli/, also with a wrong value explained), the SLA
report, "Segnala un problema", and the reporter's own tickets (/assistenza/segnalazioni/): the
reporter answers the support team's question, reopens a resolution (a missing reason explained)
and confirms, clicking the page's buttons."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from cases import services as case_services
from cases.models import Case, WorkItem
from engine import services as engine
from tests.e2e.conftest import check_page, login
from tests.factories import make_tenant, make_user, sync_processes

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
VIEWPORTS = [{"width": 1280, "height": 900}, {"width": 375, "height": 800}]


@pytest.fixture
def office():
    sync_processes()
    tenant = make_tenant("Comune di Lucca", istat="046017")
    return {"tenant": tenant, "supervisor": make_user(tenant, Role.SUPERVISOR),
            "support": make_user(tenant, Role.SUPPORT)}


def _support_handles(office, case, data):
    item = WorkItem.objects.get(case=case, bpmn_id="handle", status="open")
    case_services.work_item_claim(work_item_id=item.pk, tenant=office["tenant"], user=office["support"])
    case_services.work_item_complete(work_item_id=item.pk, tenant=office["tenant"], user=office["support"], data=data)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desktop", "phone"])
def test_support_pages_are_accessible_and_the_reporter_answers_from_the_page(browser, live_server, office, viewport):
    label = "phone" if viewport["width"] < 500 else "desktop"
    base = live_server.url
    errors: list[str] = []
    page = browser.new_page(viewport=viewport)
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None)
    login(page, base, office["supervisor"].username)

    # The service-level terms, and a wrong value explained in place.
    page.goto(f"{base}/assistenza/livelli/")
    assert page.locator("h1", has_text="Livelli di servizio dell'assistenza").count() == 1
    check_page(page, "support-terms", viewport, label)
    page.fill("#end", "05:00")
    page.click("button:has-text('Salva i livelli di servizio')")
    assert page.locator("#terms-error").count() == 1
    check_page(page, "support-terms-error", viewport, label)

    page.goto(f"{base}/assistenza/sla/")
    check_page(page, "support-sla-report", viewport, label)

    # Reporting a problem from the footer's page, then the reporter's list.
    page.goto(f"{base}/assistenza/segnala/?da=/pratiche/")
    check_page(page, "support-report-problem", viewport, label)
    page.click("label[for=level-3]")  # Bootstrap Italia draws the radio on the label
    page.fill("#summary", "Il salvataggio non risponde")
    page.fill("#description", "Premo Salva e non succede nulla")
    page.click("button:has-text('Invia la segnalazione')")
    page.wait_for_url(f"{base}/pratiche/")
    for _round in range(10):  # the ticket reads the tenant's SLA terms (a service call) first
        if not engine.outbox_deliver_due():
            break
    case = Case.objects.get(tenant=office["tenant"], process_id="malfunction_ticket")
    page.goto(f"{base}/assistenza/segnalazioni/")
    assert page.locator("td", has_text="In lavorazione").count() == 1
    check_page(page, "support-my-tickets", viewport, label)

    # The support team asks for information: the reporter answers from the ticket's page.
    _support_handles(office, case, {"action": "request_info", "info_request": "Quale modulo e con quale browser?"})
    page.reload()
    page.click(f"a:has-text('{case.number}')")
    assert page.locator("#info-request", has_text="Quale modulo e con quale browser?").count() == 1
    check_page(page, "support-ticket-info", viewport, label)
    page.fill("#note-info", "Il modulo di residenza, con Chromium")
    page.click("button:has-text('Invia le informazioni')")
    assert page.locator("text=Informazioni inviate al gruppo di assistenza.").count() == 1
    assert page.locator("#ticket-state", has_text="In lavorazione").count() == 1
    case.refresh_from_db()
    assert case.data["reporter_info"] == {"answer": "Il modulo di residenza, con Chromium"}

    # Resolved: reopening without a reason is explained; with it, the ticket goes back to support.
    _support_handles(office, case, {"action": "resolve", "resolution": "Corretto il salvataggio delle bozze"})
    page.reload()
    assert page.locator("#resolution", has_text="Corretto il salvataggio delle bozze").count() == 1
    check_page(page, "support-ticket-resolved", viewport, label)
    page.click("button:has-text('Riapri la segnalazione')")
    assert page.locator("#note-feedback-error", has_text="Spiega perché il problema non è risolto.").count() == 1
    check_page(page, "support-ticket-reopen-error", viewport, label)
    page.fill("#note-feedback", "Si ripresenta con i file allegati")
    page.click("button:has-text('Riapri la segnalazione')")
    assert page.locator("text=Segnalazione riaperta").count() == 1
    case.refresh_from_db()
    assert case.data["reopen_count"] == 1

    _support_handles(office, case, {"action": "resolve", "resolution": "Corretto anche il caricamento"})
    page.reload()
    page.click("button:has-text('Conferma la risoluzione')")
    assert page.locator("#ticket-state", has_text="Chiusa").count() == 1
    check_page(page, "support-ticket-closed", viewport, label)
    case.refresh_from_db()
    assert case.status == "closed"
    assert not errors, errors
    page.close()
