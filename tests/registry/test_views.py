"""The register's pages: who sees them, what they show, tenant isolation, audited reads."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from audit.models import AuditEvent
from registry.models import Household, HouseholdMember, ImportRun, Residence
from registry.services import residence_move
from tests.factories import make_user, second_factor_client

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    return second_factor_client(user)  # process administrators work only with a second factor


@pytest.fixture
def family(tenant, person, civico):
    household = Household.objects.create(tenant=tenant, legacy_id="F1", anpr_id="123456")
    HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=1,
                                   joined_on=dt.date(2000, 1, 1))
    residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                   start_date=dt.date(2000, 1, 1), opening_event="registration", household_id=household.pk)
    return household


@pytest.mark.parametrize("role", ["registrar", "civil_registrar", "supervisor", "viewer"])
def test_register_staff_find_a_person_by_each_criterion(tenant, person, family, role):
    client = _client(make_user(tenant, role))
    for query in ({"name": "rossi mar"}, {"name": "mario rossi"}, {"cf": "rssmra80a01h501u"},
                  {"birth_date": "01/01/1980"}, {"address": "roma 12"}):
        response = client.get("/anagrafe/", query)
        assert response.status_code == 200, query
        assert f"/anagrafe/persone/{person.pk}/" in response.content.decode(), query
    assert f"/anagrafe/persone/{person.pk}/" not in client.get("/anagrafe/", {"address": "roma 13"}).content.decode()
    assert client.get("/anagrafe/", {"birth_date": "31/02/1980"}).status_code == 400


def test_the_person_sheet_shows_data_household_and_history_and_is_audited(tenant, person, family, registrar):
    response = _client(registrar).get(f"/anagrafe/persone/{person.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "RSSMRA80A01H501U" in body and "Intestatario Scheda" in body and "Via ROMA, 12" in body
    assert "in corso" in body
    event = AuditEvent.objects.get(tenant=tenant, action="read", object_type="registry_person")
    assert event.object_id == str(person.pk) and event.actor == registrar


def test_household_street_and_civico_pages_render(tenant, person, family, civico, registrar):
    client = _client(registrar)
    assert "ROSSI MARIO" in client.get(f"/anagrafe/famiglie/{family.pk}/").content.decode()
    assert "Via ROMA" in client.get("/anagrafe/stradario/").content.decode()
    assert f"/anagrafe/civici/{civico.pk}/" in client.get(f"/anagrafe/stradario/{civico.street_id}/").content.decode()
    assert "ROSSI MARIO" in client.get(f"/anagrafe/civici/{civico.pk}/").content.decode()
    assert AuditEvent.objects.filter(tenant=tenant, object_type="registry_household").exists()
    assert AuditEvent.objects.filter(tenant=tenant, object_type="registry_house_number").exists()


def test_the_civil_registrar_reads_people_and_acts_audited_but_not_imports(tenant, person, family, export, tmp_path):
    """Drawing up acts means identifying their parties in the register; imports stay with the supervisor."""
    from registry.civil_status.services import act_register
    from registry.legacy.importer import import_run

    officer = make_user(tenant, "civil_registrar")
    client = _client(officer)
    act = act_register(tenant=tenant, actor=None, kind="death", act_date=dt.date(2024, 3, 2), office="Capannori",
                       officer="Ufficiale", data={"death_date": "2024-03-01"}, parties=[(person.pk, "deceased")])
    assert "Anagrafe" in client.get("/").content.decode()
    assert client.get(f"/anagrafe/persone/{person.pk}/").status_code == 200
    assert client.get(f"/anagrafe/famiglie/{family.pk}/").status_code == 200
    assert f"/anagrafe/atti/{act.pk}/" in client.get("/anagrafe/atti/", {"person": person.pk}).content.decode()
    assert client.get(f"/anagrafe/atti/{act.pk}/").status_code == 200
    reads = set(AuditEvent.objects.filter(tenant=tenant, action="read", actor=officer)
                .values_list("object_type", flat=True))
    assert {"registry_person", "registry_household", "civil_act_search", "civil_act"} <= reads
    run = import_run(tenant=tenant, folder=export[0], report_dir=tmp_path / "r")
    assert client.get(f"/anagrafe/importazioni/{run.pk}/").status_code == 404
    assert client.get("/anagrafe/allineamento/").status_code == 404


@pytest.mark.parametrize("role", ["police", "process_admin", "citizen"])
def test_other_roles_do_not_see_the_register(tenant, person, role):
    client = _client(make_user(tenant, role))
    assert client.get("/anagrafe/", {"name": "rossi"}).status_code == 404
    assert client.get(f"/anagrafe/persone/{person.pk}/").status_code == 404


def test_another_municipality_cannot_read_this_register(tenant, other_tenant, person, family, civico):
    client = _client(make_user(other_tenant, "registrar"))
    assert client.get(f"/anagrafe/persone/{person.pk}/").status_code == 404
    assert client.get(f"/anagrafe/famiglie/{family.pk}/").status_code == 404
    assert client.get(f"/anagrafe/civici/{civico.pk}/").status_code == 404
    assert client.get(f"/anagrafe/stradario/{civico.street_id}/").status_code == 404
    assert "ROSSI" not in client.get("/anagrafe/", {"cf": person.fiscal_code}).content.decode()
    assert "ROMA" not in client.get("/anagrafe/stradario/").content.decode().upper().split("<MAIN")[-1]
    assert not AuditEvent.objects.filter(object_type="registry_person").exists()
    assert client.get("/anagrafe/persone/abc/").status_code == 404


def test_supervisors_read_import_runs_of_their_municipality_only(tenant, other_tenant, supervisor, registrar, export, tmp_path):
    from registry.legacy.importer import import_run

    folder, _ = export
    run = import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "r")
    client = _client(supervisor)
    assert f"/anagrafe/importazioni/{run.pk}/" in client.get("/anagrafe/importazioni/").content.decode()
    body = client.get(f"/anagrafe/importazioni/{run.pk}/", {"esito": "rejected"}).content.decode()
    assert "duplicate_person" in body and "Persone" in body
    assert _client(registrar).get(f"/anagrafe/importazioni/{run.pk}/").status_code == 404
    assert _client(make_user(other_tenant, "supervisor")).get(f"/anagrafe/importazioni/{run.pk}/").status_code == 404
    assert ImportRun.objects.count() == 1 and Residence.objects.count() == 0
