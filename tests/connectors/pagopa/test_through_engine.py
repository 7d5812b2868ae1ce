"""A case's service tasks run through the engine's outbox against the simulators over HTTP:
pay a fee on pagoPA, wait for "payment received", then tell the citizen on App IO."""

from __future__ import annotations

import datetime as dt

import pytest

from cases.tasks import deliver_payments
from common import clock
from connectors.appio.simulator import AppIoSimulator
from connectors.pagopa.simulator import GpdSimulator
from engine.models import InstanceStatus, OutboxMessage, OutboxStatus, ProcessVersion, WorkflowInstance
from engine.registry import process_version_publish
from engine.services import instance_start, outbox_deliver_due
from tests.connectors.base.support import running
from tests.engine_models import inline_bundle
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

MARKDOWN = ("Abbiamo ricevuto il pagamento dei diritti di segreteria per la sua pratica. "
            "La pratica prosegue: riceverà un nuovo messaggio al termine delle verifiche.")

BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://procedo.example/tests">
  <bpmn:message id="msg_paid" name="pagamento_ricevuto" />
  <bpmn:process id="fee_and_notice" name="Diritti e avviso" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="create_fee" name="Crea avviso pagoPA">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="pagopa.create_debt_position" resultVariable="fee">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="amount" type="str" value="'16.00'" />
            <spiffworkflow:parameter id="description" type="str" value="'Diritti di segreteria'" />
            <spiffworkflow:parameter id="debtor_fiscal_code" type="str" value="applicant_fiscal_code" />
            <spiffworkflow:parameter id="debtor_name" type="str" value="applicant_name" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:intermediateCatchEvent id="paid" name="Pagamento ricevuto">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="msg_paid" />
    </bpmn:intermediateCatchEvent>
    <bpmn:serviceTask id="tell_citizen" name="Avvisa su App IO">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="appio.send_message" resultVariable="io">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="fiscal_code" type="str" value="applicant_fiscal_code" />
            <spiffworkflow:parameter id="subject" type="str" value="'Pagamento ricevuto'" />
            <spiffworkflow:parameter id="markdown" type="str" value="'{MARKDOWN}'" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="create_fee" />
    <bpmn:sequenceFlow id="f2" sourceRef="create_fee" targetRef="paid" />
    <bpmn:sequenceFlow id="f3" sourceRef="paid" targetRef="tell_citizen" />
    <bpmn:sequenceFlow id="f4" sourceRef="tell_citizen" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def version() -> ProcessVersion:
    outcome = process_version_publish(bundle=inline_bundle("fee_and_notice", "Diritti e avviso", {"fee_and_notice.bpmn": BPMN}))
    return ProcessVersion.objects.get(definition__process_id="fee_and_notice", version=outcome.version)


@pytest.fixture
def sims(monkeypatch):
    gpd, io = GpdSimulator(), AppIoSimulator()
    with running(gpd, monkeypatch, "pagopa") as gpd_server, running(io, monkeypatch, "appio"):
        yield gpd, gpd_server, io


def start_case(version, tenant, number):
    return instance_start(tenant=tenant, version=version, case_id=1, case_number=number,
                          data={"applicant_fiscal_code": "PRVGNN90R10H501Q", "applicant_name": "Giovanni Prova"})


def test_a_case_pays_on_pagopa_and_is_told_on_app_io(version, sims):
    gpd, _, io = sims
    tenant = make_tenant()
    start_case(version, tenant, "2026/000101")
    assert outbox_deliver_due() == {"done": 1}
    instance = WorkflowInstance.objects.get(case_number="2026/000101")
    assert instance.status == InstanceStatus.RUNNING
    (position,) = gpd.positions.values()
    assert position["fiscalCode"] == "PRVGNN90R10H501Q"

    assert deliver_payments() == 0  # not paid yet: the case keeps waiting
    gpd.mark_paid(position["paymentOption"][0]["nav"])
    assert deliver_payments() == 1
    assert outbox_deliver_due() == {"done": 1}

    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert len(io.messages) == 1 and io.messages[0]["content"]["subject"] == "Pagamento ricevuto"


def test_pagopa_down_for_a_while_then_back_the_case_completes_exactly_once(version, sims):
    gpd, gpd_server, io = sims
    clock.freeze()
    tenant = make_tenant()
    start_case(version, tenant, "2026/000102")
    gpd_server.stop()
    assert outbox_deliver_due() == {"retry": 1}
    clock.advance(dt.timedelta(minutes=5))
    assert outbox_deliver_due() == {"retry": 1}
    gpd_server.start()  # back on the same port
    clock.advance(dt.timedelta(minutes=5))
    assert outbox_deliver_due() == {"done": 1}
    clock.advance(dt.timedelta(hours=1))
    assert outbox_deliver_due() == {}  # nothing left to repeat
    assert len(gpd.positions) == 1

    gpd.mark_paid(next(iter(gpd.positions.values()))["paymentOption"][0]["nav"])
    assert deliver_payments() == 1
    assert deliver_payments() == 0  # acknowledged: never delivered twice
    io.faults.set(fail_count=1, fail_status=503)
    assert outbox_deliver_due() == {"retry": 1}
    clock.advance(dt.timedelta(minutes=5))
    assert outbox_deliver_due() == {"done": 1}
    assert len(io.messages) == 1
    assert WorkflowInstance.objects.get(case_number="2026/000102").status == InstanceStatus.COMPLETED
    assert OutboxMessage.objects.filter(status=OutboxStatus.DONE).count() == 2
