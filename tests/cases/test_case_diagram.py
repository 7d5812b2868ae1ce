"""The case page draws the procedure with the steps done and the current one, also as text."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.roles import Role
from cases.models import WorkItem
from cases.services import case_start, work_item_complete
from tests.factories import declaration_payload, make_tenant, make_user

pytestmark = pytest.mark.django_db

DECLARATION = declaration_payload()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _attr(page: str, name: str) -> list[str]:
    return [v for v in re.search(rf'{name}="([^"]*)"', page).group(1).split(",") if v]


def test_the_diagram_marks_done_and_current_steps_and_lists_them_as_text():
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007")
    registrar, viewer = make_user(tenant, Role.REGISTRAR), make_user(tenant, Role.VIEWER)
    case = case_start(tenant=tenant, user=registrar, process_id="residence_change", data=DECLARATION)
    page = _client(viewer).get(f"/pratiche/{case.pk}/").content.decode()
    # The registrar's check and the protocol registration of the declaration (waiting on the outbox).
    assert sorted(_attr(page, "data-current")) == ["protocol_in", "registration"]
    assert "start" in _attr(page, "data-done")
    assert "Registrazione della dichiarazione" in page.split('id="diagram-text"')[1]

    item = WorkItem.objects.get(case=case, bpmn_id="registration")
    work_item_complete(work_item_id=item.pk, tenant=tenant, user=registrar,
                       data={"origin": "same_municipality", "documents_checked": True})
    page = _client(viewer).get(f"/pratiche/{case.pk}/").content.decode()
    assert "registration" in _attr(page, "data-done")
    # The check is done; the join waits for the protocol registration (on the outbox), then ANPR.
    assert sorted(_attr(page, "data-current")) == ["gw_join", "protocol_in"]

    bpmn = _client(viewer).get(f"/pratiche/{case.pk}/diagramma.bpmn")
    assert bpmn.status_code == 200 and bpmn["Content-Type"] == "application/xml"
    assert b'<bpmn:process id="residence_change"' in bpmn.content and b"BPMNDiagram" in bpmn.content


def test_another_tenant_cannot_read_the_diagram():
    call_command("sync_processes", verbosity=0)
    tenant, other = make_tenant(istat="046007"), make_tenant(istat="046017")
    case = case_start(tenant=tenant, user=make_user(tenant, Role.REGISTRAR), process_id="residence_change",
                      data=DECLARATION)
    assert _client(make_user(other, Role.REGISTRAR)).get(f"/pratiche/{case.pk}/diagramma.bpmn").status_code == 404
    assert _client(make_user(other, Role.REGISTRAR)).get("/pratiche/abc/diagramma.bpmn").status_code == 404


def test_case_data_shows_the_choice_labels_the_form_showed():
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant(istat="046007")
    registrar = make_user(tenant, Role.REGISTRAR)
    case = case_start(tenant=tenant, user=registrar, process_id="residence_change", data=DECLARATION)
    item = WorkItem.objects.get(case=case, bpmn_id="registration")
    work_item_complete(work_item_id=item.pk, tenant=tenant, user=registrar,
                       data={"origin": "abroad", "documents_checked": True})
    page = _client(registrar).get(f"/pratiche/{case.pk}/").content.decode()
    assert "Provenienza: Dall&#x27;estero" in page and "abroad" not in page.split('id="h-data"')[1].split("</dl>")[0]
