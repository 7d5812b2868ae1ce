"""The marca da bollo digitale on GPD, invalidating a notice whose case ended, and the receipt.

Against the GPD simulator over HTTP; what the simulator receives and answers is checked against
the GPD OpenAPI (v1) the product ships."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from common.operations import PermanentError, get_operation
from connectors.base.errors import InvalidRequest
from connectors.base.openapi import errors_for, request_pointer, response_pointer
from connectors.pagopa.client import INVALIDATE, POSITIONS, SPEC
from connectors.pagopa.models import DebtPosition
from connectors.pagopa.payments import poll_paid_positions, report_unmatched_payment
from connectors.pagopa.simulator import GpdSimulator
from tests.connectors.base.support import ctx_for, running
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

DEED = b"%PDF-1.7 atto di pubblicazione firmato"
DEED_SHA256 = hashlib.sha256(DEED).hexdigest()
STAMP = {
    "amount": "16.00",
    "kind": "stamp_duty",
    "description": "Imposta di bollo - pubblicazioni di matrimonio 2026/1",
    "debtor_fiscal_code": "PRVGNN90R10H501Q",
    "debtor_name": "Giovanni Prova",
    "due_date": "2026-12-31",
    "provincial_residence": "lu",
    "document_sha256": DEED_SHA256,
}


@pytest.fixture
def gpd(monkeypatch):
    app = GpdSimulator()
    with running(app, monkeypatch, "pagopa") as server:
        yield app, server


def create(params, ctx):
    return get_operation("pagopa.create_debt_position")(params, ctx)


def invalidate(iupd, ctx):
    return get_operation("pagopa.invalidate_debt_position")({"iupd": iupd}, ctx)


def test_the_stamp_is_bound_to_the_signed_deed_digest_in_base64(gpd):
    app, _ = gpd
    result = create(STAMP, ctx_for(make_tenant(), case_id=1, case_number="2026/1"))
    transfer = next(iter(app.positions.values()))["paymentOption"][0]["transfer"][0]
    expected = base64.b64encode(hashlib.sha256(DEED).digest()).decode()
    assert transfer["stamp"] == {"hashDocument": expected, "stampType": "01", "provincialResidence": "LU"}
    assert "iban" not in transfer and transfer["amount"] == 1600
    assert result["document_hash"] == expected and result["kind"] == "stamp_duty"
    row = DebtPosition.objects.get()
    assert (row.document_hash, row.debtor_name, str(row.due_date)) == (expected, "Giovanni Prova", "2026-12-31")
    sent = app.recorded("POST", "/organizations/")[0]
    assert errors_for(SPEC, request_pointer(SPEC, "post", POSITIONS), sent.json()) == []


def test_two_documents_get_two_stamps_in_one_notice_each_bound_to_its_own_document(gpd):
    """The banns with a spouse resident elsewhere: the deed and the request to the other municipality
    are both stamped (DOMAIN.md §2), paid with one pagoPA notice of 32.00 euro."""
    app, _ = gpd
    request = b"%PDF-1.7 richiesta di pubblicazione al Comune di Lucca firmata"
    params = {**STAMP, "amount": "32.00", "extra_stamp_documents": [hashlib.sha256(request).hexdigest()]}
    result = create(params, ctx_for(make_tenant(), case_id=1, case_number="2026/1"))
    option = next(iter(app.positions.values()))["paymentOption"][0]
    assert option["amount"] == 3200 and result["amount_cents"] == 3200
    assert [(t["idTransfer"], t["amount"], t["stamp"]["hashDocument"]) for t in option["transfer"]] == [
        ("1", 1600, base64.b64encode(hashlib.sha256(DEED).digest()).decode()),
        ("2", 1600, base64.b64encode(hashlib.sha256(request).digest()).decode()),
    ]
    sent = app.recorded("POST", "/organizations/")[0]
    assert errors_for(SPEC, request_pointer(SPEC, "post", POSITIONS), sent.json()) == []


@pytest.mark.parametrize("change, field", [
    ({"amount": "16.00", "extra_stamp_documents": ["a" * 64]}, "amount"),
    ({"amount": "32.00", "extra_stamp_documents": ["abc"]}, "document_sha256"),
    ({"amount": "96.00", "extra_stamp_documents": ["a" * 64] * 5}, "extra_stamp_documents"),
    ({"kind": "fee", "extra_stamp_documents": ["a" * 64]}, "extra_stamp_documents"),
])
def test_extra_stamps_that_would_not_discharge_the_duty_are_refused_before_pagopa(gpd, change, field):
    app, _ = gpd
    with pytest.raises(InvalidRequest) as info:
        create({**STAMP, **change}, ctx_for(make_tenant()))
    assert field in info.value.details
    assert app.positions == {} and DebtPosition.objects.count() == 0


@pytest.mark.parametrize("change, field", [
    ({"document_sha256": "abc"}, "document_sha256"),
    ({"document_sha256": "", "document_hash": "bm90IGEgZGlnZXN0"}, "document_sha256"),
    ({"amount": "32.00"}, "amount"),
    ({"provincial_residence": "Lucca"}, "provincial_residence"),
])
def test_a_stamp_that_would_not_discharge_the_duty_is_refused_before_pagopa(gpd, change, field):
    app, _ = gpd
    with pytest.raises(InvalidRequest) as info:
        create({**STAMP, **change}, ctx_for(make_tenant()))
    assert field in info.value.details
    assert isinstance(info.value, PermanentError)
    assert app.positions == {} and DebtPosition.objects.count() == 0


def test_the_simulator_refuses_a_stamp_gpd_would_refuse(gpd):
    app, server = gpd
    position = {
        "iupd": "X-1", "type": "F", "fiscalCode": "PRVGNN90R10H501Q", "fullName": "G P", "companyName": "Comune",
        "switchToExpired": False,
        "paymentOption": [{"iuv": "47202600000000101", "amount": 1600, "description": "bollo", "isPartialPayment": False,
                           "dueDate": "2026-12-31T23:59:59",
                           "transfer": [{"idTransfer": "1", "amount": 1600, "remittanceInformation": "bollo",
                                         "category": "9/0101108TS/", "iban": "IT60X0542811101000000123456",
                                         "stamp": {"hashDocument": "short", "stampType": "02",
                                                   "provincialResidence": "LU"}}]}],
    }
    answer = httpx.post(f"{server.url}/organizations/00000000000/debtpositions", json=position,
                        headers={"Ocp-Apim-Subscription-Key": "k"})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "mutually exclusive" in detail and "SHA-256" in detail and "stamp type" in detail


def test_invalidating_makes_the_notice_unpayable_once(gpd):
    app, server = gpd
    tenant = make_tenant()
    result = create({**STAMP, "kind": "fee", "document_sha256": ""}, ctx_for(tenant, case_id=3, case_number="2026/3"))
    first = invalidate(result["iupd"], ctx_for(tenant))
    assert first == {"iupd": result["iupd"], "status": "INVALID", "invalidated": True, "paid": False}
    assert invalidate(result["iupd"], ctx_for(tenant)) == first  # idempotent: pagoPA is not asked again
    (sent,) = [r for r in app.recorded("POST") if r.path.endswith("/invalidate")]
    assert sent.headers["Ocp-Apim-Subscription-Key"]
    # The citizen can no longer pay it at a PSP, and the poller no longer asks about it.
    assert httpx.post(f"{server.url}/__sim__/pay/{result['notice_number']}").status_code == 404
    assert poll_paid_positions() == []


def test_the_invalidate_answer_matches_the_gpd_contract(gpd):
    app, server = gpd
    tenant = make_tenant()
    result = create({**STAMP}, ctx_for(tenant))
    org = next(iter(app.positions.values()))["organizationFiscalCode"]
    url = f"{server.url}/organizations/{org}/debtpositions/{result['iupd']}/invalidate"
    answer = httpx.post(url, headers={"Ocp-Apim-Subscription-Key": "k"})
    assert answer.status_code == 200
    assert errors_for(SPEC, response_pointer(SPEC, "post", INVALIDATE, 200), answer.json()) == []
    again = httpx.post(url, headers={"Ocp-Apim-Subscription-Key": "k"})
    assert again.status_code == 409


def test_a_notice_paid_just_before_the_invalidation_is_recorded_as_paid_not_lost(gpd):
    app, server = gpd
    tenant = make_tenant()
    result = create(STAMP, ctx_for(tenant, case_id=4, case_number="2026/4"))
    httpx.post(f"{server.url}/__sim__/pay/{result['notice_number']}").raise_for_status()
    outcome = invalidate(result["iupd"], ctx_for(tenant))
    assert outcome["paid"] is True and outcome["invalidated"] is False and outcome["status"] == "PAID"
    row = DebtPosition.objects.get()
    assert row.paid_at is not None
    assert (row.receipt_id, row.psp_name, row.payment_method) == (f"R{result['notice_number']}", "Banca Simulata", "CP")
    # The poller offers it for delivery; once reported for an ended case it is no longer offered.
    (paid,) = poll_paid_positions()
    assert report_unmatched_payment(position_id=paid["position_id"]) is True
    assert report_unmatched_payment(position_id=paid["position_id"]) is False
    assert poll_paid_positions() == []


def test_a_notice_that_never_reached_pagopa_is_closed_locally(gpd):
    app, _ = gpd
    tenant = make_tenant()
    row = DebtPosition.objects.create(tenant=tenant, idempotency_key="k-never", iupd="PROCEDO-X-never", iuv="1",
                                      notice_number="3", organization_fiscal_code="0", amount_cents=1600,
                                      description="x", debtor_fiscal_code="X")
    assert invalidate(row.iupd, ctx_for(tenant))["invalidated"] is True
    row.refresh_from_db()
    assert row.status == "INVALID" and row.invalidated_at is not None


def test_the_poller_records_the_receipt(gpd):
    app, server = gpd
    tenant = make_tenant()
    result = create(STAMP, ctx_for(tenant, case_id=5, case_number="2026/5"))
    httpx.post(f"{server.url}/__sim__/pay/{result['notice_number']}").raise_for_status()
    (paid,) = poll_paid_positions()
    row = DebtPosition.objects.get(pk=paid["position_id"])
    assert row.status == "PAID" and row.receipt_id == f"R{result['notice_number']}" and row.psp_name


def test_another_tenants_position_cannot_be_invalidated(gpd):
    app, _ = gpd
    owner, other = make_tenant(), make_tenant()
    result = create(STAMP, ctx_for(owner))
    with pytest.raises(InvalidRequest):
        invalidate(result["iupd"], ctx_for(other))
    assert DebtPosition.objects.get().invalidated_at is None


def test_a_payer_without_a_province_gets_the_municipalitys(gpd):
    app, _ = gpd
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    create({**STAMP, "provincial_residence": ""}, ctx_for(tenant))
    transfer = next(iter(app.positions.values()))["paymentOption"][0]["transfer"][0]
    assert transfer["stamp"]["provincialResidence"] == "LU"
