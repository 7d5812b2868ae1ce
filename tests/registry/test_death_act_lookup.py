"""registry.death_act_lookup: a case links to a closed death act of its own municipality's registers,
naming the deceased; anything else is a clear "not found" answer (or a refusal for a bad reference)."""

from __future__ import annotations

import datetime as dt

import pytest

from common.operations import OperationContext, PermanentError, get_operation
from registry.civil_status.services import act_draft_create, act_register
from registry.models import Person

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DIED = dt.date(2026, 2, 28)


def _lookup(tenant, **params):
    ctx = OperationContext(tenant_id=tenant.pk, tenant_istat="046007", idempotency_key="k")
    base = {"fiscal_code": "RSSMRA80A01H501U", "year": 2026, "number": "1", "part": "I", "series": ""}
    return get_operation("registry.death_act_lookup").fn({**base, **params}, ctx)


def _death_act(tenant, person, **extra):
    fields = {"tenant": tenant, "actor": None, "kind": "death", "act_date": DIED, "office": "Capannori",
              "officer": "Ufficiale dello stato civile", "parties": [(person.pk, "deceased")],
              "data": {"death_date": DIED.isoformat(), "death_time": "10:15", "death_place": "Ospedale"}, **extra}
    return fields


def test_a_closed_act_naming_the_deceased_is_linked(tenant, person):
    act = act_register(**_death_act(tenant, person))
    result = _lookup(tenant, fiscal_code="rssmra80a01h501u ")
    assert result == {"found": True, "code": "ok", "message": "", "act_id": act.pk, "reference": "2026 parte 1 n. 1",
                      "death_date": "2026-02-28", "death_time": "10:15", "death_place": "Ospedale"}


def test_part_and_series_must_match(tenant, person):
    act_register(**_death_act(tenant, person, part="2", series="B"))
    assert _lookup(tenant, part="II", series="b")["found"] is True
    assert _lookup(tenant, part="I")["code"] == "death_act_not_found"


def test_missing_act_is_a_clear_answer(tenant, person):
    result = _lookup(tenant)
    assert result["found"] is False and result["code"] == "death_act_not_found"
    assert "2026 parte 1 n. 1" in result["message"]


def test_a_draft_is_not_linked_and_says_so(tenant, person):
    act_draft_create(**{k: v for k, v in _death_act(tenant, person).items()})
    assert _lookup(tenant)["code"] == "death_act_not_closed"


def test_an_act_of_another_person_is_refused(tenant, person):
    other = Person.objects.create(tenant=tenant, fiscal_code="VRDLGU50A01H501X", family_name="VERDI", given_name="LUIGI",
                                  search_name="verdi luigi", sex="M", birth_date=dt.date(1950, 1, 1))
    act_register(**_death_act(tenant, other))
    assert _lookup(tenant)["code"] == "death_act_other_person"


def test_another_municipality_s_register_is_not_searched(tenant, other_tenant, person):
    act_register(**_death_act(tenant, person))
    assert _lookup(other_tenant)["code"] == "death_act_not_found"


@pytest.mark.parametrize("params", [{"number": "12a"}, {"year": "x"}, {"number": "0"}, {"part": "IV"},
                                    {"fiscal_code": ""}, {"series": "TOOLONG"}, {"number": None}])
def test_a_bad_reference_is_refused_not_a_crash(tenant, params):
    with pytest.raises(PermanentError):
        _lookup(tenant, **params)
