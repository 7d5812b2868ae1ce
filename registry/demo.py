"""The demo identity provider's people in the demo register.

The synthetic legacy export makes up its own people, so the fictitious identities of the demo IdP
(identity/demo_idp/idp.py) would log in to the portal as strangers to the register and every online
certificate would be refused. Here they become residents of the demo municipality, each with a
residence at a civico of its street register and a household: Giovanni Prova lives alone, Luca
Bianchi and Maria Rossi are a married couple. Idempotent (keyed by fiscal code).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from accounts.models import Tenant

from . import codes
from .models import Household, HouseholdMember, HouseNumber, Person, Residence, ResidenceEvent
from .services import residence_move
from .text import normalise

SPOUSE = 2  # ANPR tabella 5: "Marito / Moglie"
SINGLE, MARRIED = 1, 2  # civil status: "Celibe/Nubile", "Coniugato/a"


@dataclass(frozen=True)
class DemoResident:
    fiscal_code: str
    given_name: str
    family_name: str
    sex: str
    birth_date: dt.date
    birth_municipality_istat: str
    birth_place_name: str
    civil_status: int
    household: str  # people with the same key share a household; the first listed is its head


# The same fiscal codes as identity.demo_idp.idp.IDENTITIES (tests/registry/test_demo_residents.py checks it).
RESIDENTS = (
    DemoResident("PRVGNN90R10H501Q", "GIOVANNI", "PROVA", "M", dt.date(1990, 10, 10), "058091", "ROMA", SINGLE,
                 "prova"),
    DemoResident("BNCLCU75C15F205O", "LUCA", "BIANCHI", "M", dt.date(1975, 3, 15), "015146", "MILANO", MARRIED,
                 "bianchi-rossi"),
    DemoResident("RSSMRA80A41H501Y", "MARIA", "ROSSI", "F", dt.date(1980, 1, 1), "058091", "ROMA", MARRIED,
                 "bianchi-rossi"),
)
SINCE = dt.date(2015, 6, 1)


def _civici(tenant: Tenant) -> list[HouseNumber]:
    return list(HouseNumber.objects.for_tenant(tenant).filter(suppressed_on__isnull=True)
                .select_related("street").order_by("street__name", "number", "pk")[:10])


@transaction.atomic
def demo_residents_ensure(*, tenant: Tenant) -> list[Person]:
    """Put RESIDENTS in the tenant's register (once); returns their Person rows."""
    civici = _civici(tenant)
    if not civici:
        return []
    households: dict[str, Household] = {}
    people = []
    keys = list(dict.fromkeys(r.household for r in RESIDENTS))
    for r in RESIDENTS:
        person = Person.objects.for_tenant(tenant).filter(fiscal_code=r.fiscal_code, death_date__isnull=True).first()
        if person is None:
            person = Person.objects.create(
                tenant=tenant, fiscal_code=r.fiscal_code, fiscal_code_validation=codes.CF_VALIDATED,
                family_name=r.family_name, given_name=r.given_name,
                search_name=normalise(f"{r.family_name} {r.given_name}")[:310], sex=r.sex, birth_date=r.birth_date,
                birth_municipality_istat=r.birth_municipality_istat, birth_place_name=r.birth_place_name,
                citizenships=[codes.ITALY_ISTAT], civil_status=r.civil_status)
        people.append(person)
        member = HouseholdMember.objects.filter(tenant=tenant, person=person, left_on__isnull=True).first()
        head = r.household not in households
        if member is None:
            household = households.get(r.household)
            if household is None:
                household = Household.objects.create(tenant=tenant, formed_on=SINCE)
            member = HouseholdMember.objects.create(
                tenant=tenant, household=household, person=person, joined_on=SINCE,
                relationship=codes.HEAD_OF_HOUSEHOLD if head else SPOUSE)
        households.setdefault(r.household, member.household)
        if not Residence.objects.filter(tenant=tenant, person=person, end_date__isnull=True).exists():
            civico = civici[keys.index(r.household) % len(civici)]
            residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                           start_date=SINCE, opening_event=ResidenceEvent.REGISTRATION,
                           household_id=member.household_id)
    return people
