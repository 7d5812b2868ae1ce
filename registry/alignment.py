"""The ANPR alignment check: compare the local register with ANPR and list the differences.

For each resident (alive, with a fiscal code, with a current residence) the check asks ANPR's C020
(residence: identity, ANPR ids, address) and, once per household, C021 (family: its members),
through the ANPR connector, at most `PROCEDO_ANPR_ALIGN_RATE` lookups per second. Each difference
is stored with the fix it proposes; nothing is corrected by the check. A supervisor applies a fix
(or dismisses the difference) explicitly, one at a time, and each decision is audited.

Fixes that can be applied here take ANPR's value (ANPR is the national register of record for the
data it keeps): the ANPR ids, names, sex, birth date, the fiscal code's validation. Differences of
residence or household composition need a procedure (a change of residence, a registration): they
are listed with the fix "review" and can only be dismissed once handled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from audit.services import audit_record
from common import clock
from common.errors import Conflict, ValidationFailed

from . import codes
from .models import (
    AlignmentDifference,
    AlignmentRun,
    DifferenceStatus,
    Household,
    HouseholdMember,
    ImportStatus,
    Person,
    Residence,
)
from .text import normalise

REVIEW = "review"
MAX_FAILURES_IN_A_ROW = 3


@dataclass(frozen=True)
class Fix:
    label: Any  # lazy Italian text
    apply: Callable[[Person, str], dict] | None  # returns {"field": new value} applied, None = review only


def _set_person(attribute: str) -> Callable[[Person, str], dict]:
    def apply(person: Person, value: str) -> dict:
        import datetime as dt

        new: Any = dt.date.fromisoformat(value) if attribute == "birth_date" else value
        setattr(person, attribute, new)
        update = [attribute, "updated_at"]
        if attribute in ("family_name", "given_name"):
            person.search_name = normalise(f"{person.family_name} {person.given_name}")
            update.append("search_name")
        person.save(update_fields=update)
        return {attribute: value}

    return apply


def _validate_fiscal_code(person: Person, value: str) -> dict:
    person.fiscal_code_validation = codes.CF_VALIDATED
    person.save(update_fields=["fiscal_code_validation", "updated_at"])
    return {"fiscal_code_validation": codes.CF_VALIDATED}


def _set_household_anpr_id(person: Person, value: str) -> dict:
    membership = HouseholdMember.objects.filter(person=person, left_on__isnull=True).select_related("household").first()
    if membership is None:
        raise ValidationFailed(_("La persona non ha più una famiglia attuale."), code="stale_difference")
    Household.objects.filter(pk=membership.household_id).update(anpr_id=value[:20])
    return {"household": membership.household_id, "anpr_id": value}


FIXES: dict[str, Fix] = {
    "set_anpr_id": Fix(_lazy("Registra l'identificativo ANPR"), _set_person("anpr_id")),
    "take_anpr_family_name": Fix(_lazy("Prendi il cognome di ANPR"), _set_person("family_name")),
    "take_anpr_given_name": Fix(_lazy("Prendi il nome di ANPR"), _set_person("given_name")),
    "take_anpr_sex": Fix(_lazy("Prendi il sesso di ANPR"), _set_person("sex")),
    "take_anpr_birth_date": Fix(_lazy("Prendi la data di nascita di ANPR"), _set_person("birth_date")),
    "validate_fiscal_code": Fix(_lazy("Segna il codice fiscale come validato da ANPR"), _validate_fiscal_code),
    "set_household_anpr_id": Fix(_lazy("Registra l'identificativo ANPR della famiglia"), _set_household_anpr_id),
    REVIEW: Fix(_lazy("Da verificare con una pratica (nessuna correzione automatica)"), None),
}


class RateLimiter:
    """At most `rate` calls per second: waits before a call that would come too early."""

    def __init__(self, rate: float, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.monotonic, self.sleep = monotonic, sleep
        self.next_at: float | None = None

    def wait(self) -> None:
        now = self.monotonic()
        if self.next_at is not None and now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


@dataclass
class _Found:
    differences: list[dict] = field(default_factory=list)

    def add(self, field_name: str, local: Any, anpr: Any, fix: str, message: str) -> None:
        self.differences.append({"field": field_name, "local_value": str(local or "")[:300],
                                 "anpr_value": str(anpr or "")[:300], "fix": fix, "message": message[:400]})


def residents(*, tenant, limit: int | None = None):
    qs = (Person.objects.for_tenant(tenant).filter(death_date__isnull=True, residences__end_date__isnull=True)
          .exclude(fiscal_code="").order_by("pk").distinct())
    return qs[:limit] if limit else qs


def compare_person(*, tenant, person: Person, subject: dict, residence: Residence | None) -> list[dict]:
    """The differences between a local person and ANPR's C020 answer for them."""
    found = _Found()
    anpr_id = subject.get("id_anpr") or ""
    if anpr_id and person.anpr_id != anpr_id:
        found.add("anpr_id", person.anpr_id, anpr_id, "set_anpr_id",
                  _("Identificativo ANPR mancante o diverso nell'anagrafe locale.") if person.anpr_id == "" else
                  _("L'identificativo ANPR registrato è diverso da quello di ANPR."))
    for attribute, label in (("family_name", _("Cognome")), ("given_name", _("Nome"))):
        theirs = " ".join(str(subject.get(attribute) or "").split()).upper()
        if theirs and normalise(theirs) != normalise(getattr(person, attribute)):
            found.add(attribute, getattr(person, attribute), theirs, f"take_anpr_{attribute}",
                      _("%(l)s diverso da quello di ANPR.") % {"l": label})
    sex = str(subject.get("sex") or "").upper()
    if sex in ("M", "F") and sex != person.sex:
        found.add("sex", person.sex, sex, "take_anpr_sex", _("Sesso diverso da quello di ANPR."))
    born = str(subject.get("birth_date") or "")
    if born and born != person.birth_date.isoformat():
        found.add("birth_date", person.birth_date.isoformat(), born, "take_anpr_birth_date",
                  _("Data di nascita diversa da quella di ANPR."))
    if person.fiscal_code_validation != codes.CF_VALIDATED and subject.get("fiscal_code") == person.fiscal_code:
        found.add("fiscal_code_validation", person.fiscal_code_validation, codes.CF_VALIDATED, "validate_fiscal_code",
                  _("Codice fiscale non validato nell'anagrafe locale, noto ad ANPR."))
    address = subject.get("address") or {}
    if address:
        if address.get("municipality_istat") and address["municipality_istat"] != tenant.istat_code:
            found.add("residence_municipality", tenant.istat_code, f"{address.get('municipality_name', '')} "
                      f"({address['municipality_istat']})", REVIEW,
                      _("Per ANPR la persona risiede in un altro comune: verificare l'emigrazione."))
        elif residence is not None:
            civico = residence.house_number
            ours = f"{civico.street.name} {civico.number}{civico.suffix}"
            theirs = f"{address.get('street', '')} {address.get('house_number', '')}"
            if normalise(civico.street.name) != normalise(address.get("street", "")) or \
                    str(address.get("house_number") or "").upper() not in (str(civico.number), f"{civico.number}{civico.suffix}"):
                found.add("residence_address", ours, theirs.strip(), REVIEW,
                          _("Indirizzo di residenza diverso da quello di ANPR: verificare il cambio di abitazione."))
    membership = HouseholdMember.objects.filter(person=person, left_on__isnull=True).select_related("household").first()
    family_id = subject.get("family_id_anpr") or ""
    if membership is not None and family_id and membership.household.anpr_id != family_id:
        found.add("household_anpr_id", membership.household.anpr_id, family_id, "set_household_anpr_id",
                  _("Identificativo ANPR della famiglia mancante o diverso."))
    return found.differences


def compare_household(*, household: Household, members: list[dict]) -> list[dict]:
    """Differences between the household's current members and ANPR's C021 family (by fiscal code)."""
    ours = set(HouseholdMember.objects.filter(household=household, left_on__isnull=True)
               .exclude(person__fiscal_code="").values_list("person__fiscal_code", flat=True))
    theirs = {m.get("fiscal_code") for m in members if m.get("fiscal_code")}
    found = _Found()
    if ours != theirs:
        found.add("household_members", " ".join(sorted(ours)), " ".join(sorted(theirs)), REVIEW,
                  _("Componenti della famiglia diversi da quelli di ANPR: in più qui %(a)s; in più in ANPR %(b)s.")
                  % {"a": ", ".join(sorted(ours - theirs)) or "-", "b": ", ".join(sorted(theirs - ours)) or "-"})
    return found.differences


def alignment_run(*, tenant, limit: int | None = None, started_by: str = "", client=None,
                  limiter: RateLimiter | None = None, progress: Callable[[int, int], None] | None = None) -> AlignmentRun:
    """Compare up to `limit` residents with ANPR; store the run and its differences."""
    if limit is not None and limit < 1:
        raise ValidationFailed(_("Il limite deve essere positivo."), code="invalid_limit")
    if client is None:
        from connectors.anpr.client import client_for

        client = client_for(tenant, tenant.istat_code)
    from connectors.anpr.client import Caller

    caller = Caller(user_id=started_by[:60] or "procedo", location=f"procedo-{tenant.istat_code}-allineamento")
    limiter = limiter or RateLimiter(float(settings.PROCEDO_ANPR_ALIGN_RATE))
    run = AlignmentRun.objects.create(tenant=tenant, limit=limit, started_by=started_by[:150], started_at=clock.now())
    people = list(residents(tenant=tenant, limit=limit))
    seen_households: set[int] = set()
    failures, errors = 0, []

    def lookup(code: str, fiscal_code: str):
        limiter.wait()
        run.lookups += 1
        return client.lookup(code, fiscal_code, caller=caller, reason="allineamento anagrafe locale")

    try:
        for index, person in enumerate(people, start=1):
            residence = (Residence.objects.filter(person=person, end_date__isnull=True)
                         .select_related("house_number__street").first())
            try:
                result = lookup("C020", person.fiscal_code)
                differences = []
                if not result.found:
                    differences.append({"field": "presence", "local_value": person.fiscal_code, "anpr_value": "",
                                        "fix": REVIEW, "message": _("Persona residente qui ma non trovata in ANPR.")})
                else:
                    differences += compare_person(tenant=tenant, person=person, subject=result.subjects[0],
                                                  residence=residence)
                    membership = HouseholdMember.objects.filter(person=person, left_on__isnull=True).first()
                    if membership is not None and membership.household_id not in seen_households:
                        seen_households.add(membership.household_id)
                        family = lookup("C021", person.fiscal_code)
                        if family.found:
                            differences += compare_household(household=membership.household, members=family.subjects)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - one person's failure must not hide the others
                failures += 1
                errors.append(f"{person.pk}: {exc}"[:300])
                if failures >= MAX_FAILURES_IN_A_ROW:
                    raise
                continue
            AlignmentDifference.objects.bulk_create([AlignmentDifference(tenant=tenant, run=run, person=person, **d)
                                                     for d in differences])
            run.checked = index
            if progress:
                progress(index, len(people))
        run.status, run.finished_at, run.error = ImportStatus.DONE, clock.now(), "\n".join(errors)[:5000]
    except BaseException as exc:
        run.status, run.finished_at = ImportStatus.FAILED, clock.now()
        run.error = "\n".join([*errors, repr(exc)])[:5000]
        run.save()
        raise
    run.save()
    audit_record(tenant=tenant, actor=None, action="system", object_type="anpr_alignment", object_id=str(run.pk),
                 object_repr=_("Allineamento con ANPR"), summary=_("Confronto dell'anagrafe locale con ANPR"),
                 after={"checked": run.checked, "lookups": run.lookups, "differences": run.differences.count()},
                 extra={"started_by": started_by})
    return run


def _decide(*, tenant, difference_id: int) -> AlignmentDifference:
    difference = (AlignmentDifference.objects.for_tenant(tenant).select_for_update().select_related("person")
                  .filter(pk=difference_id).first())
    if difference is None:
        raise ValidationFailed(_("Differenza non trovata."), code="difference_not_found")
    if difference.status != DifferenceStatus.OPEN:
        raise Conflict(_("Questa differenza è già stata decisa."), code="difference_decided")
    return difference


def _current_value(person: Person, difference: AlignmentDifference) -> str:
    if difference.field == "birth_date":
        return person.birth_date.isoformat()
    if difference.field == "fiscal_code_validation":
        return str(person.fiscal_code_validation)
    if difference.field == "household_anpr_id":
        membership = HouseholdMember.objects.filter(person=person, left_on__isnull=True).select_related("household").first()
        return membership.household.anpr_id if membership else ""
    return str(getattr(person, difference.field, "") or "")


@transaction.atomic
def alignment_apply_fix(*, tenant, actor, difference_id: int, ip: str | None = None) -> AlignmentDifference:
    """Apply the fix a difference proposes (a supervisor's explicit decision, audited)."""
    difference = _decide(tenant=tenant, difference_id=difference_id)
    fix = FIXES.get(difference.fix)
    if fix is None or fix.apply is None:
        raise ValidationFailed(_("Questa differenza non ha una correzione automatica: va verificata con una pratica."),
                               code="fix_not_applicable")
    person = Person.objects.select_for_update().get(pk=difference.person_id)
    current = _current_value(person, difference)
    if current != difference.local_value:  # the register changed since the check: compare again first
        raise Conflict(_("Il dato locale è cambiato dopo il confronto: ripeti l'allineamento."), code="stale_difference")
    applied = fix.apply(person, difference.anpr_value)
    difference.status, difference.decided_at = DifferenceStatus.APPLIED, clock.now()
    difference.decided_by = actor.get_username() if getattr(actor, "is_authenticated", False) else ""
    difference.save(update_fields=["status", "decided_at", "decided_by"])
    audit_record(tenant=tenant, actor=actor, action="update", object_type="registry_person", object_id=str(person.pk),
                 object_repr=str(person), summary=_("Correzione da allineamento ANPR: %(f)s") % {"f": fix.label},
                 before={difference.field: difference.local_value}, after=applied,
                 extra={"alignment_difference": difference.pk, "run": difference.run_id}, ip=ip)
    return difference


@transaction.atomic
def alignment_dismiss(*, tenant, actor, difference_id: int, ip: str | None = None) -> AlignmentDifference:
    """Close a difference without changing the register (handled elsewhere, or ANPR is the one wrong)."""
    difference = _decide(tenant=tenant, difference_id=difference_id)
    difference.status, difference.decided_at = DifferenceStatus.DISMISSED, clock.now()
    difference.decided_by = actor.get_username() if getattr(actor, "is_authenticated", False) else ""
    difference.save(update_fields=["status", "decided_at", "decided_by"])
    audit_record(tenant=tenant, actor=actor, action="update", object_type="anpr_alignment_difference",
                 object_id=str(difference.pk), object_repr=str(difference.person),
                 summary=_("Differenza con ANPR archiviata"), after={"field": difference.field, "status": "dismissed"},
                 ip=ip)
    return difference
