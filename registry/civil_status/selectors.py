"""Reads of the civil-status registers, always inside one tenant."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from ..models import ActAnnotation, ActKind, ActStatus, AnprNotification, CivilAct, CivilActParty
from ..text import normalise


def act_search(*, tenant, kind: str = "", year: int | None = None, number: int | None = None, name: str = "",
               fiscal_code: str = "", person_id: int | None = None) -> QuerySet[CivilAct]:
    """Acts matching every criterion given. Without criteria: nothing (no listing of a whole register)."""
    qs = CivilAct.objects.for_tenant(tenant)
    used = False
    if kind in ActKind.values:
        qs = qs.filter(kind=kind)  # a register alone is not a search: needs one more criterion
    if year:
        qs, used = qs.filter(year=year), True
    if number:
        qs, used = qs.filter(number=number), True
    if person_id:
        qs, used = qs.filter(parties__person_id=person_id), True
    if fiscal_code.strip():
        qs, used = qs.filter(parties__person__fiscal_code=fiscal_code.strip().upper().replace(" ", "")), True
    if name.strip():
        words = normalise(name).split()
        forward, backward = " ".join(words), " ".join(words[1:] + words[:1])
        qs, used = qs.filter(Q(parties__person__search_name__startswith=forward)
                             | Q(parties__person__search_name__startswith=backward)), True
    if not used:
        return CivilAct.objects.none()
    return (qs.distinct().prefetch_related(Prefetch("parties", queryset=CivilActParty.objects.select_related("person")))
            .order_by("-year", "kind", "part", "series", "number", "pk"))


def act_sheet(*, tenant, act_id: int) -> dict | None:
    act = CivilAct.objects.for_tenant(tenant).filter(pk=act_id).first()
    if act is None:
        return None
    return {"act": act, "parties": list(act.parties.select_related("person").order_by("role", "id")),
            "annotations": list(ActAnnotation.objects.filter(act=act).order_by("date", "id")),
            "notifications": list(AnprNotification.objects.filter(act=act)),
            "case_links": list(act.case_links.order_by("created_at", "id"))}


def acts_for_case(*, tenant, case_id: int) -> list:
    """The civil-status acts a case led to (the banns' marriage act), and the links still waiting
    for their act: for the case page (cases may read the registry, not the reverse)."""
    from ..models import ActCaseLink

    return list(ActCaseLink.objects.for_tenant(tenant).filter(case_id=case_id).select_related("act")
                .order_by("created_at", "id"))


def acts_of_person(*, tenant, person_id: int) -> list[CivilAct]:
    return list(CivilAct.objects.for_tenant(tenant).filter(parties__person_id=person_id, status=ActStatus.CLOSED)
                .distinct().order_by("-act_date", "pk"))


def pending_anpr_notifications(*, tenant) -> QuerySet[AnprNotification]:
    return AnprNotification.objects.for_tenant(tenant).filter(status="pending").order_by("created_at", "pk")
