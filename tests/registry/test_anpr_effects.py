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
from registry.models import Household, HouseholdMember, HouseNumber, Person, Residence, Street
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
    # Giovanni moves without his wife (a member of his ANPR family who did not declare): in ANPR he
    # leaves that family and forms a new one; the register forms the same household, with ANPR's id.
    assert data["anpr_result"]["scope"] == "new_family"
    formed = Household.objects.get(tenant=tenant, anpr_id=data["anpr_result"]["family_id_anpr"])
    assert data["anpr_result"]["effects"]["registry"] == {"applied": True, "house_number": new.pk, "moved": [CF],
                                                         "added": [], "problems": [], "household": formed.pk,
                                                         "household_kind": "new"}
    assert list(formed.members.values_list("person__fiscal_code", "relationship")) == [(CF, 1)]
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


MOVE_WITH_HOUSEHOLD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://procedo.example/tests">
  <bpmn:process id="move_household" name="Cambio con famiglia" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="lookup"><bpmn:extensionElements>
      <spiffworkflow:serviceTaskOperator id="anpr.household_for_move" resultVariable="household">
        <spiffworkflow:parameters>
          <spiffworkflow:parameter id="joins_household_of" type="any" value="joins_household_of" />
          <spiffworkflow:parameter id="declarants" type="any" value="declarants" />
          <spiffworkflow:parameter id="co_movers" type="any" value="co_movers" />
        </spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>
    </bpmn:extensionElements><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:serviceTask id="move"><bpmn:extensionElements>
      <spiffworkflow:serviceTaskOperator id="anpr.mutazione_residenza" resultVariable="anpr_result">
        <spiffworkflow:parameters>
          <spiffworkflow:parameter id="declarants" type="any" value="declarants" />
          <spiffworkflow:parameter id="co_movers" type="any" value="co_movers" />
          <spiffworkflow:parameter id="household" type="any" value="household" />
          <spiffworkflow:parameter id="new_address" type="any" value="new_address" />
          <spiffworkflow:parameter id="declaration_date" type="any" value="'2026-11-20'" />
          <spiffworkflow:parameter id="origin" type="any" value="'other_municipality'" />
        </spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>
    </bpmn:extensionElements><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="lookup" />
    <bpmn:sequenceFlow id="f2" sourceRef="lookup" targetRef="move" />
    <bpmn:sequenceFlow id="f3" sourceRef="move" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
FATHER, CHILD = "VRDLGU75E15E715E", "VRDMRC10A01E715O"


def _start_household(tenant, *, joins=""):
    outcome = process_version_publish(bundle=inline_bundle("move_household", "Cambio",
                                                           {"move_household.bpmn": MOVE_WITH_HOUSEHOLD}))
    version = ProcessVersion.objects.get(definition__process_id="move_household", version=outcome.version)
    return instance_start(tenant=tenant, version=version, case_id=8, case_number="2026/000008", data={
        "declarants": [{"fiscal_code": FATHER, "given_name": "Luigi", "family_name": "Verdi"}],
        "co_movers": [{"fiscal_code": CHILD, "given_name": "Marco", "family_name": "Verdi", "relationship": "child"}],
        "joins_household_of": joins,
        "new_address": {"street": "Via Roma", "house_number": "12B", "postal_code": "55012",
                        "municipality_istat": "046007"}})


def _drain():
    done = 0
    for _ in range(5):
        step = outbox_deliver_due().get("done", 0)
        if not step:
            break
        done += step
    return done


def test_people_moving_together_form_a_new_household_with_the_declarant_as_its_head(platforms, register):  # noqa: F811
    tenant, *_, new = register
    started = _start_household(tenant)
    assert _drain() == 2  # no ANPR lookup for a new household; the registration; then the register
    data = instance_data(instance=WorkflowInstance.objects.get(pk=started.instance.pk))
    assert data["household"]["kind"] == "new" and data["household"]["movers"] == [FATHER, CHILD]
    report = data["anpr_result"]["effects"]["registry"]
    assert report["moved"] == [FATHER, CHILD] and report["added"] == [FATHER, CHILD] and report["applied"]
    household = Household.objects.get(pk=report["household"])
    members = {m.person.fiscal_code: m.relationship for m in household.members.select_related("person")}
    assert members == {FATHER: 1, CHILD: 3}  # Intestatario Scheda, Figlio / Figlia (ANPR table 5)
    for code in (FATHER, CHILD):
        residence = Person.objects.get(tenant=tenant, fiscal_code=code).residences.get()
        assert (residence.house_number, residence.household) == (new, household)


def test_people_joining_an_existing_household_become_its_members(platforms, register):  # noqa: F811
    tenant, person, *_ = register
    started = _start_household(tenant, joins=CF)  # Giovanni Prova's family (simulator: with Maria Prova)
    assert _drain() == 2
    data = instance_data(instance=WorkflowInstance.objects.get(pk=started.instance.pk))
    household_info = data["household"]
    assert household_info["kind"] == "existing" and household_info["family_id_anpr"]
    assert household_info["head"]["fiscal_code"] == CF and CF in household_info["members"]
    assert data["anpr_result"]["household"]["family_id_anpr"] == household_info["family_id_anpr"]
    # Our register knows that household by ANPR's id: the movers join it, Giovanni stays its head.
    report = data["anpr_result"]["effects"]["registry"]
    assert report["household_kind"] == "existing" and report["household"] is None  # not in our register yet


def test_joining_a_household_known_locally_by_its_anpr_id(platforms, register):  # noqa: F811
    tenant, person, *_ = register
    # Learn the family id ANPR gives Giovanni Prova's household, then record it in our register.
    probe = _start_household(tenant, joins=CF)
    outbox_deliver_due()
    family_id = instance_data(instance=WorkflowInstance.objects.get(pk=probe.instance.pk))["household"]["family_id_anpr"]
    WorkflowInstance.objects.filter(pk=probe.instance.pk).delete()
    from engine.models import OutboxMessage
    OutboxMessage.objects.all().delete()
    household = Household.objects.create(tenant=tenant, anpr_id=family_id, formed_on=dt.date(2015, 1, 1))
    HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=1,
                                   joined_on=dt.date(2015, 1, 1))
    started = _start_household(tenant, joins=CF)
    assert _drain() == 2
    report = instance_data(instance=WorkflowInstance.objects.get(pk=started.instance.pk))["anpr_result"]["effects"]
    assert report["registry"]["household"] == household.pk and report["registry"]["applied"]
    members = {m.person.fiscal_code: m.relationship for m in household.members.filter(left_on__isnull=True)
               .select_related("person")}
    assert members == {CF: 1, FATHER: 99, CHILD: 3}  # the declarant's relationship was not declared


def test_a_household_anpr_does_not_know_is_refused_before_the_registration(platforms, register):  # noqa: F811
    tenant, *_ = register
    started = _start_household(tenant, joins="NNTNNT80A01H501X")
    outbox_deliver_due()
    data = instance_data(instance=WorkflowInstance.objects.get(pk=started.instance.pk))
    assert "household" not in data and "anpr_result" not in data
    assert not Person.objects.filter(tenant=tenant, fiscal_code=FATHER).exists()
