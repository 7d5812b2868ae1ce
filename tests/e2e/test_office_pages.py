"""The office pages added around the marriage banns, in a real browser on a desktop and on a 375 px
phone, with axe-core on each state: the notice board office (/gestione-albo/: list, new publication,
a publication), the tenant payments page (/pagamenti/) and the procedures' settings
(/amministrazione/procedimenti/, with a wrong value explained)."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.roles import Role
from common import clock
from connectors.pagopa.models import DebtPosition
from payments.models import Refund
from tests.e2e.conftest import check_page, login
from tests.factories import make_user, sync_processes
from tests.noticeboard.conftest import board, nb_settings, signed_document, signer_p12, trust  # noqa: F401
from tests.noticeboard.test_services import MONDAY, publish

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
VIEWPORTS = [{"width": 1280, "height": 900}, {"width": 375, "height": 800}]


@pytest.fixture
def office_data(board, signed_document):  # noqa: F811
    sync_processes()
    clock.freeze(MONDAY)
    publication = publish(board, signed_document(), title="Pubblicazione di matrimonio tra Luca Neri e Giulia Conti")
    clock.reset()
    tenant = board["a"]
    positions = []
    for n, extra in enumerate([{}, {"status": "PAID", "paid_at": clock.now(), "receipt_id": "R-1",
                                    "psp_name": "Banca Simulata"},
                                {"unmatched_at": clock.now(), "paid_at": clock.now(), "status": "PAID"},
                                {"unmatched_at": clock.now(), "paid_at": clock.now(), "status": "PAID"}], start=1):
        positions.append(DebtPosition.objects.create(
            tenant=tenant, idempotency_key=f"e2e-{n}", case_number=f"2026/00000{n}", iupd=f"E2E-{n}",
            iuv=f"4720260000000{n:04d}", notice_number=f"34720260000000{n:04d}", organization_fiscal_code="0",
            amount_cents=1600, description="Imposta di bollo", debtor_fiscal_code="PRVGNN90R10H501Q",
            debtor_name="Giovanni Prova", kind="stamp_duty", status=extra.pop("status", "VALID"),
            due_date=clock.today() + dt.timedelta(days=20), **extra))
    # A refund another officer proposed: the supervisor sees it with the approve/reject form.
    officer = make_user(tenant, Role.CIVIL_REGISTRAR, username="e2e-rimborsi")
    Refund.objects.create(tenant=tenant, position=positions[3], amount_cents=1600, reason="Pagato dopo l'annullamento",
                          payee_iban="IT60X0542811101000000123456", requested_by=officer, requested_at=clock.now())
    return {"publication": publication}


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desktop", "phone"])
def test_office_pages_are_accessible_on_desktop_and_phone(browser, live_server, board, office_data,  # noqa: F811
                                                           viewport):
    label = "phone" if viewport["width"] < 500 else "desktop"
    base = live_server.url
    errors: list[str] = []
    page = browser.new_page(viewport=viewport)
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    login(page, base, board["supervisor"].username)

    page.goto(f"{base}/gestione-albo/")
    assert page.locator("td", has_text="Pubblicazione di matrimonio tra Luca Neri").count() == 1
    check_page(page, "office-noticeboard-list", viewport, label)
    page.goto(f"{base}/gestione-albo/nuova/")
    check_page(page, "office-noticeboard-new", viewport, label)
    page.goto(f"{base}/gestione-albo/{office_data['publication'].pk}/")
    check_page(page, "office-noticeboard-detail", viewport, label)

    page.goto(f"{base}/pagamenti/")
    assert page.locator("text=347202600000000001").count() == 1
    assert page.locator("text=da verificare").count() >= 1
    assert page.locator("h2", has_text="Rimborsi in corso").count() == 1
    page.locator("summary", has_text="Proponi il rimborso").first.click()  # the refund form, open
    assert page.locator("label", has_text="IBAN del pagatore").count() == 1
    check_page(page, "payments", viewport, label)
    page.goto(f"{base}/pagamenti/?stato=paid")
    assert page.locator("text=R-1").count() == 1
    check_page(page, "payments-paid", viewport, label)

    page.goto(f"{base}/amministrazione/procedimenti/")
    assert page.locator("h2", has_text="Pubblicazioni di matrimonio").count() == 1
    check_page(page, "process-settings", viewport, label)
    page.goto(f"{base}/amministrazione/procedimenti/marriage_banns/")
    page.fill("#set-payment_days", "0")
    page.click("button:has-text('Salva')")
    assert page.locator("#set-payment_days-err").count() == 1
    check_page(page, "process-settings-error", viewport, label)
    assert not errors, errors
    page.close()
