"""load_demo puts the demo IdP's people in the demo municipality's register, so that a newcomer who
logs in to the portal as PRVGNN90R10H501Q can get the registry certificates online."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from identity.demo_idp.idp import IDENTITIES
from registry.certificates.catalogue import CATALOGUE
from registry.certificates.services import certificate_issuable
from registry.models import HouseholdMember, Person, Residence

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_the_demo_idp_people_are_residents_with_a_household(tenant, other_tenant, settings):
    settings.PROCEDO_SPID_TENANT = tenant.slug  # the demo sets "capannori" (scripts/run-demo.sh)
    call_command("registry_load_demo", people=40, households=15)
    call_command("registry_load_demo", people=40, households=15)  # a second run adds nothing
    for identity in IDENTITIES:
        person = Person.objects.get(tenant=tenant, fiscal_code=identity.fiscal_code)  # exactly one
        assert (person.given_name, person.family_name) == (identity.name.upper(), identity.family_name.upper())
        assert person.birth_date.isoformat() == identity.date_of_birth
        assert Residence.objects.filter(person=person, end_date__isnull=True).count() == 1
        assert HouseholdMember.objects.filter(person=person, left_on__isnull=True).count() == 1
        assert not Person.objects.filter(tenant=other_tenant, fiscal_code=identity.fiscal_code).exists()
    couple = HouseholdMember.objects.filter(person__fiscal_code__in=["BNCLCU75C15F205O", "RSSMRA80A41H501Y"])
    assert len({m.household_id for m in couple}) == 1

    giovanni = Person.objects.get(tenant=tenant, fiscal_code="PRVGNN90R10H501Q")
    for kind in (k.code for k in CATALOGUE.values() if not k.act_kind):
        certificate_issuable(tenant=tenant, person_id=giovanni.pk, kind=kind)  # raises when refused
