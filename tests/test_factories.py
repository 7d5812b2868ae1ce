"""The shared builders: what other suites rely on when they take `office` or `declaration_payload`."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.roles import Role
from cases.models import Case, WorkItem
from tests.factories import (
    MARIO_CF,
    PASSWORD,
    CaseFactory,
    ProcessVersionFactory,
    TenantFactory,
    UserFactory,
    WorkItemFactory,
    declarant,
    declaration_payload,
    make_tenant,
    make_user,
)


def test_a_declaration_payload_is_fresh_and_overridable_at_any_depth():
    first, second = declaration_payload(), declaration_payload()
    assert first == {
        "declarants": [{"fiscal_code": MARIO_CF, "given_name": "Mario", "family_name": "Rossi"}],
        "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
        "declaration_date": "2026-03-01",
    }
    first["declarants"][0]["fiscal_code"] = "changed"
    assert second["declarants"][0]["fiscal_code"] == MARIO_CF  # no shared nested dict
    other = declaration_payload(declarants__0__fiscal_code="PRVGNN90R10H501Q", new_address__house_number="1",
                                declaration_date="2026-11-20")
    assert other["declarants"][0] == {"fiscal_code": "PRVGNN90R10H501Q", "given_name": "Mario", "family_name": "Rossi"}
    assert other["new_address"]["house_number"] == "1" and other["declaration_date"] == "2026-11-20"
    two = declaration_payload(declarants=[declarant(), declarant("PRVGNN90R10H501Q", given_name="Giovanna")])
    assert [d["fiscal_code"] for d in two["declarants"]] == [MARIO_CF, "PRVGNN90R10H501Q"]
    assert type(two) is dict and type(two["declarants"]) is list


@pytest.mark.django_db
def test_tenants_and_users_are_unique_and_users_hold_their_roles():
    a, b = TenantFactory(), make_tenant("Comune di Capannori", istat="046007", belfiore="B648", patron=(7, 25))
    assert len({a.slug, b.slug}) == 2 and len({a.istat_code, b.istat_code}) == 2
    assert (b.istat_code, b.belfiore_code, b.patron_month, b.patron_day) == ("046007", "B648", 7, 25)
    user = make_user(b, Role.REGISTRAR, Role.POLICE, fiscal_code=MARIO_CF)
    assert user.check_password(PASSWORD) and user.fiscal_code == MARIO_CF
    assert set(Membership.objects.filter(user=user, tenant=b).values_list("role", flat=True)) == {"registrar", "police"}
    assert UserFactory(tenant=a, username="anna").username == "anna"
    assert not Membership.objects.filter(user__username="anna").exists()


@pytest.mark.django_db
def test_a_case_is_opened_through_the_service_and_its_work_item_comes_from_the_engine():
    case = CaseFactory()
    assert Case.objects.get(pk=case.pk).data["declarants"][0]["fiscal_code"] == MARIO_CF
    assert case.instance is not None
    item = WorkItemFactory(case=case)
    assert item.case_id == case.pk and item.bpmn_id == "registration" and item.status == "open"
    assert WorkItem.objects.filter(case=case).count() == 1


@pytest.mark.django_db
def test_a_process_version_is_published_from_the_engine_models():
    version = ProcessVersionFactory(name="gateways")
    assert version.definition.process_id == "gateways" and version.version >= 1


@pytest.mark.django_db
def test_office_has_one_person_per_role_and_other_office_is_apart(office, other_office, make_office):
    tenant = office["tenant"]
    assert (tenant.name, tenant.istat_code) == ("Comune di Capannori", "046007")
    people = {"registrar": "registrar", "supervisor": "supervisor", "admin": "process_admin",
              "viewer": "viewer", "police": "police"}
    assert set(office) == {"tenant", *people}
    for key, role in people.items():
        assert list(Membership.objects.filter(user=office[key]).values_list("tenant", "role")) == [(tenant.pk, role)]
    assert other_office["tenant"].istat_code == "046017"
    assert not Membership.objects.filter(user=other_office["registrar"], tenant=tenant).exists()
    small = make_office(name="Comune di Altopascio", istat="046001", belfiore="A241",
                        people={"registrar": Role.REGISTRAR}, usernames={"registrar": "anna.e2e"},
                        colleague=Role.REGISTRAR, cases=[declaration_payload(), declaration_payload()])
    assert set(small) == {"tenant", "registrar", "colleague", "cases", "case"}
    assert small["registrar"].username == "anna.e2e" and small["case"] == small["cases"][0]
    citizens = make_office(name="Comune di Porcari", istat="046026", belfiore="G882", processes=False,
                           people={}, citizen=Role.CITIZEN, neighbour=Role.CITIZEN,
                           fiscal_codes={"neighbour": "PRVGNN90R10H501Q"})
    assert (citizens["citizen"].fiscal_code, citizens["neighbour"].fiscal_code) == (MARIO_CF, "PRVGNN90R10H501Q")
    assert [c.tenant_id for c in small["cases"]] == [small["tenant"].pk] * 2


@pytest.mark.django_db(transaction=True)
def test_the_shared_fixtures_work_in_transactional_tests(office, residence_version, declaration):
    assert residence_version.definition.process_id == "residence_change"
    case = CaseFactory(tenant=office["tenant"], user=office["registrar"], data=declaration)
    assert case.process_version_id == residence_version.pk and case.tenant_id == office["tenant"].pk
