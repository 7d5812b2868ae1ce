from __future__ import annotations

import time

import httpx
import pytest
from django.conf import settings as django_settings

from common.operations import PermanentError, RetryableError, get_operation
from connectors.base.errors import ConnectorTimeout, PlatformRefused
from connectors.base.openapi import errors_for, request_pointer, response_pointer
from connectors.pagopa.client import POSITION, POSITIONS, SPEC, GpdClient
from connectors.pagopa.models import DebtPosition
from connectors.pagopa.notice import notice_number_is_valid
from connectors.pagopa.payments import acknowledge_paid_position, poll_paid_positions
from connectors.pagopa.simulator import GpdSimulator
from tests.connectors.base.support import ctx_for, running
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

FEE = {
    "amount": "16.00",
    "description": "Diritti di segreteria carta d'identità",
    "debtor_fiscal_code": "PRVGNN90R10H501Q",
    "debtor_name": "Giovanni Prova",
    "due_date": "2026-12-31",
}


@pytest.fixture
def gpd(monkeypatch):
    app = GpdSimulator()
    with running(app, monkeypatch, "pagopa") as server:
        yield app, server


def create(params, ctx):
    return get_operation("pagopa.create_debt_position")(params, ctx)


def test_it_creates_and_publishes_a_fee_position_with_a_valid_notice(gpd):
    app, _ = gpd
    tenant = make_tenant()
    result = create(FEE, ctx_for(tenant, case_id=7, case_number="2026/7"))
    assert notice_number_is_valid(result["notice_number"])
    assert result["amount_cents"] == 1600
    assert result["status"] == "VALID"
    (position,) = app.positions.values()
    assert position["status"] == "VALID"
    assert position["paymentOption"][0]["nav"] == result["notice_number"]
    assert position["paymentOption"][0]["transfer"][0]["iban"]
    sent = app.recorded("POST", "/organizations/")[0]
    assert sent.query["toPublish"] == "true"
    assert sent.headers["Ocp-Apim-Subscription-Key"] == "demo-gpd-key"
    assert errors_for(SPEC, request_pointer(SPEC, "post", POSITIONS), sent.json()) == []


def test_a_repeated_delivery_creates_nothing_twice(gpd):
    app, _ = gpd
    tenant = make_tenant()
    ctx = ctx_for(tenant, key="case-1:task-pay")
    first = create(FEE, ctx)
    second = create(FEE, ctx)
    assert first == second
    assert len(app.positions) == 1
    assert DebtPosition.objects.count() == 1


def test_a_lost_answer_is_recovered_on_retry_without_a_second_position(gpd, monkeypatch):
    app, _ = gpd
    monkeypatch.setattr(django_settings, "PROCEDO_PAGOPA_TIMEOUT", "0.2")
    tenant = make_tenant()
    ctx = ctx_for(tenant, key="case-2:task-pay")
    app.faults.set(delay=1.0)
    with pytest.raises(ConnectorTimeout):
        create(FEE, ctx)
    app.faults.set(delay=0.0)
    deadline = time.monotonic() + 5
    while not app.positions and time.monotonic() < deadline:  # the slow handler finishes after we gave up
        time.sleep(0.02)
    assert len(app.positions) == 1
    monkeypatch.setattr(django_settings, "PROCEDO_PAGOPA_TIMEOUT", "2")
    result = create(FEE, ctx)
    assert result["status"] == "VALID"
    assert len(app.positions) == 1


def test_a_stamp_duty_position_carries_the_stamp_instead_of_an_iban(gpd):
    app, _ = gpd
    params = {**FEE, "amount": "16.00", "kind": "stamp_duty", "provincial_residence": "RM",
              "document_hash": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="}
    create(params, ctx_for(make_tenant()))
    transfer = next(iter(app.positions.values()))["paymentOption"][0]["transfer"][0]
    assert transfer["stamp"]["provincialResidence"] == "RM"
    assert "iban" not in transfer


def test_a_payment_is_seen_by_status_and_by_the_poller_once_acknowledged(gpd):
    app, server = gpd
    tenant = make_tenant()
    result = create(FEE, ctx_for(tenant, case_id=42, case_number="2026/42"))
    status = get_operation("pagopa.get_payment_status")
    assert status({"iupd": result["iupd"]}, ctx_for(tenant))["paid"] is False
    assert poll_paid_positions() == []

    httpx.post(f"{server.url}/__sim__/pay/{result['notice_number']}").raise_for_status()

    paid = poll_paid_positions()
    assert [(p["case_id"], p["case_number"], p["notice_number"]) for p in paid] == [
        (42, "2026/42", result["notice_number"])
    ]
    assert poll_paid_positions() == paid  # not acknowledged yet: still offered
    assert acknowledge_paid_position(position_id=paid[0]["position_id"]) is True
    assert acknowledge_paid_position(position_id=paid[0]["position_id"]) is False
    assert poll_paid_positions() == []
    after = status({"notice_number": result["notice_number"]}, ctx_for(tenant))
    assert after["paid"] is True and after["status"] == "PAID"


def test_simulator_answers_match_the_gpd_contract(gpd):
    app, server = gpd
    tenant = make_tenant()
    result = create(FEE, ctx_for(tenant))
    org = next(iter(app.positions.values()))["organizationFiscalCode"]
    app.mark_paid(result["notice_number"])
    raw = httpx.get(f"{server.url}/organizations/{org}/debtpositions/{result['iupd']}",
                    headers={"Ocp-Apim-Subscription-Key": "k"})
    assert raw.status_code == 200
    assert errors_for(SPEC, response_pointer(SPEC, "get", POSITION, 200), raw.json()) == []
    missing = httpx.get(f"{server.url}/organizations/{org}/debtpositions/NOPE",
                        headers={"Ocp-Apim-Subscription-Key": "k"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert errors_for(SPEC, response_pointer(SPEC, "get", POSITION, 404), missing.json()) == []


def test_the_simulator_refuses_a_wrong_iuv_and_a_missing_key(gpd):
    _, server = gpd
    client = GpdClient(server.url, api_key="k", organization_fiscal_code="00000000000")
    body = {"iupd": "X1", "type": "F", "fiscalCode": "PRVGNN90R10H501Q", "fullName": "G P", "companyName": "C",
            "switchToExpired": False,
            "paymentOption": [{"iuv": "47202600000000199", "amount": 100, "description": "d",
                               "isPartialPayment": False, "dueDate": "2026-12-31T23:59:59",
                               "transfer": [{"idTransfer": "1", "amount": 100, "remittanceInformation": "d",
                                             "category": "9/0101108TS/", "iban": "IT60X0542811101000000123456"}]}]}
    with pytest.raises(PlatformRefused) as info:
        client.create_position(body)
    assert isinstance(info.value, PermanentError)
    assert "IUV" in info.value.message
    with pytest.raises(PlatformRefused) as info:
        GpdClient(server.url, api_key="", organization_fiscal_code="0").get_position("X1")
    assert info.value.http_status == 401


def test_a_5xx_storm_delays_but_the_position_is_created_exactly_once(gpd):
    app, _ = gpd
    tenant = make_tenant()
    ctx = ctx_for(tenant, key="case-3:task-pay")
    app.faults.set(fail_count=3, fail_status=502)
    for _ in range(3):
        with pytest.raises(RetryableError):
            create(FEE, ctx)
    result = create(FEE, ctx)
    assert result["status"] == "VALID"
    assert len(app.positions) == 1


def test_bad_params_are_refused_before_calling_the_platform(gpd):
    app, _ = gpd
    from connectors.base.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        create({**FEE, "amount": "16.005"}, ctx_for(make_tenant()))
    with pytest.raises(InvalidRequest):
        create({**FEE, "debtor_name": ""}, ctx_for(make_tenant()))
    assert app.recorded("POST") == []


def test_the_debt_position_table_lives_in_the_pagopa_package_with_its_old_label_and_no_pending_migration():
    from django.core.management import call_command

    assert DebtPosition.__module__ == "connectors.pagopa.models"
    assert (DebtPosition._meta.app_label, DebtPosition._meta.db_table) == ("connectors", "connectors_debtposition")
    call_command("makemigrations", "connectors", "--check", "--dry-run", verbosity=0)  # exits non-zero if changed
