"""Writes to the civil-status registers. Every function takes the tenant and works inside it.

An act is drafted, then closed. Closing gives it the next number of its register (kind, year,
part, series) under a row lock on the register's counter, in the same transaction as the act: no
two acts get one number and a rolled-back closing leaves no gap. A closed act never changes
(PostgreSQL refuses it too, migration 0003): corrections and later events are annotations.

Closing an act applies its effects on the population register in the same transaction:
- death: the person's death date, their residence closed with the event "death" (through
  registry.services.residence_close), their household membership ended, a surviving spouse or
  civil partner widowed, and an `AnprNotification` recorded for the ANPR sender (outbox);
- marriage / civil union: both parties' civil status (ANPR table "Stato civile": 2 / 6);
- annotations of divorce / dissolution of a civil union: both parties' civil status (4 / 8).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from audit.services import audit_record
from common import clock
from common.errors import ValidationFailed

from ..models import (
    ActAnnotation,
    ActCaseLink,
    ActKind,
    ActNumberCounter,
    ActRole,
    ActStatus,
    AnnotationKind,
    AnprNotification,
    CivilAct,
    CivilActParty,
    HouseholdMember,
    Person,
    Residence,
)
from ..services import residence_close
from .schema import OTHER_ROLES, REQUIRED_PARTIES, event_date, validate_data

# ANPR table "Stato civile" (registry/data/civil_status.csv).
MARRIED, WIDOWED, DIVORCED, IN_CIVIL_UNION, FREE_AFTER_PARTNER_DEATH, FREE_AFTER_DISSOLUTION = 2, 3, 4, 6, 7, 8
MAX_TEXT = 20_000


def _who(actor) -> str:
    return actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else ""


def _text(value: str, limit: int, label: str) -> str:
    value = " ".join((value or "").split())
    if not value or len(value) > limit:
        raise ValidationFailed(_("%(f)s mancante o troppo lungo.") % {"f": label}, code="missing_field")
    return value


def _check_parties(*, tenant, kind: str, parties: list[tuple[int, str]]) -> list[tuple[Person, str]]:
    required = REQUIRED_PARTIES[kind]
    counts: dict[str, int] = {}
    people = {p.pk: p for p in Person.objects.for_tenant(tenant).filter(pk__in=[pid for pid, _role in parties])}
    out = []
    for person_id, role in parties:
        if role not in required and role not in OTHER_ROLES:
            raise ValidationFailed(_("Ruolo non ammesso in questo tipo di atto."), code="act_role_invalid")
        person = people.get(person_id)
        if person is None:
            raise ValidationFailed(_("Persona non trovata nell'anagrafe."), code="person_not_found")
        counts[role] = counts.get(role, 0) + 1
        out.append((person, role))
    for role, needed in required.items():
        if counts.get(role, 0) != needed:
            raise ValidationFailed(_("L'atto deve indicare %(n)s persona/e come \"%(r)s\".")
                                   % {"n": needed, "r": ActRole(role).label}, code="act_parties_invalid")
    principal = [p.pk for p, role in out if role in required]
    if len(set(principal)) != len(principal):
        raise ValidationFailed(_("La stessa persona compare due volte nell'atto."), code="act_parties_invalid")
    return out


@transaction.atomic
def act_draft_create(*, tenant, actor, kind: str, act_date: dt.date, office: str, officer: str, data: dict,
                     parties: list[tuple[int, str]], text: str = "", part: str = "1", series: str = "",
                     year: int | None = None, ip: str | None = None) -> CivilAct:
    """A new act in redaction: not numbered, still changeable (act_draft_update), not yet in force."""
    if kind not in ActKind.values:
        raise ValidationFailed(_("Tipo di atto sconosciuto."), code="act_kind_unknown")
    clean = validate_data(kind, data)
    checked = _check_parties(tenant=tenant, kind=kind, parties=parties)
    part, series = (part or "").strip()[:5], (series or "").strip().upper()[:5]
    if not part:
        raise ValidationFailed(_("Parte del registro mancante."), code="missing_field")
    if len(text or "") > MAX_TEXT:
        raise ValidationFailed(_("Testo dell'atto troppo lungo."), code="act_text_too_long")
    act = CivilAct.objects.create(
        tenant=tenant, kind=kind, year=year or act_date.year, part=part, series=series,
        office=_text(office, 150, _("Ufficio")), officer=_text(officer, 150, _("Ufficiale dello stato civile")),
        act_date=act_date, data=clean, text=text or "")
    CivilActParty.objects.bulk_create([CivilActParty(tenant=tenant, act=act, person=p, role=r) for p, r in checked])
    audit_record(tenant=tenant, actor=actor, action="create", object_type="civil_act", object_id=str(act.pk),
                 object_repr=str(act), summary=_("Atto di stato civile in redazione"),
                 after={"kind": kind, "data": clean, "parties": [(p.pk, r) for p, r in checked]}, ip=ip)
    return act


def _lock_act(*, tenant, act_id: int) -> CivilAct:
    act = CivilAct.objects.for_tenant(tenant).select_for_update().filter(pk=act_id).first()
    if act is None:
        raise ValidationFailed(_("Atto non trovato."), code="act_not_found")
    return act


def _refuse_closed(act: CivilAct) -> None:
    if act.status == ActStatus.CLOSED:
        raise ValidationFailed(_("L'atto è chiuso e non si può modificare: le correzioni si fanno con un'annotazione."),
                               code="act_closed")


@transaction.atomic
def act_draft_update(*, tenant, actor, act_id: int, data: dict | None = None, text: str | None = None,
                     act_date: dt.date | None = None, officer: str | None = None,
                     ip: str | None = None) -> CivilAct:
    """Change an act still in redaction; a closed act is refused."""
    act = _lock_act(tenant=tenant, act_id=act_id)
    _refuse_closed(act)
    before = {"data": act.data, "text": act.text, "act_date": act.act_date, "officer": act.officer}
    if data is not None:
        act.data = validate_data(act.kind, data)
    if text is not None:
        if len(text) > MAX_TEXT:
            raise ValidationFailed(_("Testo dell'atto troppo lungo."), code="act_text_too_long")
        act.text = text
    if act_date is not None:
        act.act_date = act_date
    if officer is not None:
        act.officer = _text(officer, 150, _("Ufficiale dello stato civile"))
    act.save(update_fields=["data", "text", "act_date", "officer"])
    audit_record(tenant=tenant, actor=actor, action="update", object_type="civil_act", object_id=str(act.pk),
                 object_repr=str(act), summary=_("Atto in redazione modificato"), before=before,
                 after={"data": act.data, "text": act.text, "act_date": act.act_date, "officer": act.officer}, ip=ip)
    return act


def next_number(*, tenant, kind: str, year: int, part: str, series: str) -> int:
    """The next number of a register, taken under the register counter's row lock (call inside
    the transaction that closes the act: a rollback gives the number back)."""
    ActNumberCounter.objects.bulk_create(
        [ActNumberCounter(tenant=tenant, kind=kind, year=year, part=part, series=series)], ignore_conflicts=True)
    counter = ActNumberCounter.objects.select_for_update().get(tenant=tenant, kind=kind, year=year, part=part,
                                                               series=series)
    # Acts imported from the legacy register already hold numbers: never hand one out twice.
    highest = (CivilAct.objects.filter(tenant=tenant, kind=kind, year=year, part=part, series=series)
               .aggregate(n=Max("number"))["n"]) or 0
    counter.last_number = max(counter.last_number, highest) + 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


@transaction.atomic
def act_close(*, tenant, actor, act_id: int, ip: str | None = None) -> CivilAct:
    """Close (sign) an act: number it in its register, make it immutable, apply its effects."""
    act = _lock_act(tenant=tenant, act_id=act_id)
    _refuse_closed(act)
    act.data = validate_data(act.kind, act.data)
    parties = [(p.person_id, p.role) for p in act.parties.all()]
    _check_parties(tenant=tenant, kind=act.kind, parties=parties)
    act.number = next_number(tenant=tenant, kind=act.kind, year=act.year, part=act.part, series=act.series)
    act.status, act.closed_at, act.closed_by = ActStatus.CLOSED, clock.now(), _who(actor)[:150]
    act.save(update_fields=["data", "number", "status", "closed_at", "closed_by"])
    audit_record(tenant=tenant, actor=actor, action="complete", object_type="civil_act", object_id=str(act.pk),
                 object_repr=str(act), summary=_("Atto di stato civile chiuso e numerato"),
                 after={"kind": act.kind, "year": act.year, "part": act.part, "series": act.series,
                        "number": act.number}, ip=ip)
    EFFECTS[act.kind](tenant=tenant, actor=actor, act=act, ip=ip)
    return act


def act_register(*, tenant, actor, ip: str | None = None, **fields: Any) -> CivilAct:
    """Draft and close in one go (the act is drawn up and signed at once)."""
    with transaction.atomic():
        act = act_draft_create(tenant=tenant, actor=actor, ip=ip, **fields)
        return act_close(tenant=tenant, actor=actor, act_id=act.pk, ip=ip)


# --- effects on the population register ------------------------------------------------------------


def _principal(act: CivilAct, role: str) -> list[Person]:
    return [p.person for p in act.parties.select_related("person").filter(role=role).order_by("id")]


def _set_civil_status(*, tenant, actor, people: list[Person], status: int, act: CivilAct, only_from: set[int] | None,
                      ip: str | None) -> None:
    for person in people:
        person = Person.objects.select_for_update().get(pk=person.pk)
        if only_from is not None and person.civil_status not in only_from:
            continue
        before = person.civil_status
        person.civil_status = status
        person.save(update_fields=["civil_status", "updated_at"])
        audit_record(tenant=tenant, actor=actor, action="update", object_type="registry_person",
                     object_id=str(person.pk), object_repr=str(person), summary=_("Stato civile aggiornato dall'atto %(a)s")
                     % {"a": str(act)}, before={"civil_status": before}, after={"civil_status": status}, ip=ip)


def _effects_marriage(*, tenant, actor, act: CivilAct, ip) -> None:
    spouses = _principal(act, ActRole.SPOUSE)
    _set_civil_status(tenant=tenant, actor=actor, people=spouses, status=MARRIED, act=act, only_from=None, ip=ip)
    _link_waiting_cases(tenant=tenant, actor=actor, act=act, people=spouses, ip=ip)


# --- links to the cases that lead to an act -----------------------------------------------------------

BANNS = "banns"


def _fiscal_codes(values) -> list[str]:
    return sorted({str(v or "").strip().upper() for v in values if str(v or "").strip()})


def _in_window(link: ActCaseLink, day: dt.date | None) -> bool:
    if day is None:
        return True
    return (link.valid_from is None or link.valid_from <= day) and (link.valid_to is None or day <= link.valid_to)


def _link_set(*, tenant, actor, link: ActCaseLink, act: CivilAct, ip) -> None:
    updated = ActCaseLink.objects.filter(pk=link.pk, act__isnull=True).update(act=act, linked_at=clock.now())
    if updated:
        audit_record(tenant=tenant, actor=actor, action="update", object_type="civil_act", object_id=str(act.pk),
                     object_repr=str(act), summary=_("Atto collegato alla pratica %(n)s") % {"n": link.case_number},
                     after={"case_id": link.case_id, "case_number": link.case_number, "relation": link.relation},
                     ip=ip)
        link.act = act


def _link_waiting_cases(*, tenant, actor, act: CivilAct, people: list[Person], ip) -> None:
    """A marriage act closed after the banns case said the marriage was celebrated: link them."""
    codes = _fiscal_codes(p.fiscal_code for p in people)
    if len(codes) != 2:
        return
    day = event_date(act.kind, act.data) or act.act_date
    for link in ActCaseLink.objects.filter(tenant=tenant, act__isnull=True, act_kind=act.kind, fiscal_codes=codes):
        if _in_window(link, day):
            _link_set(tenant=tenant, actor=actor, link=link, act=act, ip=ip)


def marriage_act_link(*, tenant_id: int, case_id: int, case_number: str, fiscal_codes: list[str],
                      valid_from: dt.date | None = None, valid_to: dt.date | None = None) -> ActCaseLink:
    """The banns case `case_id` led to a marriage: link it to the closed marriage act of this
    municipality naming both spouses and celebrated within the banns' validity, or, when that act
    is not closed yet (or the marriage was celebrated elsewhere), keep the link waiting: closing
    the act fills it. Idempotent per case."""
    codes = _fiscal_codes(fiscal_codes)
    if len(codes) != 2:
        raise ValidationFailed(_("Servono i codici fiscali dei due sposi."), code="spouses_invalid",
                               details={"fiscal_codes": [str(c)[:20] for c in fiscal_codes][:4]})
    if valid_from and valid_to and valid_to < valid_from:
        raise ValidationFailed(_("Periodo di validità delle pubblicazioni non valido."), code="window_invalid")
    with transaction.atomic():
        link, _created = ActCaseLink.objects.get_or_create(
            tenant_id=tenant_id, case_id=case_id, relation=BANNS,
            defaults={"act_kind": ActKind.MARRIAGE, "case_number": str(case_number or "")[:60], "fiscal_codes": codes,
                      "valid_from": valid_from, "valid_to": valid_to, "created_at": clock.now()})
        if link.act_id is not None:
            return link
        candidates = (CivilAct.objects.for_tenant(tenant_id)
                      .filter(kind=ActKind.MARRIAGE, status=ActStatus.CLOSED, parties__role=ActRole.SPOUSE,
                              parties__person__fiscal_code__in=codes)
                      .distinct().order_by("-act_date", "-id").prefetch_related("parties__person"))
        for act in candidates:
            spouses = _fiscal_codes(p.person.fiscal_code for p in act.parties.all() if p.role == ActRole.SPOUSE)
            if spouses == codes and _in_window(link, event_date(act.kind, act.data) or act.act_date):
                _link_set(tenant=act.tenant, actor=None, link=link, act=act, ip=None)
                break
    return link


def _effects_civil_union(*, tenant, actor, act: CivilAct, ip) -> None:
    _set_civil_status(tenant=tenant, actor=actor, people=_principal(act, ActRole.PARTNER), status=IN_CIVIL_UNION,
                      act=act, only_from=None, ip=ip)


def _ended(act_id: int) -> bool:
    return ActAnnotation.objects.filter(act_id=act_id, kind__in=[
        AnnotationKind.DIVORCE, AnnotationKind.ANNULMENT, AnnotationKind.UNION_DISSOLUTION, AnnotationKind.DEATH]).exists()


def _effects_death(*, tenant, actor, act: CivilAct, ip) -> None:
    (person,) = _principal(act, ActRole.DECEASED)
    died = event_date(act.kind, act.data)
    person = Person.objects.select_for_update().get(pk=person.pk)
    person.death_date = died
    person.save(update_fields=["death_date", "updated_at"])
    residence = Residence.objects.filter(person=person, end_date__isnull=True).first()
    closed = None
    if residence is not None and residence.start_date <= died:
        closed = residence_close(tenant=tenant, actor=actor, person_id=person.pk, end_date=died, closing_event="death",
                                 ip=ip)
    HouseholdMember.objects.filter(person=person, left_on__isnull=True, joined_on__lte=died).update(left_on=died)
    # The surviving spouse or civil partner of a bond still in force.
    for kind, role, status in ((ActKind.MARRIAGE, ActRole.SPOUSE, WIDOWED),
                               (ActKind.CIVIL_UNION, ActRole.PARTNER, FREE_AFTER_PARTNER_DEATH)):
        bonds = CivilAct.objects.filter(tenant=tenant, kind=kind, status=ActStatus.CLOSED, parties__person=person,
                                        parties__role=role)
        for bond in bonds:
            if _ended(bond.pk):
                continue
            others = [p for p in _principal(bond, role) if p.pk != person.pk]
            _set_civil_status(tenant=tenant, actor=actor, people=others, status=status, act=act,
                              only_from={MARRIED if kind == ActKind.MARRIAGE else IN_CIVIL_UNION}, ip=ip)
    AnprNotification.objects.create(
        tenant=tenant, event="death", person=person, act=act,
        payload={"fiscal_code": person.fiscal_code, "anpr_id": person.anpr_id, "death_date": died.isoformat(),
                 "act": {"kind": act.kind, "year": act.year, "part": act.part, "series": act.series,
                         "number": act.number}, "residence_closed": closed.pk if closed else None})
    audit_record(tenant=tenant, actor=actor, action="create", object_type="anpr_notification", object_id=str(person.pk),
                 object_repr=str(person), summary=_("Comunicazione di morte ad ANPR da inviare"),
                 after={"act": act.pk, "death_date": died}, ip=ip)


def _no_effects(**_kwargs) -> None:
    return None


EFFECTS = {ActKind.BIRTH: _no_effects, ActKind.CITIZENSHIP: _no_effects, ActKind.MARRIAGE: _effects_marriage,
           ActKind.CIVIL_UNION: _effects_civil_union, ActKind.DEATH: _effects_death}

# --- annotations ---------------------------------------------------------------------------------------

ANNOTATION_KINDS_BY_ACT = {
    ActKind.BIRTH: {AnnotationKind.RECOGNITION, AnnotationKind.RECTIFICATION, AnnotationKind.NAME_CHANGE,
                    AnnotationKind.CITIZENSHIP, AnnotationKind.DEATH, AnnotationKind.OTHER},
    ActKind.MARRIAGE: {AnnotationKind.SEPARATION, AnnotationKind.DIVORCE, AnnotationKind.ANNULMENT,
                       AnnotationKind.RECTIFICATION, AnnotationKind.PROPERTY_REGIME, AnnotationKind.OTHER},
    ActKind.DEATH: {AnnotationKind.RECTIFICATION, AnnotationKind.OTHER},
    ActKind.CITIZENSHIP: {AnnotationKind.RECTIFICATION, AnnotationKind.CITIZENSHIP, AnnotationKind.OTHER},
    ActKind.CIVIL_UNION: {AnnotationKind.UNION_DISSOLUTION, AnnotationKind.RECTIFICATION,
                          AnnotationKind.PROPERTY_REGIME, AnnotationKind.OTHER},
}


@transaction.atomic
def annotation_add(*, tenant, actor, act_id: int, kind: str, date: dt.date, authority: str = "", reference: str = "",
                   text: str = "", data: dict | None = None, ip: str | None = None) -> ActAnnotation:
    """Annotate a closed act (the act itself never changes). Divorce and dissolution of a civil
    union update the parties' civil status."""
    act = _lock_act(tenant=tenant, act_id=act_id)
    if act.status != ActStatus.CLOSED:
        raise ValidationFailed(_("Si annota solo un atto chiuso: l'atto in redazione si corregge direttamente."),
                               code="act_not_closed")
    if kind not in ANNOTATION_KINDS_BY_ACT[act.kind]:
        raise ValidationFailed(_("Annotazione non ammessa su questo tipo di atto."), code="annotation_kind_invalid")
    if date < act.act_date:
        raise ValidationFailed(_("L'annotazione non può precedere la data dell'atto."), code="dates_out_of_order")
    if len(authority) > 200 or len(reference) > 200 or len(text) > MAX_TEXT:
        raise ValidationFailed(_("Autorità, riferimento o testo troppo lunghi."), code="annotation_too_long")
    payload = data or {}
    if not isinstance(payload, dict) or len(str(payload)) > 2000:
        raise ValidationFailed(_("Dati dell'annotazione non validi."), code="annotation_data_invalid")
    annotation = ActAnnotation.objects.create(
        tenant=tenant, act=act, kind=kind, date=date, authority=authority.strip(), reference=reference.strip(),
        text=text, data=payload, recorded_by=_who(actor)[:150])
    audit_record(tenant=tenant, actor=actor, action="create", object_type="civil_act_annotation",
                 object_id=str(annotation.pk), object_repr=str(act),
                 summary=_("Annotazione: %(k)s") % {"k": AnnotationKind(kind).label},
                 after={"act": act.pk, "kind": kind, "date": date, "authority": authority, "reference": reference}, ip=ip)
    if act.kind == ActKind.MARRIAGE and kind == AnnotationKind.DIVORCE:
        _set_civil_status(tenant=tenant, actor=actor, people=_principal(act, ActRole.SPOUSE), status=DIVORCED, act=act,
                          only_from={MARRIED}, ip=ip)
    if act.kind == ActKind.CIVIL_UNION and kind == AnnotationKind.UNION_DISSOLUTION:
        _set_civil_status(tenant=tenant, actor=actor, people=_principal(act, ActRole.PARTNER),
                          status=FREE_AFTER_DISSOLUTION, act=act, only_from={IN_CIVIL_UNION}, ip=ip)
    return annotation
