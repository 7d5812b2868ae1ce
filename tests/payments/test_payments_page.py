"""The tenant payments page: who reads it, what it lists and filters, the CSV/ODS export, and asking
pagoPA again to invalidate the notice of an ended case."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.test import Client

from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import CaseStatus
from common import clock
from connectors.pagopa.models import DebtPosition
from engine.models import OutboxMessage
from tests.documents.conftest import converter  # noqa: F401  (session fixture)
from tests.factories import declaration_payload, make_user

pytestmark = pytest.mark.django_db


def position(tenant, case, n, **extra):
    fields = {"tenant": tenant, "idempotency_key": f"k-{tenant.pk}-{n}", "case_id": case.pk if case else None,
              "case_number": case.number if case else "", "iupd": f"PROCEDO-{tenant.pk}-{n}",
              "iuv": f"4720260000000{n:04d}", "notice_number": f"34720260000000{n:04d}",
              "organization_fiscal_code": "00000000000", "amount_cents": 1600,
              "description": f"Imposta di bollo {n}", "debtor_fiscal_code": "PRVGNN90R10H501Q",
              "debtor_name": "Giovanni Prova", "kind": "stamp_duty", "status": "VALID",
              "due_date": clock.today() + dt.timedelta(days=10)}
    return DebtPosition.objects.create(**{**fields, **extra})


@pytest.fixture
def payments(make_office):
    office = make_office(civil_registrar=Role.CIVIL_REGISTRAR, cases=[declaration_payload(), declaration_payload()])
    other = make_office(name="Comune di Lucca", istat="046017", belfiore="E715",
                        cases=[declaration_payload()], processes=False)
    open_case, ended_case = office["cases"]
    ended_case.status = CaseStatus.CANCELLED
    ended_case.save(update_fields=["status"])
    office["to_pay"] = position(office["tenant"], open_case, 1)
    office["overdue"] = position(office["tenant"], open_case, 2, due_date=clock.today() - dt.timedelta(days=1),
                                 debtor_name="=HYPERLINK(\"http://evil/\")", kind="fee")
    office["paid"] = position(office["tenant"], open_case, 3, status="PAID", paid_at=clock.now(),
                              receipt_id="R-3", psp_name="Banca Simulata")
    office["to_invalidate"] = position(office["tenant"], ended_case, 4)
    office["unmatched"] = position(office["tenant"], ended_case, 5, status="PAID", paid_at=clock.now(),
                                   unmatched_at=clock.now())
    office["other_tenant"] = position(other["tenant"], other["case"], 6, debtor_name="Altro Comune")
    return office


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("person", ["viewer", "police"])
def test_only_officers_and_the_supervisor_read_the_payments(payments, person):
    assert client_for(payments[person]).get("/pagamenti/").status_code == 403
    assert client_for(payments[person]).get("/pagamenti/esporta/csv/").status_code == 403


def test_citizens_never_see_the_tenant_payments(payments):
    citizen = make_user(payments["tenant"], Role.CITIZEN, fiscal_code="PRVGNN90R10H501Q")
    assert client_for(citizen).get("/pagamenti/").status_code == 403


def test_the_page_lists_every_position_of_the_tenant_with_its_state_and_receipt(payments):
    page = client_for(payments["civil_registrar"]).get("/pagamenti/")
    html = page.content.decode()
    assert page.status_code == 200
    for key in ("to_pay", "overdue", "paid", "to_invalidate", "unmatched"):
        assert payments[key].notice_number in html, key
    assert payments["other_tenant"].notice_number not in html and "Altro Comune" not in html
    assert "R-3" in html and "Banca Simulata" in html and "16,00" in html
    # The two lists to act on are announced, with links to them.
    assert "?stato=to_invalidate" in html and "?stato=unmatched" in html
    # Only the supervisor gets the button to invalidate.
    assert "Annulla su pagoPA" not in html
    assert "Annulla su pagoPA" in client_for(payments["supervisor"]).get("/pagamenti/").content.decode()


@pytest.mark.parametrize("query, expected", [
    ("stato=to_pay", {"to_pay"}),
    ("stato=overdue", {"overdue"}),
    ("stato=paid", {"paid"}),
    ("stato=to_invalidate", {"to_invalidate"}),
    ("stato=unmatched", {"unmatched"}),
    ("tipo=fee", {"overdue"}),
    ("q=347202600000000003", {"paid"}),
    ("q=4720260000000000", {"to_pay", "overdue", "paid", "to_invalidate", "unmatched"}),
    ("q=PRVGNN90R10H501Q&stato=to_pay", {"to_pay"}),
    # Malformed or unknown filters are ignored, never an error.
    ("stato=%3Cscript%3E&dal=31-02-2026&al=domani&page=abc", {"to_pay", "overdue", "paid", "to_invalidate",
                                                              "unmatched"}),
    ("dal=2099-01-01", set()),
])
def test_filters(payments, query, expected):
    html = client_for(payments["supervisor"]).get(f"/pagamenti/?{query}").content.decode()
    # The refunds to act on are listed above the filters whatever the filter: read the results only.
    html = html.split('aria-label="Filtri"', 1)[1]
    shown = {key for key in ("to_pay", "overdue", "paid", "to_invalidate", "unmatched")
             if payments[key].notice_number in html}
    assert shown == expected


def test_csv_export_with_the_filters_and_no_formula(payments):
    response = client_for(payments["civil_registrar"]).get("/pagamenti/esporta/csv/?stato=overdue")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    header, *rows = text.strip().splitlines()
    assert header.startswith("Pratica,Tipo,Causale,Pagatore") and "Numero avviso" in header and "IUV" in header
    assert len(rows) == 1
    assert payments["overdue"].notice_number in rows[0] and ",16," in rows[0] + ","
    assert "'=HYPERLINK" in rows[0]  # a payer's name is never a formula in the office's spreadsheet


def test_ods_export_is_a_spreadsheet_of_the_tenants_positions(payments):
    response = client_for(payments["supervisor"]).get("/pagamenti/esporta/ods/")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        content = archive.read("content.xml").decode()
    assert payments["unmatched"].notice_number in content and payments["other_tenant"].notice_number not in content
    assert 'office:value-type="float" office:value="16' in content


def test_an_unknown_export_format_is_not_found(payments):
    assert client_for(payments["supervisor"]).get("/pagamenti/esporta/xlsx/").status_code == 404


def test_the_supervisor_asks_pagopa_again_to_invalidate_a_notice_of_an_ended_case(payments):
    target = payments["to_invalidate"]
    url = f"/pagamenti/{target.pk}/annulla/"
    assert client_for(payments["civil_registrar"]).post(url).status_code == 403
    response = client_for(payments["supervisor"]).post(url)
    assert response.status_code == 302
    (message,) = OutboxMessage.objects.filter(operation="pagopa.invalidate_debt_position")
    assert message.params == {"iupd": target.iupd} and message.task_id == ""
    assert AuditEvent.objects.filter(action="payment.invalidate", object_id=str(target.case_id)).count() == 1


@pytest.mark.parametrize("key", ["to_pay", "paid", "unmatched"])
def test_a_notice_that_must_stay_or_is_paid_is_not_invalidated(payments, key):
    response = client_for(payments["supervisor"]).post(f"/pagamenti/{payments[key].pk}/annulla/", follow=True)
    assert response.status_code == 200
    assert not OutboxMessage.objects.filter(operation="pagopa.invalidate_debt_position").exists()


@pytest.mark.parametrize("pk", ["other_tenant", "999999", "abc"])
def test_another_tenants_or_an_unknown_position_is_not_found(payments, pk):
    target = payments[pk].pk if pk == "other_tenant" else pk
    assert client_for(payments["supervisor"]).post(f"/pagamenti/{target}/annulla/").status_code == 404
    assert not OutboxMessage.objects.exists() or not OutboxMessage.objects.filter(
        operation="pagopa.invalidate_debt_position").exists()


def test_the_invalidation_is_a_post(payments):
    assert client_for(payments["supervisor"]).get(f"/pagamenti/{payments['to_invalidate'].pk}/annulla/").status_code == 405


def test_the_office_prints_the_notice_of_a_position_still_to_pay_with_the_pagopa_qr(
        payments, converter, settings, tmp_path):  # noqa: F811
    """The banns' stamp duty (or any fee) handed to the citizen at the counter: the same notice as the
    personal area's, with the QR every pagoPA app reads; nothing for a position no longer to pay."""
    from registry.certificates import fastpdf
    from tests.pdf_tools import pdf_qr_codes, pdf_text

    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    fastpdf.forget_bases()
    client = client_for(payments["civil_registrar"])
    page = client.get("/pagamenti/").content.decode()
    link = f"/pagamenti/{payments['to_pay'].pk}/avviso/"
    assert link in page and f"/pagamenti/{payments['paid'].pk}/avviso/" not in page
    notice = client.get(link)
    assert notice.status_code == 200 and notice["Content-Type"] == "application/pdf"
    text = pdf_text(notice.content, tmp_path)
    position = payments["to_pay"]
    assert position.notice_number in text and "16,00" in text and position.debtor_fiscal_code in text
    decoded = pdf_qr_codes(notice.content, tmp_path)
    assert decoded == [f"PAGOPA|002|{position.notice_number}|{position.organization_fiscal_code}|1600"]
    # paid, to invalidate, another municipality's, not a number: no notice (404, never an error page)
    for key in ("paid", "to_invalidate", "other_tenant"):
        assert client.get(f"/pagamenti/{payments[key].pk}/avviso/").status_code == 404, key
    assert client.get("/pagamenti/abc/avviso/").status_code == 404
    assert client_for(payments["viewer"]).get(link).status_code == 403
