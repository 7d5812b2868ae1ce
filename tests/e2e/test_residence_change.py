"""The whole change of residence through the browser only, by three people: the registrar
records the declaration (a validation error corrected, a draft saved and restored), the
supervisor assigns the dwelling check, the police officer does it on a phone, and the case
closes as accepted. ANPR is reached through the outbox against the simulators over HTTP.
axe-core runs on every page; screenshots go to tests/artifacts/."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from accounts.roles import Role
from cases.models import Case, CaseStatus
from connectors.anpr.simulator import AnprSimulator, KeySource
from connectors.base.simulator import SimulatorServer
from connectors.pdnd import voucher as voucher_module
from connectors.pdnd.keys import demo_keys_dir
from connectors.pdnd.simulator import PdndSimulator
from engine.services import outbox_deliver_due
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def anpr(monkeypatch):
    pdnd = PdndSimulator(keys_dir=demo_keys_dir())
    app = AnprSimulator(keys=KeySource(pdnd=pdnd))
    voucher_module.forget_vouchers()
    from connectors.appio.simulator import AppIoSimulator
    from connectors.protocollo.simulator import ProtocolSimulator
    from connectors.send.simulator import SendSimulator

    # The declaration is protocolled and every notice is protocolled and delivered (App IO or SEND).
    with SimulatorServer(pdnd) as pdnd_server, SimulatorServer(app) as anpr_server, \
            SimulatorServer(ProtocolSimulator()) as protocol_server, \
            SimulatorServer(AppIoSimulator(everyone_on_io=True)) as appio_server, \
            SimulatorServer(SendSimulator()) as send_server:
        monkeypatch.setattr(django_settings, "PROCEDO_PROTOCOLLO_BASE_URL", protocol_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_APPIO_BASE_URL", appio_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_SEND_BASE_URL", send_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_BASE_URL", anpr_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_PDND_BASE_URL", pdnd_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", pdnd_server.url + "/token.oauth2")
        yield app


def _login(browser, base, user, viewport, *, touch=False):
    context = browser.new_context(viewport=viewport, locale="it-IT", has_touch=touch, is_mobile=touch)
    page = context.new_page()
    page.goto(f"{base}/accedi/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return context, page


def _settle():
    for _ in range(10):
        if not outbox_deliver_due():
            return


def _no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_residence_change_by_three_people_through_the_browser(browser, live_server, anpr):
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    registrar = make_user(tenant, Role.REGISTRAR, username="anna.anagrafe")
    supervisor = make_user(tenant, Role.SUPERVISOR, username="sara.responsabile")
    officer = make_user(tenant, Role.POLICE, username="paolo.vigile")
    base = live_server.url

    # 1. The registrar opens the case from the declaration received at the counter, then records it.
    context, page = _login(browser, base, registrar, DESKTOP)
    page.goto(f"{base}/pratiche/")
    page.click('a:has-text("Nuova pratica")')
    page.click('a:has-text("Cambio di residenza")')
    check_accessibility(page, "new case form")
    page.fill("#f-declarants-0-fiscal_code", "PRVGNN90R10H501Q")
    page.fill("#f-declarants-0-given_name", "Giovanni")
    page.fill("#f-declarants-0-family_name", "Prova")
    page.fill("#f-new_address-street", "Via Roma")
    page.fill("#f-new_address-house_number", "12")
    page.fill("#f-new_address-municipality_istat", "Capannori")
    page.fill("#f-declaration_date", "31/02/2026")  # a date that does not exist
    page.click('button:has-text("Apri la pratica")')
    assert "Data non valida" in page.inner_text("#form-summary")
    assert page.input_value("#f-declarants-0-given_name") == "Giovanni"  # nothing typed is lost
    page.fill("#f-declaration_date", "20/11/2026")
    page.click('button:has-text("Apri la pratica")')
    assert "Aperta la pratica" in page.locator(".alert-success").inner_text()
    case = Case.objects.get(tenant=tenant)
    assert case.data["new_address"]["municipality_istat"] == "046007"
    screenshot(page, "flow-0-case-opened")
    page.goto(f"{base}/?tab=available")
    check_accessibility(page, "registrar inbox")
    page.locator("a:visible", has_text="Registrazione della dichiarazione").click()
    page.fill("textarea[name=notes]", "Documenti controllati allo sportello")
    page.click("button[value=draft]")
    assert page.locator("text=Bozza salvata.").count() == 1
    page.goto(f"{base}/")  # leave, come back: the draft is there
    page.goto(f"{base}/?tab=available")
    page.locator("a:visible", has_text="Registrazione della dichiarazione").click()
    assert page.locator("text=Bozza ripristinata").count() == 1
    assert page.input_value("textarea[name=notes]") == "Documenti controllati allo sportello"
    page.click("button[value=complete]")  # the origin is missing
    summary = page.locator("#form-summary")
    assert summary.count() == 1 and "errori" in summary.inner_text()
    check_accessibility(page, "registration with an error")
    screenshot(page, "flow-1-registration-error")
    page.click('label:has-text("Nello stesso comune")')
    page.click('label:has-text("verificati")')
    page.click("button[value=complete]")
    assert "completato" in page.locator(".alert-success").inner_text()
    context.close()

    _settle()  # ANPR 5005 through the outbox, over HTTP
    assert [c["operation"] for c in anpr.changes] == ["5005"]
    assert anpr.person("PRVGNN90R10H501Q")["address"]["street"] == "ROMA"

    # 2. The supervisor assigns the dwelling check to the officer.
    context, page = _login(browser, base, supervisor, DESKTOP)
    page.goto(f"{base}/pratiche/{case.pk}/")
    page.locator("a", has_text="Accertamento").first.click()
    page.select_option("#assign-user", label=officer.get_full_name() or officer.username)
    page.click('button:has-text("Assegna")')
    assert "assegnato" in page.locator(".alert-success").inner_text()
    check_accessibility(page, "supervisor assigns")
    context.close()

    # 3. The officer, on a phone, finds it among their tasks and records a positive check.
    context, page = _login(browser, base, officer, PHONE, touch=True)
    page.goto(f"{base}/")
    check_accessibility(page, "officer inbox (phone)")
    _no_horizontal_scroll(page)
    screenshot(page, "flow-2-officer-inbox-phone")
    page.locator("a:visible", has_text="Accertamento").first.click()
    _no_horizontal_scroll(page)
    page.click('label:has-text("Positivo")')
    page.fill("input[name=visit_date]", "21/11/2026")
    # Touch targets: every visible control of the form, or the label that stands for it (radios and
    # checkboxes are drawn by Bootstrap Italia on their label; the input itself is hidden).
    small = page.evaluate("""() => [...document.querySelectorAll('#task-form input, #task-form select, #task-form textarea, #task-form button, #task-form .form-check label')]
        .filter(e => e.offsetParent !== null && getComputedStyle(e).opacity !== '0' && e.type !== 'hidden')
        .filter(e => !(e.matches('input[type=radio], input[type=checkbox]') && e.labels && e.labels[0] && e.labels[0].getBoundingClientRect().height >= 44))
        .map(e => [e.name || e.textContent.trim().slice(0, 30), Math.round(e.getBoundingClientRect().height)])
        .filter(([, h]) => h < 44)""")
    assert small == [], f"touch targets under 44 px: {small}"
    check_accessibility(page, "police verification (phone)")
    screenshot(page, "flow-3-police-verification-phone")
    page.click("button[value=complete]")
    assert "completato" in page.locator(".alert-success").inner_text()
    _no_horizontal_scroll(page)
    context.close()

    _settle()
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.outcome == "accepted"

    # The registrar sees the outcome, the history and the path on the case page.
    context, page = _login(browser, base, registrar, DESKTOP)
    page.goto(f"{base}/pratiche/{case.pk}/")
    assert "Conclusa" in page.locator("p.lead").inner_text() and "Accolta" in page.locator("p.lead").inner_text()
    page.wait_for_selector("#case-diagram .procedo-done")
    assert page.locator('#case-diagram [data-element-id="police_verification"].procedo-done').count() == 1
    documents = page.inner_text("section[aria-labelledby=h-documents]")
    assert "Comunicazione di avvio del procedimento" in documents and "firmato" in documents
    history = page.inner_text("section[aria-labelledby=h-history]")
    assert "anna.anagrafe" in history and "paolo.vigile" in history and "sara.responsabile" in history
    check_accessibility(page, "closed case")
    screenshot(page, "flow-4-closed-case")
    context.close()
    assert Case.objects.get(pk=case.pk).work_items.filter(status="open").count() == 0
