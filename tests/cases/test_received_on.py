"""The date a request reached the office (`received_on`) and how (`channel`): every term runs from
it, it is never in the future, backdating beyond 5 working days is a supervisor's audited act, and a
citizen filing online cannot choose it (issue 10, "Date of receipt")."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import Case, WorkItem
from common import clock
from tests.factories import api_client, declaration_payload

pytestmark = pytest.mark.django_db

MONDAY = dt.datetime(2026, 3, 9, 8, 30, tzinfo=dt.UTC)  # Monday 9 March 2026, 09:30 in Rome


@pytest.fixture
def office(make_office):
    clock.freeze(MONDAY)
    return make_office(citizen=Role.CITIZEN)


def _post(office, who, **body):
    client = api_client(office[who], office["tenant"])
    return client.post("/api/v1/cases/", {"process": "residence_change", "data": declaration_payload(), **body},
                       format="json")


def _case(response) -> Case:
    assert response.status_code == 201, response.content
    return Case.objects.get(pk=response.json()["id"])


def _registration_due(case: Case) -> dt.date:
    return WorkItem.objects.get(case=case, bpmn_id="registration").due_at


def test_without_a_date_the_request_is_received_today_at_the_counter(office):
    case = _case(_post(office, "registrar"))
    assert case.data["received_on"] == "2026-03-09" and case.data["channel"] == "counter"
    assert case.legal_due_date == dt.date(2026, 4, 23)  # 45 calendar days, a Thursday
    assert _registration_due(case) == dt.date(2026, 3, 11)  # 2 working days


def test_every_term_runs_from_the_date_of_receipt(office):
    # A PEC that arrived on Wednesday 4 March, keyed in on Monday 9 (3 working days later).
    case = _case(_post(office, "registrar", received_on="2026-03-04", channel="pec"))
    assert case.data["received_on"] == "2026-03-04" and case.data["channel"] == "pec"
    assert case.legal_due_date == dt.date(2026, 4, 20)  # 18 April is a Saturday: Monday 20
    assert _registration_due(case) == dt.date(2026, 3, 6)  # already late: the inbox shows it overdue
    event = AuditEvent.objects.get(object_type="case", object_id=str(case.pk), action="create")
    assert event.after["received_on"] == "2026-03-04" and event.after["channel"] == "pec"


def test_a_date_in_the_future_is_refused(office):
    response = _post(office, "registrar", received_on="2026-03-10")
    assert response.status_code == 400 and "received_on" in str(response.json())
    assert _post(office, "registrar", received_on="09/03/2026x").status_code == 400
    assert _post(office, "registrar", channel="fax").status_code == 400
    assert not Case.objects.exists()


def test_backdating_beyond_five_working_days_needs_a_supervisor_and_a_reason(office):
    # Friday 27 February is 6 working days before Monday 9 March; Monday 2 March is exactly 5.
    assert _case(_post(office, "registrar", received_on="2026-03-02", channel="post"))
    refused = _post(office, "registrar", received_on="2026-02-27", channel="post", received_on_reason="x")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "received_on_not_allowed"
    no_reason = _post(office, "supervisor", received_on="2026-02-27", channel="post")
    assert no_reason.status_code == 400 and "received_on_reason" in str(no_reason.json())
    assert Case.objects.count() == 1
    case = _case(_post(office, "supervisor", received_on="2026-02-27", channel="post",
                       received_on_reason="Raccomandata protocollata in ritardo dall'ufficio posta"))
    assert case.data["received_on_reason"].startswith("Raccomandata")
    assert case.legal_due_date == dt.date(2026, 4, 13)  # 45 days from 27 February
    event = AuditEvent.objects.get(object_type="case", object_id=str(case.pk), action="create")
    assert event.after["received_on"] == "2026-02-27" and event.after["received_on_reason"].startswith("Raccomandata")


def test_a_citizen_filing_online_cannot_choose_the_date_or_channel(office):
    assert _post(office, "citizen", received_on="2026-03-05").status_code == 400
    assert _post(office, "citizen", channel="counter").status_code == 400
    case = _case(_post(office, "citizen"))
    assert case.data["received_on"] == "2026-03-09" and case.data["channel"] == "portal"


def test_the_new_case_page_takes_the_date_and_channel(office):
    client = Client()
    client.force_login(office["registrar"])
    url = "/pratiche/nuova/residence_change/"
    page = client.get(url).content.decode()
    assert 'name="received_on"' in page and 'value="2026-03-09"' in page and 'max="2026-03-09"' in page
    assert '<option value="pec"' in page and "Data di ricezione" in page
    valid = {
        "declarants.0.fiscal_code": "RSSMRA80A01H501U", "declarants.0.given_name": "Mario",
        "declarants.0.family_name": "Rossi", "new_address.street": "Via Roma", "new_address.house_number": "12",
        "new_address.municipality_istat": "046007", "declaration_date": "04/03/2026",
    }
    late = client.post(url, {**valid, "received_on": "2026-02-20", "channel": "post"})
    body = late.content.decode()
    assert late.status_code == 400 and "Solo un responsabile" in body and 'value="Via Roma"' in body
    assert client.post(url, {**valid, "received_on": "2026-03-20"}).status_code == 400
    assert not Case.objects.exists()
    client.post(url, {**valid, "received_on": "2026-03-05", "channel": "email"})
    case = Case.objects.get()
    assert case.data["received_on"] == "2026-03-05" and case.data["channel"] == "email"
