"""Reads for the certificates: the register's data about one person, as plain values, in a few queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from .. import codes
from ..models import Household, HouseholdMember, Person, Residence, ResidenceEvent
from .models import Certificate


@dataclass(frozen=True)
class PersonView:
    family_name: str
    given_name: str
    sex: str
    birth_date: dt.date | None
    birth_place: str
    fiscal_code: str = ""
    citizenships: tuple[str, ...] = ()
    death_date: dt.date | None = None
    relationship: str = ""
    joined_on: dt.date | None = None
    left_on: dt.date | None = None


@dataclass(frozen=True)
class ResidenceView:
    address: str
    start_date: dt.date
    end_date: dt.date | None
    closing_event: str


@dataclass(frozen=True)
class HouseholdView:
    name: str
    is_cohabitation: bool


@dataclass(frozen=True)
class MembershipView:
    household_label: str
    relationship: str
    joined_on: dt.date
    left_on: dt.date | None
    members: list[PersonView] = field(default_factory=list)


@dataclass(frozen=True)
class CertificateData:
    person: PersonView
    residence: ResidenceView | None  # the current one
    residences: list[ResidenceView]
    household: HouseholdView | None
    members: list[PersonView]  # current household, living members
    memberships: list[MembershipView]


def birth_place(person: Person) -> str:
    if person.birth_place_name:
        return person.birth_place_name
    if person.birth_municipality_istat:
        from forms.models import Municipality

        name = (Municipality.objects.filter(istat_code=person.birth_municipality_istat)
                .values_list("name", flat=True).first())
        return name or ""
    if person.birth_state_istat:
        return codes.state_name(person.birth_state_istat)
    return ""


def _person_view(person: Person, member: HouseholdMember | None = None) -> PersonView:
    return PersonView(
        family_name=person.family_name, given_name=person.given_name, sex=person.sex, birth_date=person.birth_date,
        birth_place=birth_place(person), fiscal_code=person.fiscal_code, citizenships=tuple(person.citizenships or ()),
        death_date=person.death_date, relationship=member.relationship_label if member else "",
        joined_on=member.joined_on if member else None, left_on=member.left_on if member else None,
    )


def _address(r: Residence) -> str:
    text = f"{r.house_number.street.full_name}, {r.house_number.label}"
    return f"{text} ({r.interior})" if r.interior else text


def _household_label(h: Household) -> str:
    if h.name:
        return h.name
    ref = h.anpr_id or h.legacy_id or str(h.pk)
    return f"{h.get_kind_display()} {ref}"


def certificate_data(*, tenant, person_id: int) -> CertificateData | None:
    person = Person.objects.for_tenant(tenant).filter(pk=person_id).first()
    if person is None:
        return None
    residences = list(Residence.objects.filter(tenant=tenant, person=person)
                      .select_related("house_number__street").order_by("start_date"))
    labels = dict(ResidenceEvent.choices)
    views = [ResidenceView(_address(r), r.start_date, r.end_date, str(labels.get(r.closing_event, "")))
             for r in residences]
    current = next((v for r, v in zip(residences, views, strict=True) if r.end_date is None), None)
    memberships = list(HouseholdMember.objects.filter(tenant=tenant, person=person).select_related("household")
                       .order_by("joined_on"))
    household_ids = [m.household_id for m in memberships]
    all_members = list(HouseholdMember.objects.filter(tenant=tenant, household_id__in=household_ids)
                       .select_related("person").order_by("relationship", "person__birth_date", "pk"))
    current_membership = next((m for m in memberships if m.left_on is None), None)
    household, members = None, []
    if current_membership is not None:
        h = current_membership.household
        household = HouseholdView(name=h.name, is_cohabitation=h.kind == "cohabitation")
        members = [_person_view(m.person, m) for m in all_members
                   if m.household_id == h.pk and m.left_on is None and m.person.death_date is None]
    history = []
    for ms in memberships:
        # the members who overlapped with the person's own period in that household
        overlapping = [m for m in all_members if m.household_id == ms.household_id
                       and (ms.left_on is None or m.joined_on < ms.left_on)
                       and (m.left_on is None or m.left_on > ms.joined_on)]
        history.append(MembershipView(_household_label(ms.household), ms.relationship_label, ms.joined_on, ms.left_on,
                                      [_person_view(m.person, m) for m in overlapping]))
    return CertificateData(person=_person_view(person), residence=current, residences=views, household=household,
                           members=members, memberships=history)


def certificates_of(*, tenant, person_id: int) -> QuerySet[Certificate]:
    return (Certificate.objects.for_tenant(tenant).filter(person_id=person_id).select_related("document", "issued_by")
            .order_by("-issued_at", "-pk"))


def stamp_already_used(*, tenant, stamp_ids: list[str]) -> list[str]:
    return list(Certificate.objects.for_tenant(tenant).filter(Q(stamp_mode="physical") & Q(stamp_id__in=stamp_ids))
                .values_list("stamp_id", flat=True))
