"""A residence change opened from an ANPR portal request carries that request's code, and its
outcome goes back to it (P003): only the linking case may set the code. A person naming someone
else's request code when opening a case is refused, in the API and on the "Nuova pratica" page."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.roles import Role
from cases.models import Case
from common import clock
from forms.rendering import build_fields
from tests.factories import api_client, declaration_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(make_office):
    clock.freeze(dt.datetime(2026, 3, 9, 8, 30, tzinfo=dt.UTC))
    return make_office(citizen=Role.CITIZEN)


@pytest.mark.parametrize("field", ["anpr_request_code", "linked_case"])
def test_a_person_cannot_name_the_anpr_request_a_case_answers(office, field):
    client = api_client(office["registrar"], office["tenant"])
    value = "500001" if field == "anpr_request_code" else "2026/000001"
    response = client.post("/api/v1/cases/", {"process": "residence_change",
                                              "data": declaration_payload(**{field: value})}, format="json")
    assert response.status_code == 400, response.content
    assert field in str(response.json())
    assert not Case.objects.exists()


def test_the_start_form_has_no_input_for_system_fields():
    schema = {"properties": {"a": {"type": "string"}, "b": {"type": "string", "x-platform-only": True}}}
    assert [f.name for f in build_fields(schema, {"ui:order": ["b", "a"]})] == ["a"]


def test_a_declaration_with_household_and_documents_opens_with_their_defaults(office):
    client = api_client(office["registrar"], office["tenant"])
    response = client.post("/api/v1/cases/", {"process": "residence_change", "data": declaration_payload()},
                           format="json")
    assert response.status_code == 201, response.content
    data = Case.objects.get(pk=response.json()["id"]).data
    assert (data["co_movers"], data["joins_household_of"], data["anpr_request_code"]) == ([], "", "")


def test_both_linked_cases_show_each_other_on_the_case_page(office):
    from django.test import Client

    from cases.services import case_start_from_platform

    client = api_client(office["registrar"], office["tenant"])
    first = Case.objects.get(pk=client.post("/api/v1/cases/", {"process": "residence_change",
                                                               "data": declaration_payload()},
                                            format="json").json()["id"])
    linked, created = case_start_from_platform(
        tenant=office["tenant"], process_id="residence_change", business_key="ANPR-500001",
        source=f"pratica {first.number}", received_on="2026-03-08", channel="anpr",
        data=declaration_payload(anpr_request_code="500001", linked_case=first.number))
    assert created and linked.data["received_on"] == "2026-03-08" and linked.data["channel"] == "anpr"
    browser = Client()
    browser.force_login(office["registrar"])
    page = browser.get(f"/pratiche/{linked.pk}/").content.decode()
    assert "Pratiche collegate" in page and f"/pratiche/{first.pk}/" in page and "ANPR-500001" in page
    page = browser.get(f"/pratiche/{first.pk}/").content.decode()
    assert "Pratiche collegate" in page and f"/pratiche/{linked.pk}/" in page
