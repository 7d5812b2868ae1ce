"""The marriage banns lead to the marriage act: `registry.marriage_act_link` (the banns procedure's
service task after "marriage celebrated") links the case to the closed marriage act naming both
spouses within the banns' validity, or waits for the act to be closed; the act sheet and the case
page show the link."""

from __future__ import annotations

import datetime as dt

import pytest

from common.operations import OperationContext, PermanentError, get_operation
from registry.civil_status.services import act_close, act_draft_create, act_register
from registry.models import ActCaseLink, Person
from tests.factories import make_user, second_factor_client

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

COMMON = {"actor": None, "office": "Capannori", "officer": "Ufficiale dello stato civile"}


@pytest.fixture
def anna(tenant):
    return Person.objects.create(tenant=tenant, fiscal_code="BNCNNA82B41H501S", family_name="BIANCHI", given_name="ANNA",
                                 search_name="bianchi anna", sex="F", birth_date=dt.date(1982, 2, 1))


def _marriage(tenant, spouses, day: dt.date, *, close: bool = True):
    fields = dict(tenant=tenant, **COMMON, kind="marriage", act_date=day,
                  data={"marriage_date": day.isoformat(), "marriage_place": "CAPANNORI", "rite": "civil",
                        "property_regime": "separation", "witnesses": ["BIANCO ALDO", "ROSA ELSA"]},
                  parties=[(p.pk, "spouse") for p in spouses])
    return act_register(**fields) if close else act_draft_create(**fields)


def _link(tenant, case_id, codes, valid_from="2026-03-13", valid_to="2026-09-08"):
    op = get_operation("registry.marriage_act_link")
    ctx = OperationContext(tenant_id=tenant.pk, tenant_istat=tenant.istat_code, idempotency_key=f"k{case_id}",
                           case_id=case_id, case_number=f"2026/{case_id:06d}")
    return op.fn({"fiscal_codes": codes, "valid_from": valid_from, "valid_to": valid_to}, ctx)


def test_the_banns_case_is_linked_to_the_marriage_act_celebrated_within_the_banns_validity(tenant, person, anna):
    _marriage(tenant, [person, anna], dt.date(2024, 5, 4))  # an earlier marriage of the same two: not this one
    act = _marriage(tenant, [person, anna], dt.date(2026, 4, 18))
    result = _link(tenant, 41, [anna.fiscal_code.lower(), person.fiscal_code])
    assert result == {"linked": True, "act_id": act.pk, "reference": act.register_reference, "message": ""}
    link = ActCaseLink.objects.get(case_id=41)
    assert link.act == act and link.case_number == "2026/000041" and link.relation == "banns"
    assert _link(tenant, 41, [person.fiscal_code, anna.fiscal_code])["act_id"] == act.pk  # delivered twice
    assert ActCaseLink.objects.count() == 1


def test_an_act_closed_after_the_celebration_message_completes_the_waiting_link(tenant, person, anna):
    result = _link(tenant, 42, [person.fiscal_code, anna.fiscal_code])
    assert result["linked"] is False and "non è ancora chiuso" in result["message"]
    draft = _marriage(tenant, [person, anna], dt.date(2026, 4, 18), close=False)
    assert ActCaseLink.objects.get(case_id=42).act is None  # a draft is not the act yet
    from django.db import transaction

    with transaction.atomic():
        act_close(tenant=tenant, actor=None, act_id=draft.pk)
    assert ActCaseLink.objects.get(case_id=42).act_id == draft.pk


def test_no_link_to_another_couples_act_an_act_outside_the_window_or_another_municipality(tenant, other_tenant,
                                                                                          person, anna):
    luca = Person.objects.create(tenant=tenant, fiscal_code="VRDLCU75C03G702U", family_name="VERDI", given_name="LUCA",
                                 search_name="verdi luca", sex="M", birth_date=dt.date(1975, 3, 3))
    _marriage(tenant, [luca, anna], dt.date(2026, 4, 18))  # Anna with someone else
    _marriage(tenant, [person, anna], dt.date(2026, 10, 1))  # after the banns lapsed
    elsewhere = [Person.objects.create(tenant=other_tenant, fiscal_code=p.fiscal_code, family_name=p.family_name,
                                       given_name=p.given_name, search_name=p.search_name, sex=p.sex,
                                       birth_date=p.birth_date) for p in (person, anna)]
    _marriage(other_tenant, elsewhere, dt.date(2026, 4, 18))
    assert _link(tenant, 43, [person.fiscal_code, anna.fiscal_code])["linked"] is False
    with pytest.raises(PermanentError):
        _link(tenant, 44, [person.fiscal_code])  # two spouses or nothing
    with pytest.raises(PermanentError):
        _link(tenant, 45, [person.fiscal_code, anna.fiscal_code], valid_from="13/03/2026")


def test_the_act_sheet_and_the_case_page_show_the_link(tenant, person, anna):
    from cases.models import Case
    from tests.engine_models import publish_model

    version = publish_model("lanes_script")
    case = Case.objects.create(tenant=tenant, number="2026/000046", process_id="lanes_script", process_version=version,
                               title="Pubblicazioni", opened_at="2026-03-01T09:00:00Z",
                               updated_at="2026-03-01T09:00:00Z")
    act = _marriage(tenant, [person, anna], dt.date(2026, 4, 18))
    _link(tenant, case.pk, [person.fiscal_code, anna.fiscal_code])
    client = second_factor_client(make_user(tenant, "civil_registrar", "registrar"))
    sheet = client.get(f"/anagrafe/atti/{act.pk}/").content.decode()
    assert "Pubblicazioni di matrimonio" in sheet and f'href="/pratiche/{case.pk}/"' in sheet
    page = client.get(f"/pratiche/{case.pk}/").content.decode()
    assert f'href="/anagrafe/atti/{act.pk}/"' in page and act.register_reference in page
