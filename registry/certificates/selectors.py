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
    # every member of every household the person was in, in one query; the person's own memberships among them
    own_households = HouseholdMember.objects.filter(tenant=tenant, person=person).values("household_id")
    all_members = list(HouseholdMember.objects.filter(tenant=tenant, household_id__in=own_households)
                       .select_related("person", "household").order_by("relationship", "person__birth_date", "pk"))
    memberships = sorted((m for m in all_members if m.person_id == person.pk), key=lambda m: (m.joined_on, m.pk))
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


# --- civil-status acts ----------------------------------------------------------------------------

@dataclass(frozen=True)
class AnnotationView:
    kind: str
    label: str
    date: dt.date
    authority: str
    reference: str
    text: str


@dataclass(frozen=True)
class ActView:
    pk: int
    kind: str
    closed: bool
    reference: str  # "2020 parte 1 serie A n. 3"
    office: str
    officer: str
    act_date: dt.date
    data: dict  # the act's data with the rectifications annotated since applied


@dataclass(frozen=True)
class ActCertificateData:
    """One act of the civil-status registers as a certificate sees it, with the requesting person."""

    person: PersonView  # the person the certificate is issued for (filed in their dossier)
    person_id: int
    act: ActView | None  # None: no act (or several) found for the person
    candidates: int  # closed acts of the kind naming the person in the principal role
    person_in_act: bool  # the person is a principal of the act (spouse, deceased, newborn, partner)
    principals: list[PersonView] = field(default_factory=list)
    witnesses: list[str] = field(default_factory=list)
    annotations: list[AnnotationView] = field(default_factory=list)


def _rectified(kind: str, data: dict, annotations: list) -> dict:
    """The act's data with each rectification annotation (data {"field", "value"}) applied in date
    order; a rectification naming a field the act kind has not, or a value of the wrong type, is
    ignored here (it is still printed among the annotations of an extract)."""
    from ..civil_status.schema import SCHEMAS, _check
    from ..models import AnnotationKind

    out = dict(data)
    schema = SCHEMAS.get(kind, {})
    for a in annotations:
        if a.kind != AnnotationKind.RECTIFICATION or not isinstance(a.data, dict):
            continue
        key, value = a.data.get("field"), a.data.get("value")
        spec = schema.get(key) if isinstance(key, str) else None
        if spec is None or value in (None, "", []):
            continue
        problem, clean = _check(spec, value)
        if not problem:
            out[key] = clean
    return out


def act_certificate_data(*, tenant, person_id: int, act_kind: str, principal_role: str,
                         act_id: int | None = None) -> ActCertificateData | None:
    """The act for a civil-status certificate: the act chosen (act sheet), else the only closed act
    of `act_kind` naming the person in `principal_role` (person sheet). None: no such person, or
    the chosen act is not of this tenant."""
    from ..models import ActAnnotation, ActRole, ActStatus, CivilAct, CivilActParty

    person = Person.objects.for_tenant(tenant).filter(pk=person_id).first()
    if person is None:
        return None
    own = (CivilAct.objects.for_tenant(tenant)
           .filter(kind=act_kind, status=ActStatus.CLOSED, parties__person_id=person_id, parties__role=principal_role)
           .distinct())
    candidates = own.count()
    if act_id is not None:
        act = CivilAct.objects.for_tenant(tenant).filter(pk=act_id).first()
        if act is None:
            return None
    else:
        act = own.first() if candidates == 1 else None
    if act is None:
        return ActCertificateData(person=_person_view(person), person_id=person.pk, act=None, candidates=candidates,
                                  person_in_act=False)
    parties = list(CivilActParty.objects.filter(act=act).select_related("person").order_by("id"))
    annotations = list(ActAnnotation.objects.filter(act=act).order_by("date", "id"))
    principals = [p for p in parties if p.role == principal_role]
    witnesses = [f"{p.person.family_name} {p.person.given_name}" for p in parties if p.role == ActRole.WITNESS]
    for name in (act.data or {}).get("witnesses") or []:
        if name not in witnesses:
            witnesses.append(name)
    labels = {a.kind: a.get_kind_display() for a in annotations}
    return ActCertificateData(
        person=_person_view(person), person_id=person.pk,
        act=ActView(pk=act.pk, kind=act.kind, closed=act.status == ActStatus.CLOSED, reference=act.register_reference,
                    office=act.office, officer=act.officer, act_date=act.act_date,
                    data=_rectified(act.kind, act.data or {}, annotations)),
        candidates=candidates, person_in_act=any(p.person_id == person.pk for p in principals),
        principals=[_person_view(p.person) for p in principals], witnesses=witnesses,
        annotations=[AnnotationView(a.kind, str(labels[a.kind]), a.date, a.authority, a.reference,
                                    " ".join((a.text or "").split())) for a in annotations])


def act_kind_of(*, tenant, act_id: int) -> str | None:
    from ..models import CivilAct

    return CivilAct.objects.for_tenant(tenant).filter(pk=act_id).values_list("kind", flat=True).first()
