"""Issue 14, "Done when", in a real browser: a citizen signs in through the demo identity provider
with SPID level 2, files a residence declaration with an attachment in steps, the office asks for
information (the 10-bis notice, driven by the services), the citizen answers it with text and a
file, pays a certificate's stamp duty in the pagoPA Checkout simulator, downloads the sealed
certificate and verifies its QR code (pdftoppm + zbarimg, then the /verifica/ page). axe-core runs
on the citizen area's pages at 375 px and on desktop."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from accounts.models import User
from cases import services as case_services
from cases.models import Case
from common import clock
from engine.services import outbox_deliver_due
from registry.models import HouseNumber, Person, Street
from registry.services import residence_move
from tests.e2e.conftest import check_accessibility, screenshot
from tests.pdf_tools import pdf_qr_codes
from tests.portal.conftest import clean_pdf, converter, portal_settings, signer_p12, sims, trust  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CF = "PRVGNN90R10H501Q"  # a demo IdP identity (Giovanni Prova)
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def _settle():
    for _ in range(10):
        if not outbox_deliver_due():
            return


def _office_asks_for_information(office, case: Case) -> None:
    tenant = office["tenant"]

    def complete(bpmn_id, user, data):
        item = case.work_items.get(bpmn_id=bpmn_id, status="open")
        case_services.work_item_complete(work_item_id=item.pk, tenant=tenant, user=user, data=data)
        _settle()

    complete("registration", office["registrar"], {"origin": "same_municipality", "documents_checked": True})
    complete("police_verification", office["police"], {"outcome": "negative", "visit_date": clock.today().isoformat(),
                                                        "found_at_address": False, "negative_reason": "Disabitata"})
    complete("notice_10bis", office["registrar"], {"reasons": "Il sopralluogo ha accertato che l'abitazione è disabitata.",
                                                    "notice_date": clock.today().isoformat()})
    case_services.case_message_deliver(case=case, user=office["registrar"], message="notice_delivered",
                                       payload={"delivered_on": clock.today().isoformat()})


def test_a_citizen_files_answers_pays_and_verifies_a_certificate(browser, live_server, settings, tmp_path, make_office,
                                                                sims, portal_settings):  # noqa: F811
    settings.PROCEDO_SPID_BASE_URL = live_server.url
    settings.PROCEDO_SPID_ENTITY_ID = f"{live_server.url}/spid/metadata/"
    settings.PROCEDO_SPID_KEY_FILE = str(tmp_path / "sp.key")
    settings.PROCEDO_SPID_CERT_FILE = str(tmp_path / "sp.crt")
    settings.PROCEDO_SPID_DEMO_IDP = True
    settings.PROCEDO_SPID_IDP_METADATA = []
    settings.PROCEDO_PUBLIC_BASE_URL = live_server.url
    office = make_office()
    tenant = office["tenant"]
    person = Person.objects.create(tenant=tenant, fiscal_code=CF, family_name="PROVA", given_name="GIOVANNI",
                                   search_name="prova giovanni", sex="M", birth_date=dt.date(1990, 10, 10),
                                   citizenships=["100"], birth_place_name="ROMA")
    street = Street.objects.create(tenant=tenant, code="V0001", species=213, name="ROMA", search_name="roma")
    civico = HouseNumber.objects.create(tenant=tenant, street=street, code="C1", number=12,
                                        created_on=dt.date(1970, 1, 1))
    residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                   start_date=dt.date(2010, 1, 1), opening_event="registration")
    attachment = tmp_path / "contratto.pdf"
    attachment.write_bytes(clean_pdf())
    base = f"{live_server.url}/area-personale"

    page = browser.new_page(viewport=PHONE, locale="it-IT")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    # The service page, then SPID level 2 through the demo IdP, back to the form.
    page.goto(f"{base}/servizi/")
    page.click("text=Cambio di residenza")
    check_accessibility(page, "portal service page")
    page.click("text=Accedi e presenta la domanda")
    page.click("summary.spid-button")
    page.click("text=Demo IdP (Procedo)")
    page.check(f"#identity-{CF}")
    page.check("#level-SpidL2")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/servizi/residence_change/domanda/")

    # Step 1, the declarants: the citizen is already there.
    assert page.input_value("#f-declarants-0-fiscal_code") == CF
    check_accessibility(page, "portal request step 1 (375 px)")
    page.click("button[value=next]")
    page.wait_for_url("**passo=1")
    # Steps 2 and 3, people moving with the declarants and the household they join: nobody, a new one.
    page.click("button[value=next]")
    page.wait_for_url("**passo=2")
    page.click("button[value=next]")
    page.wait_for_url("**passo=3")
    # Step 4, the new address: a mistake first, then corrected.
    page.click("button[value=next]")
    page.wait_for_selector("#error-summary")
    check_accessibility(page, "portal request step with errors")
    page.fill("#f-new_address-street", "Via Roma")
    page.fill("#f-new_address-house_number", "12")
    page.fill("#f-new_address-municipality_istat", "046007")
    page.click("button[value=next]")
    page.wait_for_url("**passo=4")
    # Step 5, the other data.
    page.fill("#f-declaration_date", clock.today().strftime("%d/%m/%Y"))
    page.click("button[value=next]")
    # Attachments: checked by content.
    page.wait_for_url(f"{base}/servizi/residence_change/domanda/allegati/")
    page.fill("#f-label", "Contratto di locazione")
    page.set_input_files("#f-file", str(attachment))
    page.click("#upload-file")
    page.wait_for_selector(".alert-success, .invalid-feedback")
    assert "contratto.pdf" in page.inner_text("main")
    check_accessibility(page, "portal attachments")
    page.click("#attachments-next")
    page.wait_for_url("**/riepilogo/")
    # Summary and confirmation.
    check_accessibility(page, "portal summary")
    page.click("label[for=f-confirm]")
    page.click("#submit-request")
    page.wait_for_selector("[data-testid=protocol]")
    screenshot(page, "portal-submitted")
    case = Case.objects.get(tenant=tenant, process_id="residence_change")
    assert case.data["channel"] == "portal"

    # The office asks for information; the citizen answers on the case page.
    _office_asks_for_information(office, case)
    page.goto(f"{base}/pratiche/{case.pk}/")
    assert "In attesa delle sue osservazioni" in page.inner_text("[data-testid=timeline]")
    check_accessibility(page, "portal case page with a request for information (375 px)")
    page.fill("#reply-text-1", "Abito qui dal 1° novembre: allego il contratto di locazione.")
    page.set_input_files("#reply-files-1", str(attachment))
    page.click("#send-reply-1")
    page.wait_for_selector(".alert-success")
    assert case.work_items.filter(bpmn_id="evaluate_reply", status="open").exists()
    assert User.objects.get(username=f"cf:{CF}").fiscal_code == CF

    # A certificate with the stamp duty paid in the pagoPA Checkout simulator.
    page.goto(f"{base}/certificati/")
    check_accessibility(page, "portal certificates (375 px)")
    page.select_option("#f-kind", "cittadinanza")
    page.click("label[for=f-use-stamp]")
    page.click("#ask-certificate")
    page.click("#pay-stamp")
    page.wait_for_selector("text=pagoPA Checkout (simulatore)")
    page.click("#pay")
    page.wait_for_selector("#download-certificate")
    check_accessibility(page, "portal certificate issued")
    with page.expect_download() as download:
        page.click("#download-certificate")
    pdf_path = tmp_path / "certificato.pdf"
    download.value.save_as(pdf_path)
    [decoded] = pdf_qr_codes(pdf_path.read_bytes(), tmp_path, name="cert")
    assert decoded.startswith(f"{live_server.url}/verifica/")
    page.goto(decoded)
    verification = page.inner_text("main")
    assert hashlib.sha256(pdf_path.read_bytes()).hexdigest() in verification  # the very file downloaded
    assert tenant.name in verification and "annullato" not in verification

    # The other pages, on a desktop too.
    desktop = browser.new_page(viewport=DESKTOP, locale="it-IT")
    desktop.context.add_cookies(page.context.cookies())
    for path in ("/", "/pratiche/", f"/pratiche/{case.pk}/", "/pagamenti/", "/documenti/", "/certificati/",
                 "/preferenze/", "/servizi/"):
        desktop.goto(f"{base}{path}")
        check_accessibility(desktop, f"portal {path} (desktop)")
        page.goto(f"{base}{path}")
        check_accessibility(page, f"portal {path} (375 px)")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    screenshot(page, "portal-payments")
    assert not violations, violations
