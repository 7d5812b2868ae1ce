"""The local register follows ANPR in the case's transaction (issue 13: "every procedure that
changes ANPR updates the local register in the same transaction as its ANPR result").

Registered as result effects (`common.operations.result_effect`) of the ANPR register changes;
the engine runs them when it feeds the ANPR answer back to the case (`engine.outbox`), in a
savepoint of that transaction, and adds each report to the result under `effects.registry`:

- `anpr.mutazione_residenza` (5005 within the comune, 1002 from another comune or abroad): every
  declarant and every person moving with them (`co_movers`) moves to the declared civico from the declaration date (`residence_move`, with the ANPR
  operation id); a declarant coming from elsewhere who is not in the local register yet is added
  (names and fiscal code from the declaration; sex and birth date from the fiscal code when not
  declared), marked "fiscal code not validated".
- `anpr.annullamento_mutazione` (5012/1013): the residences opened by the annulled operation are
  undone (`residence_annul`).

A move the register cannot make (the address is not in the street register, dates out of order)
is reported with its reason and left to the ANPR alignment check: never a silent correction.
Deaths close the residence when the death act is closed (`registry.civil_status.services`), and
ANPR is told afterwards (`registry.anpr_sender`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import transaction

from accounts.models import Tenant
from common import clock
from common.errors import ProcedoError
from common.operations import OperationContext, result_effect
from connectors.anpr.operations import relationship_code

from . import codes
from .fiscal_code import normalise as normalise_cf
from .fiscal_code import problem as cf_problem
from .models import Household, HouseholdKind, HouseholdMember, HouseNumber, Person, ResidenceEvent, Street
from .services import residence_annul, residence_move
from .text import normalise

_MONTHS = "ABCDEHLMPRST"
_OMOCODE = str.maketrans("LMNPQRSTUV", "0123456789")


def street_match(*, tenant, text: str) -> Street | None:
    """The street of the register named by free text ("Via Roma", "P.zza Garibaldi", "roma")."""
    name = normalise(text)
    if not name:
        return None
    streets = Street.objects.for_tenant(tenant).filter(valid_to__isnull=True)
    found = streets.filter(search_name=name).first()
    if found is None and " " in name:
        found = streets.filter(search_name=name.split(" ", 1)[1]).first()  # without the species word
    return found


def house_number_match(*, tenant, address: dict[str, Any], on: dt.date) -> HouseNumber | None:
    street = street_match(tenant=tenant, text=str(address.get("street") or ""))
    match = re.fullmatch(r"\s*(\d+)\s*[/ ]?\s*([A-Za-z]*)\s*", str(address.get("house_number") or ""))
    if street is None or match is None:
        return None
    number, suffix = int(match.group(1)), match.group(2).upper()
    candidates = HouseNumber.objects.filter(street=street, number=number, suffix__iexact=suffix)
    return (candidates.filter(suppressed_on__isnull=True).first()
            or candidates.filter(suppressed_on__gt=on).first())


def _from_fiscal_code(code: str) -> tuple[str, dt.date] | None:
    """(sex, birth date) written in a fiscal code of the right shape (omocodia digits decoded); a
    wrong check character does not hide them (the code is stored as not validated anyway)."""
    if cf_problem(code) not in (None, "check_char"):
        return None
    year, month, day = code[6:8].translate(_OMOCODE), code[8], code[9:11].translate(_OMOCODE)
    if not (year.isdigit() and day.isdigit()) or month not in _MONTHS:
        return None
    sex, day_number = ("F", int(day) - 40) if int(day) > 40 else ("M", int(day))
    today = clock.today()
    full_year = 2000 + int(year) if 2000 + int(year) <= today.year else 1900 + int(year)
    try:
        return sex, dt.date(full_year, _MONTHS.index(month) + 1, day_number)
    except ValueError:
        return None


def _newcomer(tenant, declarant: dict[str, Any], code: str) -> Person | None:
    decoded = _from_fiscal_code(code)
    family, given = str(declarant.get("family_name") or "").strip(), str(declarant.get("given_name") or "").strip()
    try:
        birth = dt.date.fromisoformat(str(declarant.get("birth_date") or "")) if declarant.get("birth_date") else None
    except ValueError:
        birth = None
    birth = birth or (decoded[1] if decoded else None)
    if not (family and given and birth and decoded):
        return None
    return Person.objects.create(
        tenant=tenant, fiscal_code=code, fiscal_code_validation=codes.CF_NOT_VALIDATED, family_name=family.upper()[:150],
        given_name=given.upper()[:150], search_name=normalise(f"{family} {given}")[:310], sex=decoded[0],
        birth_date=birth)


@result_effect("anpr.mutazione_residenza", name="registry")
def residence_after_anpr_change(params: dict[str, Any], result: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    tenant = Tenant.objects.get(pk=ctx.tenant_id)
    try:
        start = dt.date.fromisoformat(str(params.get("declaration_date") or ""))
    except ValueError:
        start = clock.today()
    origin = str(params.get("origin") or "same_municipality")
    event = {"same_municipality": ResidenceEvent.INTERNAL_MOVE, "abroad": ResidenceEvent.FROM_ABROAD}.get(
        origin, ResidenceEvent.REGISTRATION)
    address = params.get("new_address") or {}
    civico = house_number_match(tenant=tenant, address=address, on=start)
    if civico is None:
        return {"applied": False, "code": "address_not_in_register",
                "message": "L'indirizzo dichiarato non è nello stradario del comune: la residenza va "
                           "registrata a mano (la verifica di allineamento con ANPR la segnala)."}
    ref = str(result.get("id_operazione_anpr") or "")
    # Each person's own ANPR operation (one 1002 per person; one 5005 for everybody) and the
    # relationship ANPR recorded for them, so the register says what ANPR says.
    per_person = {str(r.get("fiscal_code") or "").upper(): r for r in result.get("registrations") or []
                  if isinstance(r, dict)}
    moved, added, problems = [], [], []
    declarants = [p for p in params.get("declarants") or [] if isinstance(p, dict)]
    co_movers = [p for p in params.get("co_movers") or [] if isinstance(p, dict)]
    # The household the movers end up in: the one they join (C021 answered with its ANPR id), or
    # one formed for them when people move together into a new household; a lone declarant moving
    # within the comune keeps the household they have (the 5005 moves the whole ANPR family).
    # ANPR's answer says which (`scope`): the whole family moved (each keeps their household), the
    # movers formed a new family, or joined one; a result without it is from before that distinction.
    scope = str(result.get("scope") or "")
    together = scope == "new_family" if scope else bool(co_movers) or origin != "same_municipality"
    target = _target_household(tenant, result.get("household") or params.get("household"), result, start,
                               together=together)
    for position, declarant in enumerate([*declarants, *co_movers]):
        code = normalise_cf(str(declarant.get("fiscal_code") or ""))
        person = (Person.objects.for_tenant(tenant).filter(fiscal_code=code, death_date__isnull=True)
                  .order_by("pk").first()) if code else None
        try:
            with transaction.atomic():
                if person is None and origin != "same_municipality":
                    person = _newcomer(tenant, declarant, code)
                    if person is not None:
                        added.append(code)
                if person is None:
                    problems.append({"fiscal_code": code, "code": "person_not_in_register"})
                    continue
                current = person.residences.filter(end_date__isnull=True).first()
                household = current.household_id if current is not None and origin == "same_municipality" else None
                if target is not None:
                    household = target.pk
                    relation = (codes.HEAD_OF_HOUSEHOLD if position == 0 and target.members.filter(
                        left_on__isnull=True).exclude(person=person).count() == 0
                        else relationship_code(declarant.get("relationship")))
                    _join(tenant, target, person, relation, start)
                own = per_person.get(code) or {}
                residence_move(tenant=tenant, actor=None, person_id=person.pk, house_number_id=civico.pk,
                               start_date=start, opening_event=event, household_id=household,
                               anpr_operation_ref=str(own.get("id_operazione_anpr") or ref))
                moved.append(code)
        except ProcedoError as exc:
            problems.append({"fiscal_code": code, "code": getattr(exc, "code", "error"), "message": str(exc)})
    return {"applied": bool(moved) and not problems, "house_number": civico.pk, "moved": moved, "added": added,
            "problems": problems, "household": target.pk if target is not None else None,
            "household_kind": (result.get("household") or params.get("household") or {}).get("kind") or "new"}


def _target_household(tenant, household: Any, result: dict[str, Any], start: dt.date, *,
                      together: bool) -> Household | None:
    info = household if isinstance(household, dict) else {}
    family_id = str(info.get("family_id_anpr") or "")
    if info.get("kind") == "existing":
        found = Household.objects.for_tenant(tenant).filter(anpr_id=family_id, dissolved_on__isnull=True).first() \
            if family_id else None
        if found is None:  # ANPR knows the family, our register not by its id: the head's household
            head = normalise_cf(str((info.get("head") or {}).get("fiscal_code") or ""))
            member = HouseholdMember.objects.filter(tenant=tenant, person__fiscal_code=head,
                                                    left_on__isnull=True).select_related("household").first() \
                if head else None
            found = member.household if member is not None else None
        return found
    if not together:
        return None
    return Household.objects.create(tenant=tenant, kind=HouseholdKind.FAMILY, formed_on=start,
                                    anpr_id=str(result.get("family_id_anpr") or family_id)[:20])


def _join(tenant, household: Household, person: Person, relationship: int, on: dt.date) -> None:
    """The person leaves their current household sheet (if another) and joins this one from `on`."""
    current = HouseholdMember.objects.filter(person=person, left_on__isnull=True).first()
    if current is not None:
        if current.household_id == household.pk:
            return
        current.left_on = max(on, current.joined_on)
        current.save(update_fields=["left_on"])
    HouseholdMember.objects.create(tenant=tenant, household=household, person=person, relationship=relationship,
                                   joined_on=on)


@result_effect("anpr.annullamento_mutazione", name="registry")
def residence_after_anpr_annulment(params: dict[str, Any], result: dict[str, Any],
                                   ctx: OperationContext) -> dict[str, Any]:
    tenant = Tenant.objects.get(pk=ctx.tenant_id)
    registration = params.get("registration_result") or {}
    # One annulment per ANPR operation of the registration (one 1002 per person); a result from
    # before per-person registration names only the first.
    pairs = [(str(a.get("annulled") or ""), str(a.get("id_operazione_anpr") or ""))
             for a in result.get("annulments") or [] if isinstance(a, dict)] or [
        (str(registration.get("id_operazione_anpr") or ""), str(result.get("id_operazione_anpr") or ""))]
    people: set[int] = set()
    for annulled, annulment in pairs:
        people.update(residence_annul(tenant=tenant, actor=None, anpr_operation_ref=annulled,
                                      annulment_ref=annulment))
    return {"applied": True, "people": len(people)}
