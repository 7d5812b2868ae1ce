"""Reads of the population register, always inside one tenant."""

from __future__ import annotations

import datetime as dt
import re

from django.db.models import Prefetch, Q, QuerySet

from .models import Household, HouseholdMember, HouseNumber, ImportRun, Person, Residence, Street
from .text import normalise

SEARCH_LIMIT = 100
_NUMBER = re.compile(r"^(.*?)[\s,]+(\d+)\s*/?\s*([A-Za-z0-9]{0,5})$")


def person_search(*, tenant, name: str = "", fiscal_code: str = "", birth_date: dt.date | None = None,
                  address: str = "") -> QuerySet[Person]:
    """People matching every criterion given: name by prefix of "family given" (either order),
    fiscal code exactly, birth date, and current address ("via roma 12" or a street name).
    Without criteria: nothing (no listing of the whole register)."""
    qs = Person.objects.for_tenant(tenant)
    used = False
    if fiscal_code:
        qs, used = qs.filter(fiscal_code=fiscal_code.strip().upper().replace(" ", "")), True
    if name.strip():
        words = normalise(name).split()
        forward, backward = " ".join(words), " ".join(words[1:] + words[:1])
        qs, used = qs.filter(Q(search_name__startswith=forward) | Q(search_name__startswith=backward)), True
    if birth_date:
        qs, used = qs.filter(birth_date=birth_date), True
    if address.strip():
        text, number, suffix = normalise(address), None, ""
        match = _NUMBER.match(address.strip())
        if match:
            text, number, suffix = normalise(match.group(1)), int(match.group(2)), match.group(3).upper()
        current = Residence.objects.filter(tenant=tenant, end_date__isnull=True,
                                           house_number__street__search_name__contains=text)
        if number is not None:
            current = current.filter(house_number__number=number)
            if suffix:
                current = current.filter(house_number__suffix__iexact=suffix)
        qs, used = qs.filter(pk__in=current.values("person_id")), True
    if not used:
        return Person.objects.none()
    return qs.order_by("search_name", "birth_date", "pk")


def person_current_residence(*, person: Person) -> Residence | None:
    return (Residence.objects.filter(person=person, end_date__isnull=True)
            .select_related("house_number__street", "household").first())


def person_sheet(*, tenant, person_id: int) -> dict | None:
    """A person with their documents, current household (with its members) and residence history."""
    person = Person.objects.for_tenant(tenant).filter(pk=person_id).prefetch_related("documents").first()
    if person is None:
        return None
    memberships = list(HouseholdMember.objects.filter(person=person).select_related("household")
                       .order_by("-joined_on"))
    current = next((m for m in memberships if m.left_on is None), None)
    members = []
    if current is not None:
        members = list(HouseholdMember.objects.filter(household=current.household, left_on__isnull=True)
                       .select_related("person").order_by("relationship", "person__birth_date"))
    residences = list(Residence.objects.filter(person=person).select_related("house_number__street", "household")
                      .order_by("-start_date"))
    return {"person": person, "membership": current, "memberships": memberships, "members": members,
            "residences": residences}


def household_sheet(*, tenant, household_id: int) -> dict | None:
    household = Household.objects.for_tenant(tenant).filter(pk=household_id).first()
    if household is None:
        return None
    members = list(HouseholdMember.objects.filter(household=household).select_related("person")
                   .order_by("left_on", "relationship", "person__birth_date"))
    address = (Residence.objects.filter(household=household, end_date__isnull=True)
               .select_related("house_number__street").first())
    return {"household": household, "current": [m for m in members if m.left_on is None],
            "former": [m for m in members if m.left_on is not None], "address": address}


def street_list(*, tenant, query: str = "") -> QuerySet[Street]:
    qs = Street.objects.for_tenant(tenant)
    if query.strip():
        qs = qs.filter(search_name__contains=normalise(query))
    return qs.order_by("search_name", "code")


def street_get(*, tenant, street_id: int) -> Street | None:
    return (Street.objects.for_tenant(tenant).filter(pk=street_id)
            .prefetch_related(Prefetch("house_numbers", queryset=HouseNumber.objects.order_by("number", "suffix")))
            .first())


def house_number_sheet(*, tenant, house_number_id: int) -> dict | None:
    civico = (HouseNumber.objects.for_tenant(tenant).filter(pk=house_number_id)
              .select_related("street", "replaced_by").prefetch_related("events").first())
    if civico is None:
        return None
    residences = list(Residence.objects.filter(house_number=civico).select_related("person", "household")
                      .order_by("end_date", "person__search_name"))
    return {"civico": civico, "current": [r for r in residences if r.end_date is None],
            "former": [r for r in residences if r.end_date is not None]}


def import_run_list(*, tenant) -> QuerySet[ImportRun]:
    return ImportRun.objects.for_tenant(tenant).order_by("-started_at", "-pk")


def import_run_get(*, tenant, run_id: int) -> ImportRun | None:
    return ImportRun.objects.for_tenant(tenant).filter(pk=run_id).first()
