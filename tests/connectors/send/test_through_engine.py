"""Register, notify and preserve a deed: protocol, SEND and PARER service tasks run through the
engine's outbox against the simulators over HTTP, surviving a platform outage exactly once."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from common import clock
from connectors.parer.simulator import ParerSimulator
from connectors.protocollo.simulator import ProtocolSimulator
from connectors.send.simulator import SendSimulator
from engine.models import InstanceStatus, ProcessVersion, WorkflowInstance
from engine.registry import process_version_publish
from engine.selectors import instance_data
from engine.services import instance_start, outbox_deliver_due
from tests.connectors.base.support import running
from tests.connectors.parer.test_parer import sip
from tests.engine_models import inline_bundle
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 atto firmato\n%%EOF\n"


def _task(task_id: str, operation: str, result: str, params: dict[str, str], incoming: str, outgoing: str) -> str:
    rendered = "".join(f'<spiffworkflow:parameter id="{k}" type="any" value="{v}" />' for k, v in params.items())
    return (f'<bpmn:serviceTask id="{task_id}"><bpmn:extensionElements>'
            f'<spiffworkflow:serviceTaskOperator id="{operation}" resultVariable="{result}">'
            f"<spiffworkflow:parameters>{rendered}</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>"
            f"</bpmn:extensionElements><bpmn:incoming>{incoming}</bpmn:incoming>"
            f"<bpmn:outgoing>{outgoing}</bpmn:outgoing></bpmn:serviceTask>")


TASKS = (
    _task("register", "protocol.register", "protocol", {
        "direction": "'out'", "subject": "'Provvedimento di diniego'",
        "correspondent": "{'type': 'person', 'first_name': 'Giovanni', 'last_name': 'Prova'}",
        "document": "{'filename': 'atto.pdf', 'sha256': doc_sha256}"}, "f1", "f2")
    + _task("notify", "send.create_notification", "notification", {
        "subject": "'Provvedimento di diniego'", "pa_protocol_number": "protocol['protocol_number']",
        "recipient": "{'tax_id': 'PRVGNN90R10H501Q', 'denomination': 'Giovanni Prova'}",
        "documents": "[{'title': 'Provvedimento', 'content_base64': doc_b64}]"}, "f2", "f3")
    + _task("preserve", "parer.send_sip", "preservation", {
        "sip_xml": "sip_xml", "files": "[{'id': 'COMP-77', 'filename': 'atto.pdf.p7m', 'content_base64': doc_b64}]"},
        "f3", "f4")
)

BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://procedo.example/tests">
  <bpmn:process id="deed_out" name="Atto in uscita" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {TASKS}
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="register" />
    <bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="notify" />
    <bpmn:sequenceFlow id="f3" sourceRef="notify" targetRef="preserve" />
    <bpmn:sequenceFlow id="f4" sourceRef="preserve" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def version() -> ProcessVersion:
    outcome = process_version_publish(bundle=inline_bundle("deed_out", "Atto in uscita", {"deed_out.bpmn": BPMN}))
    return ProcessVersion.objects.get(definition__process_id="deed_out", version=outcome.version)


@pytest.fixture
def sims(monkeypatch):
    proto, send, parer = ProtocolSimulator(), SendSimulator(), ParerSimulator()
    with running(proto, monkeypatch, "protocollo"), running(send, monkeypatch, "send") as send_server, \
            running(parer, monkeypatch, "parer"):
        yield proto, send, send_server, parer


def test_a_deed_is_registered_notified_and_preserved_once_despite_send_being_down(version, sims):
    proto, send, send_server, parer = sims
    clock.freeze()
    tenant = make_tenant()
    result = instance_start(tenant=tenant, version=version, case_id=7, case_number="2026/000777", data={
        "doc_b64": base64.b64encode(PDF).decode(), "doc_sha256": hashlib.sha256(PDF).hexdigest(),
        "sip_xml": sip("77"),
    })
    assert outbox_deliver_due() == {"done": 1}  # protocol
    send_server.stop()
    assert outbox_deliver_due() == {"retry": 1}  # SEND down
    clock.advance(dt.timedelta(minutes=5))
    assert outbox_deliver_due() == {"retry": 1}
    send_server.start()
    clock.advance(dt.timedelta(minutes=5))
    assert outbox_deliver_due() == {"done": 1}  # SEND back
    assert outbox_deliver_due() == {"done": 1}  # PARER
    clock.advance(dt.timedelta(hours=2))
    assert outbox_deliver_due() == {}

    instance = WorkflowInstance.objects.get(pk=result.instance.pk)
    assert instance.status == InstanceStatus.COMPLETED
    data = instance_data(instance=instance)
    assert data["protocol"]["protocol_number"] == "0000001"
    assert len(proto.registrations) == 1
    (request,) = send.requests_by_id.values()
    assert request["body"]["paProtocolNumber"] == "0000001"
    assert data["preservation"]["outcome"] == "POSITIVO" and len(parer.deposits) == 1
