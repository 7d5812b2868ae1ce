"""The local register follows ANPR in the case's transaction: the residence change accepted by ANPR
moves the declarants, its annulment restores them, and a move the register cannot make is reported
on the case (never lost, never silently corrected)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.models import InstanceStatus, ProcessVersion, WorkflowInstance
from engine.registry import process_version_publish
from engine.selectors import instance_data
from engine.services import instance_start, outbox_deliver_due
from registry.anpr_effects import _from_fiscal_code, street_match
from registry.models import HouseNumber, Person, Residence, Street
from tests.connectors.anpr.test_anpr import platforms  # noqa: F401 - the PDND and ANPR simulators
from tests.engine_models import inline_bundle
from tests.factories import make_tenant

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CF = "PRVGNN90R10H501Q"
MOVE_AND_UNDO = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://procedo.example/tests">
  <bpmn:process id="move_undo" name="Cambio e annullamento" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="move"><bpmn:extensionElements>
      <spiffworkflow:serviceTaskOperator id="anpr.mutazione_residenza" resultVariable="anpr_result">
        <spiffworkflow:parameters>
          <spiffworkflow:parameter id="declarants" type="any" value="declarants" />
          <spiffworkflow:parameter id="new_address" type="any" value="new_address" />
          <spiffworkflow:parameter id="declaration_date" type="any" value="'2026-11-20'" />
          <spiffworkflow:parameter id="origin" type="any" value="origin" />
        </spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>
    </bpmn:extensionElements><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:serviceTask id="undo"><bpmn:extensionElements>
      <spiffworkflow:serviceTaskOperator id="anpr.annullamento_mutazione" resultVariable="undo_result">
        <spiffworkflow:parameters>
          <spiffworkflow:parameter id="declarants" type="any" value="declarants" />
          <spiffworkflow:parameter id="registration_result" type="any" value="anpr_result" />
        </spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>
    </bpmn:extensionElements><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="move" />
    <bpmn:sequenceFlow id="f2" sourceRef="move" targetRef="undo" />
    <bpmn:sequenceFlow id="f3" sourceRef="undo" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def register():
    tenant = make_tenant(istat="046007")
    colli = Street.objects.create(tenant=tenant, code="V1", species=213, name="DEI COLLI", search_name="dei colli")
    roma = Street.objects.create(tenant=tenant, code="V2", species=213, name="ROMA", search_name="roma")
    old = HouseNumber.objects.create(tenant=tenant, street=colli, code="C1", number=3, created_on=dt.date(1970, 1, 1))
    new = HouseNumber.objects.create(tenant=tenant, street=roma, code="C2", number=12, suffix="B",
                                     created_on=dt.date(1970, 1, 1))
    person = Person.objects.create(tenant=tenant, fiscal_code=CF, family_name="PROVA", given_name="GIOVANNI",
                                   search_name="prova giovanni", sex="M", birth_date=dt.date(1990, 10, 10))
    Residence.objects.create(tenant=tenant, person=person, house_number=old, start_date=dt.date(2015, 1, 1),
                             opening_event="registration")
    return tenant, person, old, new


def _start(tenant, *, street="Via Roma", origin="same_municipality", declarants=None):
    outcome = process_version_publish(bundle=inline_bundle("move_undo", "Cambio", {"move_undo.bpmn": MOVE_AND_UNDO}))
    version = ProcessVersion.objects.get(definition__process_id="move_undo", version=outcome.version)
    return instance_start(tenant=tenant, version=version, case_id=7, case_number="2026/000007", data={
        "declarants": declarants or [{"fiscal_code": CF, "given_name": "Giovanni", "family_name": "Prova"}],
        "new_address": {"street": street, "house_number": "12B", "postal_code": "55012",
                        "municipality_istat": "046007"}, "origin": origin})


def test_the_change_accepted_by_anpr_moves_the_person_and_its_annulment_restores_them(platforms, register):  # noqa: F811
    tenant, person, old, new = register
    started = _start(tenant)
    assert outbox_deliver_due() == {"done": 1}  # the change: ANPR 5005, then the local register
    current = person.residences.get(end_date__isnull=True)
    assert (current.house_number, current.start_date, current.opening_event) == (new, dt.date(2026, 11, 20),
                                                                                   "internal_move")
    assert current.anpr_operation_ref
    previous = person.residences.get(house_number=old)
    assert (previous.end_date, previous.closing_event) == (dt.date(2026, 11, 20), "internal_move")
    data = instance_data(instance=WorkflowInstance.objects.get(pk=started.instance.pk))
    assert data["anpr_result"]["effects"]["registry"] == {"applied": True, "house_number": new.pk, "moved": [CF],
                                                         "added": [], "problems": []}
    assert outbox_deliver_due() == {"done": 1}  # the annulment: ANPR 5012, then the register again
    assert list(person.residences.values_list("house_number", "end_date")) == [(old.pk, None)]
    instance = WorkflowInstance.objects.get(pk=started.instance.pk)
    assert instance.status == InstanceStatus.COMPLETED
    assert instance_data(instance=instance)["undo_result"]["effects"]["registry"] == {"applied": True, "people": 1}


def test_a_newcomer_from_abroad_is_added_to_the_register(platforms, register):  # noqa: F811
    tenant, *_ , new = register
    _start(tenant, origin="abroad", declarants=[{"fiscal_code": "DPNJNE85T41Z110A", "given_name": "Jeanne",
                                                 "family_name": "Dupont"}])
    assert outbox_deliver_due() == {"done": 1}
    newcomer = Person.objects.get(tenant=tenant, fiscal_code="DPNJNE85T41Z110A")
    assert (newcomer.sex, newcomer.birth_date, newcomer.fiscal_code_validation) == ("F", dt.date(1985, 12, 1), 9)
    residence = newcomer.residences.get()
    assert (residence.house_number, residence.opening_event) == (new, "from_abroad")


def test_an_address_missing_from_the_street_register_is_reported_and_the_case_goes_on(platforms, register):  # noqa: F811
    tenant, person, old, _new = register
    started = _start(tenant, street="Via Inesistente")
    assert outbox_deliver_due() == {"done": 1}
    report = instance_data(instance=WorkflowInstance.objects.get(pk=started.instance.pk))["anpr_result"]["effects"]
    assert report["registry"]["applied"] is False and report["registry"]["code"] == "address_not_in_register"
    assert list(person.residences.values_list("house_number", "end_date")) == [(old.pk, None)]


def test_street_and_fiscal_code_readings(register):
    tenant, *_ = register
    assert street_match(tenant=tenant, text="VIA  Roma").name == "ROMA"
    assert street_match(tenant=tenant, text="via dei colli").name == "DEI COLLI"
    assert street_match(tenant=tenant, text="Piazza Nessuna") is None
    assert _from_fiscal_code("PRVGNN90R10H501Q") == ("M", dt.date(1990, 10, 10))
    assert _from_fiscal_code("PRVGNN90R10H501X") == ("M", dt.date(1990, 10, 10))  # wrong check character
    assert _from_fiscal_code("PRVGNN90R1") is None
    assert _from_fiscal_code("DPNJNE85B71Z110A") is None  # 31 February
