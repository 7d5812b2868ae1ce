"""Pages of the civil-status registers and of the alignment check: who sees them, reachable from
the person sheet, audited reads, fixes applied only by an explicit POST of a supervisor."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEvent
from registry.civil_status.services import act_register, annotation_add
from registry.models import AlignmentDifference, AlignmentRun, Person
from tests.factories import make_tenant, make_user, second_factor_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def marriage(tenant, person):
    bride = Person.objects.create(tenant=tenant, family_name="BIANCHI", given_name="ANNA", search_name="bianchi anna",
                                  sex="F", birth_date=dt.date(1982, 2, 2))
    act = act_register(tenant=tenant, actor=None, kind="marriage", act_date=dt.date(2010, 5, 5), office="Capannori",
                       officer="Sindaco", data={"marriage_date": "2010-05-05"}, text="Atto di matrimonio ...",
                       parties=[(person.pk, "spouse"), (bride.pk, "spouse")])
    annotation_add(tenant=tenant, actor=None, act_id=act.pk, kind="divorce", date=dt.date(2020, 1, 1),
                   authority="Tribunale di Lucca", reference="sentenza 1/2020")
    return act


def test_acts_are_found_from_the_person_sheet_and_their_sheet_is_audited(tenant, person, marriage, registrar):
    client = second_factor_client(registrar)
    sheet = client.get(f"/anagrafe/persone/{person.pk}/").content.decode()
    assert f"/anagrafe/atti/?person={person.pk}" in sheet
    found = client.get("/anagrafe/atti/", {"person": person.pk}).content.decode()
    assert f"/anagrafe/atti/{marriage.pk}/" in found
    assert f"/anagrafe/atti/{marriage.pk}/" in client.get("/anagrafe/atti/", {"name": "bianchi anna"}).content.decode()
    assert f"/anagrafe/atti/{marriage.pk}/" in client.get("/anagrafe/atti/", {"year": "2010", "number": "1"}).content.decode()
    assert "/anagrafe/atti/" + str(marriage.pk) not in client.get("/anagrafe/atti/").content.decode()  # no listing
    assert client.get("/anagrafe/atti/", {"year": "abc"}).status_code == 400
    body = client.get(f"/anagrafe/atti/{marriage.pk}/").content.decode()
    assert "sentenza 1/2020" in body and "Tribunale di Lucca" in body and "BIANCHI ANNA" in body
    event = AuditEvent.objects.get(tenant=tenant, action="read", object_type="civil_act")
    assert event.object_id == str(marriage.pk) and event.actor == registrar


def test_acts_of_another_municipality_and_outsiders_get_404(tenant, marriage):
    other = make_tenant("Altrove")
    assert second_factor_client(make_user(other, "registrar")).get(f"/anagrafe/atti/{marriage.pk}/").status_code == 404
    assert second_factor_client(make_user(tenant, "operator")).get(f"/anagrafe/atti/{marriage.pk}/").status_code == 404


def test_the_alignment_page_is_for_supervisors_and_fixes_are_explicit(tenant, person, supervisor, registrar):
    run = AlignmentRun.objects.create(tenant=tenant, started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), status="done",
                                      checked=1, lookups=1)
    difference = AlignmentDifference.objects.create(
        tenant=tenant, run=run, person=person, field="given_name", local_value="MARIO", anpr_value="MARIO LUIGI",
        fix="take_anpr_given_name", message="Nome diverso da quello di ANPR.")
    assert second_factor_client(registrar).get("/anagrafe/allineamento/").status_code == 404
    url = f"/anagrafe/allineamento/differenze/{difference.pk}/"
    assert second_factor_client(registrar).post(url, {"action": "apply"}).status_code == 404
    client = second_factor_client(supervisor)
    page = client.get("/anagrafe/allineamento/").content.decode()
    assert "MARIO LUIGI" in page and url in page
    assert Person.objects.get(pk=person.pk).given_name == "MARIO"  # showing changes nothing
    assert client.get(url).status_code == 405
    assert client.post(url, {"action": "apply"}).status_code == 302
    assert Person.objects.get(pk=person.pk).given_name == "MARIO LUIGI"
    assert AuditEvent.objects.filter(tenant=tenant, object_type="registry_person", actor=supervisor,
                                     action="update").exists()
    response = client.post(url, {"action": "apply"}, follow=True)  # twice: refused with a message
    assert "già stata decisa" in response.content.decode()
