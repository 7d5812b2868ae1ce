from __future__ import annotations

import base64
import datetime as dt

import httpx
import pytest

from common import clock
from common.operations import PermanentError, RetryableError, get_operation
from connectors.base.errors import InvalidRequest
from connectors.base.openapi import errors_for, request_pointer, response_pointer
from connectors.send.client import PRELOAD, REQUESTS, SENT, SPEC, SendClient, sha256_b64
from connectors.send.simulator import SendSimulator
from tests.connectors.base.support import ctx_for, running
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PARAMS = {
    "subject": "Provvedimento di diniego dell'iscrizione anagrafica",
    "pa_protocol_number": "2026/0001234",
    "recipient": {"tax_id": "PRVGNN90R10H501Q", "denomination": "Giovanni Prova",
                  "physical_address": {"address": "Via Roma 1", "zip": "00100", "municipality": "Roma",
                                       "province": "RM"}},
    "documents": [{"title": "Provvedimento", "content_base64": base64.b64encode(PDF).decode()}],
}


@pytest.fixture
def send_sim(monkeypatch):
    app = SendSimulator(speed=1.0)
    with running(app, monkeypatch, "send") as server:
        yield app, server


def create(params, ctx):
    return get_operation("send.create_notification")(params, ctx)


def status(request_id, tenant):
    return get_operation("send.get_status")({"notification_request_id": request_id}, ctx_for(tenant))


def test_a_notification_is_uploaded_sent_and_followed_to_effective_date(send_sim):
    app, _ = send_sim
    clock.freeze()
    tenant = make_tenant()
    result = create(PARAMS, ctx_for(tenant))
    assert result["status"] == "WAITING"
    (stored,) = app.files.values()
    assert stored["sha256"] == sha256_b64(PDF)
    sent = app.recorded("POST", REQUESTS)[0]
    assert sent.headers["x-api-key"] == "demo-send-key"
    assert errors_for(SPEC, request_pointer(SPEC, "post", REQUESTS), sent.json()) == []
    assert errors_for(SPEC, request_pointer(SPEC, "post", PRELOAD), app.recorded("POST", PRELOAD)[0].json()) == []
    # The API key must not travel to the storage's presigned URL.
    assert "x-api-key" not in {k.lower() for k in app.recorded("PUT", "/__upload__/")[0].headers.keys()}

    first = status(result["notification_request_id"], tenant)
    assert first["request_status"] == "WAITING" and first["iun"] is None

    clock.advance(dt.timedelta(seconds=11))
    accepted = status(result["notification_request_id"], tenant)
    assert accepted["request_status"] == "ACCEPTED"
    assert accepted["notification_status"] == "ACCEPTED"

    clock.advance(dt.timedelta(minutes=10))
    assert status(result["notification_request_id"], tenant)["notification_status"] == "DELIVERED"
    clock.advance(dt.timedelta(days=8))
    final = status(result["notification_request_id"], tenant)
    assert final["notification_status"] == "EFFECTIVE_DATE"
    assert final["status_history"] == ["IN_VALIDATION", "ACCEPTED", "DELIVERING", "DELIVERED", "EFFECTIVE_DATE"]


def test_a_checksum_mismatch_is_refused_by_the_platform(send_sim):
    app, server = send_sim
    client = SendClient(server.url, api_key="k")
    uploaded = client.upload(PDF)
    doc = uploaded.as_notification_document(title="x", index=0)
    doc["digests"]["sha256"] = sha256_b64(b"something else")
    body = {"paProtocolNumber": "P1", "subject": "s", "recipients": [{"recipientType": "PF",
            "taxId": "PRVGNN90R10H501Q", "denomination": "G P"}], "documents": [doc],
            "notificationFeePolicy": "FLAT_RATE", "physicalCommunicationType": "AR_REGISTERED_LETTER",
            "senderDenomination": "Comune", "senderTaxId": "00000000000", "taxonomyCode": "010101P"}
    clock.freeze()
    request_id = client.send_notification(body)["notificationRequestId"]
    clock.advance(dt.timedelta(seconds=11))
    refused = client.request_status(notification_request_id=request_id)
    assert refused["notificationRequestStatus"] == "REFUSED"
    assert refused["errors"][0]["code"] == "FILE_SHA_ERROR"


def test_an_upload_with_a_wrong_checksum_is_rejected_by_the_storage(send_sim):
    _, server = send_sim
    slot = httpx.post(f"{server.url}{PRELOAD}", headers={"x-api-key": "k"},
                      json=[{"preloadIdx": "0", "contentType": "application/pdf", "sha256": sha256_b64(PDF)}]).json()[0]
    put = httpx.put(slot["url"], content=b"%PDF-tampered", headers={"x-amz-meta-secret": slot["secret"],
                                                                    "x-amz-checksum-sha256": sha256_b64(PDF)})
    assert put.status_code == 400


def test_a_repeated_or_lost_answer_delivery_sends_one_notification(send_sim):
    app, _ = send_sim
    tenant = make_tenant()
    ctx = ctx_for(tenant, key="case-5:notify-send")
    first = create(PARAMS, ctx)
    assert create(PARAMS, ctx) == first  # remembered result
    # Lost answer: the result was never stored, the platform already has the request.
    from connectors.models import OperationResult

    OperationResult.objects.all().delete()
    again = create(PARAMS, ctx)
    assert again["notification_request_id"] == first["notification_request_id"]
    assert len(app.requests_by_id) == 1


def test_send_down_for_a_while_then_back(send_sim):
    app, _ = send_sim
    ctx = ctx_for(make_tenant(), key="case-6:notify-send")
    app.faults.set(fail_count=2, fail_status=500)
    for _ in range(2):
        with pytest.raises(RetryableError):
            create(PARAMS, ctx)
    assert create(PARAMS, ctx)["status"] == "WAITING"
    assert len(app.requests_by_id) == 1


def test_bad_input_is_refused_before_calling_send(send_sim):
    app, _ = send_sim
    bad_doc = {**PARAMS, "documents": [{"title": "x", "content_base64": base64.b64encode(b"not a pdf").decode()}]}
    for params in (bad_doc, {**PARAMS, "subject": "x" * 135}, {**PARAMS, "recipient": {}}):
        with pytest.raises(InvalidRequest) as info:
            create(params, ctx_for(make_tenant()))
        assert isinstance(info.value, PermanentError)
    assert app.requests == []


def test_simulator_answers_match_the_send_contract(send_sim):
    app, server = send_sim
    clock.freeze()
    tenant = make_tenant()
    result = create(PARAMS, ctx_for(tenant))
    headers = {"x-api-key": "k"}
    waiting = httpx.get(f"{server.url}{REQUESTS}", params={"notificationRequestId": result["notification_request_id"]},
                        headers=headers).json()
    assert errors_for(SPEC, response_pointer(SPEC, "get", REQUESTS, 200), waiting) == []
    clock.advance(dt.timedelta(minutes=2))
    accepted = httpx.get(f"{server.url}{REQUESTS}",
                         params={"notificationRequestId": result["notification_request_id"]}, headers=headers).json()
    sent = httpx.get(f"{server.url}{SENT.format(iun=accepted['iun'])}", headers=headers).json()
    assert errors_for(SPEC, response_pointer(SPEC, "get", SENT, 200), sent) == []
    bad = httpx.post(f"{server.url}{REQUESTS}", json={"subject": "x"}, headers=headers)
    assert bad.status_code == 400
    assert errors_for(SPEC, response_pointer(SPEC, "post", REQUESTS, 400), bad.json()) == []
