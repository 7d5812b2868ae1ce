"""Repairable incidents (issue 10): a case whose step failed on its data goes back to the user task
that produced the data, from the incidents page, with the reason audited; never when the call may
have reached the platform, nor when a service call after that task already ran (ANPR would register
twice). Real services, PostgreSQL, the connector simulators over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from audit.models import AuditEvent
from cases import services
from cases.models import WorkItem, WorkItemStatus
from common import clock
from common.errors import Conflict
from engine import services as engine
from engine.models import Incident, IncidentStatus, OutboxMessage
from engine.selectors import incident_send_back_targets
from tests.factories import declaration_payload
from tests.procedures.test_residence_change import signer_2026, simulators  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

START = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)
NOT_RESIDENT = "VRDLGU75E15E715E"  # unknown to the ANPR simulator as a resident of Capannori


@pytest.fixture
def office(simulators, signer_2026, settings, make_office):  # noqa: F811
    settings.PROCEDO_DOCUMENTS_SIGNERS = signer_2026
    clock.freeze(START)
    return make_office(patron=(7, 25))


def _drain() -> None:
    for _ in range(8):
        if not engine.outbox_deliver_due():
            return


def _complete(office, case, bpmn_id, data, who="registrar"):
    item = WorkItem.objects.get(case=case, bpmn_id=bpmn_id, status=WorkItemStatus.OPEN)
    services.work_item_claim(work_item_id=item.pk, tenant=office["tenant"], user=office[who])
    services.work_item_complete(work_item_id=item.pk, tenant=office["tenant"], user=office[who], data=data)


def _open(office, fiscal_code=NOT_RESIDENT):
    data = declaration_payload(declarants=[{"fiscal_code": fiscal_code, "given_name": "Luigi", "family_name": "Verdi"}])
    return services.case_start(tenant=office["tenant"], user=office["registrar"], process_id="residence_change",
                               data=data)


def _incident(case) -> Incident:
    return Incident.objects.select_related("instance").get(instance__case_id=case.pk, status=IncidentStatus.OPEN)


def test_the_incident_page_sends_the_case_back_and_the_task_opens_with_what_was_entered(office):
    case = _open(office)
    _complete(office, case, "registration", {"origin": "same_municipality", "documents_checked": True})
    _drain()
    incident = _incident(case)
    assert incident.data_error and incident.task_bpmn_id == "anpr_registration"

    web = Client()
    web.force_login(office["supervisor"])
    page = web.get("/amministrazione/incidenti/").content.decode()
    assert "Rimanda al compito" in page and 'value="registration"' in page
    # Without a reason nothing moves.
    web.post(f"/amministrazione/incidenti/{incident.pk}/rimanda/", {"target": "registration", "reason": ""})
    assert _incident(case).pk == incident.pk
    reason = "Proviene da Lucca: la provenienza va corretta."
    response = web.post(f"/amministrazione/incidenti/{incident.pk}/rimanda/", {"target": "registration", "reason": reason})
    assert response.status_code == 302

    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED and incident.resolved_by == office["supervisor"]
    item = WorkItem.objects.get(case=case, bpmn_id="registration", status=WorkItemStatus.OPEN)
    assert item.assignee is None
    event = AuditEvent.objects.filter(object_type="case", object_id=str(case.pk), actor=office["supervisor"]).last()
    assert reason in event.summary and event.extra["reason"] == reason

    registrar = Client()
    registrar.force_login(office["registrar"])
    task_page = registrar.get(f"/compiti/{item.pk}/").content.decode()
    assert reason in task_page and 'value="same_municipality" checked' in task_page.replace("checked=\"\"", "checked")

    _complete(office, case, "registration", {"origin": "other_municipality", "previous_municipality": "046017",
                                              "documents_checked": True})
    _drain()
    case.refresh_from_db()
    assert case.data["anpr_registration_result"]["operation"] == "1002"
    assert WorkItem.objects.filter(case=case, bpmn_id="police_verification", status=WorkItemStatus.OPEN).exists()
    # Two ANPR calls, two idOperazioneComune: the refused 5005 and the 1002 made on the corrected data.
    calls = OutboxMessage.objects.filter(instance__case_id=case.pk, operation="anpr.mutazione_residenza")
    assert calls.count() == 2 and len({c.idempotency_key for c in calls}) == 2


def test_no_send_back_past_a_service_call_that_already_ran(office, settings):
    case = _open(office, fiscal_code="RSSMRA80A01H501U")
    settings.PROCEDO_DOCUMENTS_SIGNERS = {"default": {"kind": "pkcs12", "path": "/nonexistent.p12", "passphrase": "x"}}
    _complete(office, case, "registration", {"origin": "same_municipality", "documents_checked": True})
    _drain()
    incident = _incident(case)
    assert incident.task_bpmn_id == "notice_of_start"
    # ANPR registered the change after the registration task: going back there would register it twice.
    assert incident_send_back_targets(incident=incident) == []
    with pytest.raises(Conflict) as refused:
        services.incident_send_back(tenant=office["tenant"], user=office["supervisor"], incident_id=incident.pk,
                                    target="registration", reason="Provo a tornare indietro comunque.")
    assert refused.value.code == "would_repeat_service"
    assert _incident(case).pk == incident.pk  # still open: "Riprova" is the way out


def test_a_platform_that_did_not_answer_is_retried_never_sent_back(office, settings):
    settings.PROCEDO_ANPR_BASE_URL = "http://127.0.0.1:9"  # nothing listens: the call may or may not arrive
    settings.PROCEDO_ANPR_TIMEOUT = "1"
    settings.PROCEDO_OUTBOX_MAX_ATTEMPTS = 1
    case = _open(office, fiscal_code="RSSMRA80A01H501U")
    _complete(office, case, "registration", {"origin": "same_municipality", "documents_checked": True})
    _drain()
    incident = _incident(case)
    assert not incident.data_error and incident_send_back_targets(incident=incident) == []
    with pytest.raises(Conflict) as refused:
        services.incident_send_back(tenant=office["tenant"], user=office["supervisor"], incident_id=incident.pk,
                                    target="registration", reason="ANPR non risponde, torno indietro.")
    assert refused.value.code == "not_a_data_error"
