"""Citizen requests from the ANPR portal become cases exactly once; the registrar's outcome goes
back to ANPR with P003 (DOMAIN.md §4), through the outbox against the simulators over HTTP."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.roles import Role
from cases.models import Case, CaseStatus, WorkItem, WorkItemStatus
from cases.services import work_item_claim, work_item_complete
from cases.tasks import poll_anpr_citizen_requests
from engine.services import outbox_deliver_due
from tests.connectors.anpr.test_anpr import CF, platforms  # noqa: F401 - fixture
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db


def _settle():
    for _ in range(10):
        if not outbox_deliver_due():
            return


def test_each_request_opens_one_case_and_the_outcome_reaches_anpr(platforms):  # noqa: F811
    _, anpr, _, anpr_server = platforms
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007")
    make_tenant("Comune di Lucca", istat="046017")
    registrar = make_user(tenant, Role.REGISTRAR)
    first = anpr.add_citizen_request(sender="046007", fiscal_code=CF)
    anpr.add_citizen_request(sender="046017", fiscal_code="RSSMRA80A41E715N")

    assert poll_anpr_citizen_requests() == 2  # one for each comune
    assert poll_anpr_citizen_requests() == 0  # nothing new: never started twice
    case = Case.objects.get(tenant=tenant)
    assert case.business_key == f"ANPR-{first}" and case.process_id == "anpr_citizen_request"
    assert [s["fiscal_code"] for s in case.subjects] == [CF]

    anpr_server.stop()  # ANPR down: the poll skips, nothing breaks, nothing is lost
    second = anpr.add_citizen_request(sender="046007", fiscal_code=CF)
    assert poll_anpr_citizen_requests() == 0
    anpr_server.start()
    assert poll_anpr_citizen_requests() == 1
    assert Case.objects.filter(tenant=tenant, business_key=f"ANPR-{second}").exists()

    _settle()  # P002 detail into the case
    item = WorkItem.objects.get(case=case, status=WorkItemStatus.OPEN)
    assert item.bpmn_id == "triage"
    work_item_claim(work_item_id=item.pk, tenant=tenant, user=registrar)
    work_item_complete(work_item_id=item.pk, tenant=tenant, user=registrar,
                       data={"outcome": "rejected", "rejection_reason": "2",
                             "note": "Manca il documento di identità."})
    _settle()
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    request = anpr.citizen_requests[first]
    assert request["status"] == "4" and request["rejection_reason"] == "2"
    assert request["history"][-1][3] == "Manca il documento di identità."


def test_a_rejection_without_reason_is_refused_in_italian(platforms):  # noqa: F811
    from common.errors import ValidationFailed

    _, anpr, *_ = platforms
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant(istat="046007")
    registrar = make_user(tenant, Role.REGISTRAR)
    anpr.add_citizen_request(sender="046007", fiscal_code=CF)
    poll_anpr_citizen_requests()
    _settle()
    item = WorkItem.objects.get(case__tenant=tenant, bpmn_id="triage")
    with pytest.raises(ValidationFailed) as info:
        work_item_complete(work_item_id=item.pk, tenant=tenant, user=registrar, data={"outcome": "rejected"})
    assert "rejection_reason" in str(info.value.details)
