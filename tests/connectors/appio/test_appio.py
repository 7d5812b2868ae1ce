from __future__ import annotations

import pytest

from common.operations import PermanentError, RetryableError, get_operation
from connectors.appio.client import SPEC
from connectors.appio.simulator import AppIoSimulator
from connectors.base.errors import InvalidRequest
from connectors.base.openapi import errors_for, request_pointer, response_pointer
from connectors.models import OperationResult
from tests.connectors.base.support import ctx_for, running
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

ON_IO = "PRVGNN90R10H501Q"
BLOCKED = "RSSMRA80A01H501U"
ABSENT = "BNCLRA85M41F205Z"
MARKDOWN = (
    "La sua pratica di **cambio di residenza** è stata registrata. "
    "Riceverà una comunicazione al termine degli accertamenti della polizia locale."
)


@pytest.fixture
def io(monkeypatch):
    app = AppIoSimulator()
    with running(app, monkeypatch, "appio") as server:
        yield app, server


def send(params, ctx):
    return get_operation("appio.send_message")(params, ctx)


def test_a_citizen_on_io_receives_the_message(io):
    app, _ = io
    result = send({"fiscal_code": ON_IO, "subject": "Pratica registrata", "markdown": MARKDOWN},
                  ctx_for(make_tenant()))
    assert result["sent"] is True
    assert len(result["message_id"]) == 26
    (message,) = app.messages
    assert message["fiscal_code"] == ON_IO
    assert message["content"]["subject"] == "Pratica registrata"
    posted = app.recorded("POST", "/messages")[0]
    assert posted.headers["Ocp-Apim-Subscription-Key"] == "demo-io-key"
    assert errors_for(SPEC, request_pointer(SPEC, "post", "/messages"), posted.json()) == []


def test_a_citizen_not_on_io_is_reported_not_failed(io):
    app, _ = io
    result = send({"fiscal_code": ABSENT, "subject": "Pratica registrata", "markdown": MARKDOWN},
                  ctx_for(make_tenant()))
    assert result == {"sent": False, "reason": "not_on_io"}
    assert app.messages == []


def test_a_citizen_who_blocked_the_service_is_reported(io):
    app, _ = io
    result = send({"fiscal_code": BLOCKED, "subject": "Pratica registrata", "markdown": MARKDOWN},
                  ctx_for(make_tenant()))
    assert result == {"sent": False, "reason": "sender_not_allowed"}
    assert app.messages == []


@pytest.mark.parametrize(("subject", "markdown"), [
    ("Breve", MARKDOWN),
    ("x" * 121, MARKDOWN),
    ("Pratica registrata", "troppo corto"),
    ("Pratica registrata", "x" * 10001),
])
def test_content_outside_the_io_limits_is_refused_before_any_call(io, subject, markdown):
    app, _ = io
    with pytest.raises(InvalidRequest) as info:
        send({"fiscal_code": ON_IO, "subject": subject, "markdown": markdown}, ctx_for(make_tenant()))
    assert isinstance(info.value, PermanentError)
    assert app.requests == []


def test_payment_data_travels_with_the_message(io):
    app, _ = io
    send({"fiscal_code": ON_IO, "subject": "Avviso di pagamento", "markdown": MARKDOWN,
          "payment_data": {"amount": 1600, "notice_number": "347202600000000176",
                           "payee_fiscal_code": "00000000000"}},
         ctx_for(make_tenant()))
    payment = app.messages[0]["content"]["payment_data"]
    assert payment == {"amount": 1600, "notice_number": "347202600000000176", "payee": {"fiscal_code": "00000000000"}}


def test_a_repeated_delivery_sends_one_message(io):
    app, _ = io
    ctx = ctx_for(make_tenant(), key="case-9:notify")
    params = {"fiscal_code": ON_IO, "subject": "Pratica registrata", "markdown": MARKDOWN}
    first = send(params, ctx)
    assert send(params, ctx) == first
    assert len(app.messages) == 1
    assert OperationResult.objects.filter(operation="appio.send_message").count() == 1


def test_io_down_then_back_sends_exactly_once(io):
    app, _ = io
    ctx = ctx_for(make_tenant(), key="case-10:notify")
    params = {"fiscal_code": ON_IO, "subject": "Pratica registrata", "markdown": MARKDOWN}
    app.faults.set(fail_count=2, fail_status=503)
    for _ in range(2):
        with pytest.raises(RetryableError):
            send(params, ctx)
    assert send(params, ctx)["sent"] is True
    assert len(app.messages) == 1


def test_get_profile_operation_and_simulator_answers_match_the_contract(io):
    _, server = io
    import httpx

    op = get_operation("appio.get_profile")
    assert op({"fiscal_code": ON_IO}, ctx_for(make_tenant())) == {"on_io": True, "sender_allowed": True}
    assert op({"fiscal_code": ABSENT}, ctx_for(make_tenant())) == {"on_io": False, "sender_allowed": False}
    headers = {"Ocp-Apim-Subscription-Key": "k"}
    found = httpx.get(f"{server.url}/profiles/{ON_IO}", headers=headers)
    assert errors_for(SPEC, response_pointer(SPEC, "get", "/profiles/{fiscal_code}", 200), found.json()) == []
    missing = httpx.post(f"{server.url}/profiles", json={"fiscal_code": ABSENT}, headers=headers)
    assert missing.status_code == 404
    assert errors_for(SPEC, response_pointer(SPEC, "post", "/profiles", 404), missing.json()) == []
    created = httpx.post(f"{server.url}/messages/{ON_IO}", headers=headers,
                         json={"content": {"subject": "Pratica registrata", "markdown": MARKDOWN}})
    assert created.status_code == 201
    assert errors_for(SPEC, response_pointer(SPEC, "post", "/messages/{fiscal_code}", 201), created.json()) == []
    refused = httpx.post(f"{server.url}/messages/{ON_IO}", headers=headers,
                         json={"content": {"subject": "corto", "markdown": MARKDOWN}})
    assert refused.status_code == 400
    assert errors_for(SPEC, response_pointer(SPEC, "post", "/messages/{fiscal_code}", 400), refused.json()) == []
