"""Register pages in a real browser (issue 13): the live progress of a long legacy import (the block
follows the run row through htmx without a reload) and the counter's stamp duty through pagoPA
(the choice on the counter, the notice page); axe-core on a desktop and on a 375 px phone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings

from accounts.roles import Role
from connectors.base.simulator import SimulatorServer
from registry.certificates import payments
from registry.models import (
    Certificate,
    Household,
    HouseholdMember,
    HouseNumber,
    ImportPhase,
    ImportRun,
    ImportStatus,
    Person,
    Street,
)
from registry.services import residence_move
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import make_tenant, make_user, second_factor_client

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [{"width": 1280, "height": 900}, {"width": 375, "height": 800}]


def _signed_in_page(browser, live_server, user, viewport):
    client = second_factor_client(user)
    context = browser.new_context(viewport=viewport)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": live_server.url}])
    return context.new_page()


def _fits(page, viewport) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= viewport["width"], f"page is {wide}px wide"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desktop", "phone"])
def test_a_supervisor_watches_a_long_import_progress_live(browser, live_server, viewport):
    label = "phone" if viewport["width"] < 500 else "desktop"
    tenant = make_tenant(name="Comune di Capannori", istat="046007", belfiore="B648")
    supervisor = make_user(tenant, Role.SUPERVISOR)
    run = ImportRun.objects.create(tenant=tenant, mode="commit", source="/srv/anagrafe/export", fingerprint="a" * 64,
                                   total_batches=8, last_batch=2, phase=ImportPhase.COMMIT, started_by="operatore",
                                   started_at=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    page = _signed_in_page(browser, live_server, supervisor, viewport)
    page.goto(f"{live_server.url}/anagrafe/importazioni/{run.pk}/")
    assert "2 lotti scritti su 8" in page.locator("#import-progress").inner_text()
    check_accessibility(page, f"import running ({label})")
    _fits(page, viewport)
    screenshot(page, f"registry-import-running-{label}")
    # what the worker does as it commits the batches: the page follows without a reload
    ImportRun.objects.filter(pk=run.pk).update(last_batch=6)
    page.wait_for_selector("#import-progress:has-text('6 lotti scritti su 8')", timeout=10000)
    ImportRun.objects.filter(pk=run.pk).update(last_batch=8, phase=ImportPhase.DONE, status=ImportStatus.DONE)
    page.wait_for_selector("#import-progress:has-text('Terminata')", timeout=10000)
    check_accessibility(page, f"import finished ({label})")


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desktop", "phone"])
def test_the_counter_asks_the_stamp_duty_through_pagopa(browser, live_server, viewport, monkeypatch):
    from connectors.pagopa.simulator import create_app

    label = "phone" if viewport["width"] < 500 else "desktop"
    tenant = make_tenant(name="Comune di Capannori", istat="046007", belfiore="B648")
    registrar = make_user(tenant, Role.REGISTRAR)
    person = Person.objects.create(tenant=tenant, fiscal_code="RSSMRA80A01H501U", family_name="ROSSI",
                                   given_name="MARIO", search_name="rossi mario", sex="M", birth_date=dt.date(1980, 1, 1),
                                   citizenships=["100"], birth_place_name="ROMA")
    street = Street.objects.create(tenant=tenant, code="V1", species=213, name="ROMA", search_name="roma")
    civico = HouseNumber.objects.create(tenant=tenant, street=street, code="C1", number=12,
                                        created_on=dt.date(1970, 1, 1))
    household = Household.objects.create(tenant=tenant, legacy_id="F1")
    HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=1,
                                   joined_on=dt.date(2000, 1, 1))
    residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                   start_date=dt.date(2000, 1, 1), opening_event="registration", household_id=household.pk)
    with SimulatorServer(create_app()) as pagopa:
        monkeypatch.setattr(settings, "PROCEDO_PAGOPA_BASE_URL", pagopa.url)
        page = _signed_in_page(browser, live_server, registrar, viewport)
        page.goto(f"{live_server.url}/anagrafe/persone/{person.pk}/certificati/")
        check_accessibility(page, f"certificate counter ({label})")
        _fits(page, viewport)
        page.select_option("#kind", "residenza")
        page.select_option("#use", "pagopa")
        page.click("button:has-text('Rilascia')")
        page.wait_for_selector("h1:has-text('Imposta di bollo con pagoPA')")
        payment = payments.CounterStampPayment.objects.get(tenant=tenant)
        assert payment.position.notice_number in page.content()
        check_accessibility(page, f"stamp duty notice page ({label})")
        _fits(page, viewport)
        screenshot(page, f"registry-counter-pagopa-{label}")
        page.click("button:has-text('Verifica il pagamento e rilascia')")
        assert "non risulta ancora" in page.locator(".alert[role=alert]").inner_text()
        check_accessibility(page, f"stamp duty not paid yet ({label})")
    assert not Certificate.objects.filter(tenant=tenant).exists()  # nothing issued before the payment
