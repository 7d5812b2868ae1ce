"""Writes to the population register. Every function takes the tenant and works inside it.

Procedures that change a person's residence call `residence_move`/`residence_close` in the same
transaction as their ANPR result (the extension point for issue 13's alignment work); the legacy
import writes in bulk through registry.legacy.importer.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from audit.services import audit_record
from common.errors import ValidationFailed

from . import codes
from .models import (
    CLOSING_EVENTS,
    OPENING_EVENTS,
    Household,
    HouseNumber,
    HouseNumberEvent,
    HouseNumberEventKind,
    Person,
    Residence,
    ResidenceEvent,
    Street,
)
from .text import normalise, parse_date

# --- residences -------------------------------------------------------------------------------


def _lock_person(*, tenant, person_id: int) -> Person:
    person = Person.objects.for_tenant(tenant).select_for_update().filter(pk=person_id).first()
    if person is None:
        raise ValidationFailed(_("Persona non trovata nell'anagrafe."), code="person_not_found")
    return person


def residence_check_period(*, person: Person, start_date: dt.date, end_date: dt.date | None,
                           exclude_id: int | None = None) -> None:
    """Refuse a period that overlaps another residence of the person ([start, end) half-open)."""
    if end_date is not None and end_date < start_date:
        raise ValidationFailed(_("La data di fine residenza precede quella di inizio."), code="dates_out_of_order")
    others = Residence.objects.filter(person=person).exclude(pk=exclude_id)
    for other in others:
        other_end = other.end_date or dt.date.max
        mine_end = end_date or dt.date.max
        if start_date < other_end and other.start_date < mine_end:
            raise ValidationFailed(
                _("Il periodo si sovrappone alla residenza dal %(d)s.") % {"d": f"{other.start_date:%d/%m/%Y}"},
                code="residence_overlap")


@transaction.atomic
def residence_move(*, tenant, actor, person_id: int, house_number_id: int, start_date: dt.date,
                   opening_event: str, household_id: int | None = None, interior: str = "",
                   anpr_operation_ref: str = "", ip: str | None = None) -> Residence:
    """Open a residence at a civico; the current one (if any) closes on the same day (internal move)."""
    if opening_event not in OPENING_EVENTS:
        raise ValidationFailed(_("Evento di apertura della residenza non ammesso."), code="invalid_event")
    person = _lock_person(tenant=tenant, person_id=person_id)
    civico = HouseNumber.objects.for_tenant(tenant).filter(pk=house_number_id).first()
    if civico is None:
        raise ValidationFailed(_("Il civico non è nello stradario del comune."), code="house_number_unknown")
    if civico.suppressed_on is not None and civico.suppressed_on <= start_date:
        raise ValidationFailed(_("Il civico è soppresso."), code="house_number_suppressed")
    household = None
    if household_id is not None:
        household = Household.objects.for_tenant(tenant).filter(pk=household_id).first()
        if household is None:
            raise ValidationFailed(_("Famiglia non trovata."), code="household_not_found")
    current = Residence.objects.filter(person=person, end_date__isnull=True).first()
    if current is not None:
        if current.start_date > start_date:
            raise ValidationFailed(_("La nuova residenza inizia prima di quella attuale."), code="dates_out_of_order")
        current.end_date, current.closing_event = start_date, "internal_move"
        current.save(update_fields=["end_date", "closing_event"])
    residence_check_period(person=person, start_date=start_date, end_date=None)
    residence = Residence.objects.create(
        tenant=tenant, person=person, house_number=civico, household=household, interior=interior[:30],
        start_date=start_date, opening_event=opening_event, anpr_operation_ref=anpr_operation_ref[:60])
    audit_record(tenant=tenant, actor=actor, action="create", object_type="residence", object_id=str(residence.pk),
                 object_repr=str(person), summary=_("Residenza aperta in %(a)s") % {"a": str(civico)},
                 after={"house_number": civico.pk, "start_date": start_date, "event": opening_event,
                        "closed": current.pk if current else None}, ip=ip)
    return residence


@transaction.atomic
def residence_close(*, tenant, actor, person_id: int, end_date: dt.date, closing_event: str,
                    anpr_operation_ref: str = "", ip: str | None = None) -> Residence:
    """Close the current residence (departure, AIRE, death, untraceability)."""
    if closing_event not in CLOSING_EVENTS:
        raise ValidationFailed(_("Evento di chiusura della residenza non ammesso."), code="invalid_event")
    person = _lock_person(tenant=tenant, person_id=person_id)
    current = Residence.objects.filter(person=person, end_date__isnull=True).first()
    if current is None:
        raise ValidationFailed(_("La persona non ha una residenza in corso."), code="no_open_residence")
    if end_date < current.start_date:
        raise ValidationFailed(_("La data di fine residenza precede quella di inizio."), code="dates_out_of_order")
    current.end_date, current.closing_event = end_date, closing_event
    if anpr_operation_ref:
        current.anpr_operation_ref = anpr_operation_ref[:60]
    current.save(update_fields=["end_date", "closing_event", "anpr_operation_ref"])
    audit_record(tenant=tenant, actor=actor, action="update", object_type="residence", object_id=str(current.pk),
                 object_repr=str(person), summary=_("Residenza chiusa"), before={"end_date": None},
                 after={"end_date": end_date, "event": closing_event}, ip=ip)
    return current


@transaction.atomic
def residence_annul(*, tenant, actor, anpr_operation_ref: str, annulment_ref: str = "",
                    ip: str | None = None) -> list[int]:
    """Undo the residences an ANPR operation opened, after ANPR annulled it (5012/1013): an annulled
    registration never took effect, so each such period is removed and the period it had closed
    (an internal move) is open again. Only open periods are undone: a later change of the person
    is not rolled back silently (ANPR refuses to annul an operation that is not the last, EN077).
    Returns the ids of the people whose history changed."""
    if not anpr_operation_ref:
        return []
    touched = []
    for residence in (Residence.objects.for_tenant(tenant).select_for_update()
                      .filter(anpr_operation_ref=anpr_operation_ref[:60], end_date__isnull=True)
                      .select_related("person", "house_number")):
        person = _lock_person(tenant=tenant, person_id=residence.person_id)
        previous = (Residence.objects.filter(person=person, end_date=residence.start_date,
                                             closing_event=ResidenceEvent.INTERNAL_MOVE)
                    .exclude(pk=residence.pk).order_by("-start_date").first())
        before = {"residence": residence.pk, "house_number": residence.house_number_id,
                  "start_date": residence.start_date, "event": residence.opening_event}
        residence.delete()
        if previous is not None:
            previous.end_date, previous.closing_event = None, ""
            previous.save(update_fields=["end_date", "closing_event"])
        audit_record(tenant=tenant, actor=actor, action="delete", object_type="residence",
                     object_id=str(before["residence"]), object_repr=str(person),
                     summary=_("Residenza annullata (annullamento ANPR %(ref)s)") % {"ref": annulment_ref or "-"},
                     before=before, after={"reopened": previous.pk if previous else None}, ip=ip)
        touched.append(person.pk)
    return touched


# --- civici -----------------------------------------------------------------------------------


@transaction.atomic
def house_number_create(*, tenant, street: Street, code: str, number: int, suffix: str = "",
                        created_on: dt.date, anncsu_code: str = "", detail: str = "") -> HouseNumber:
    if street.tenant_id != tenant.pk:
        raise ValidationFailed(_("Via non trovata."), code="street_not_found")
    if HouseNumber.objects.filter(street=street, number=number, suffix=suffix, suppressed_on__isnull=True).exists():
        raise ValidationFailed(_("Il civico esiste già su questa via."), code="house_number_exists")
    civico = HouseNumber.objects.create(tenant=tenant, street=street, code=code, number=number, suffix=suffix,
                                        created_on=created_on, anncsu_code=anncsu_code)
    HouseNumberEvent.objects.create(tenant=tenant, house_number=civico, kind=HouseNumberEventKind.CREATED,
                                    date=created_on, detail=detail)
    return civico


@transaction.atomic
def house_number_suppress(*, tenant, house_number: HouseNumber, on: dt.date, detail: str = "",
                          replaced_by: HouseNumber | None = None) -> HouseNumber:
    """Suppress a civico; refused while somebody still resides there (move them first)."""
    if house_number.tenant_id != tenant.pk:
        raise ValidationFailed(_("Civico non trovato."), code="house_number_unknown")
    if house_number.residences.filter(end_date__isnull=True).exists():
        raise ValidationFailed(_("Al civico risiedono ancora delle persone."), code="house_number_in_use")
    house_number.suppressed_on, house_number.replaced_by = on, replaced_by
    house_number.save(update_fields=["suppressed_on", "replaced_by"])
    HouseNumberEvent.objects.create(tenant=tenant, house_number=house_number, kind=HouseNumberEventKind.SUPPRESSED,
                                    date=on, detail=detail)
    return house_number


@transaction.atomic
def house_number_renumber(*, tenant, house_number: HouseNumber, code: str, number: int, suffix: str = "",
                          on: dt.date) -> HouseNumber:
    """Renumbering (rinumerazione): a new civico replaces the old one, residents follow ex officio."""
    new = house_number_create(tenant=tenant, street=house_number.street, code=code, number=number, suffix=suffix,
                              created_on=on, detail=_("Rinumerazione del civico %(o)s") % {"o": house_number.label})
    for residence in house_number.residences.filter(end_date__isnull=True):
        residence_move(tenant=tenant, actor=None, person_id=residence.person_id, house_number_id=new.pk,
                       start_date=on, opening_event="other", household_id=residence.household_id,
                       interior=residence.interior)
    HouseNumberEvent.objects.create(tenant=tenant, house_number=house_number, kind=HouseNumberEventKind.RENAMED,
                                    date=on, detail=_("Sostituito dal civico %(n)s") % {"n": new.label})
    house_number_suppress(tenant=tenant, house_number=house_number, on=on, replaced_by=new)
    return new


# --- street register import -------------------------------------------------------------------

STREET_COLUMNS = ("codice_via", "specie", "denominazione", "codice_anncsu", "localita", "data_istituzione",
                  "data_soppressione")
MAX_STREET_ROWS = 50_000


@dataclass
class StreetImportResult:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, Italian message)


def _species_code(value: str) -> int | None:
    text = (value or "").strip()
    if text.isdigit():
        code = int(text)
        return code if codes.is_valid("toponym_species", code) else None
    return codes.toponym_species_by_name().get(" ".join(text.upper().split()))


def street_register_parse(text: str) -> tuple[list[dict], list[tuple[int, str]]]:
    """Rows of the municipality's street register CSV (format in registry/README.md), checked.

    Returns the valid rows and, for every refused one, its line and the reason in Italian."""
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("codice_via", "specie", "denominazione") if c not in header]
    if missing:
        return [], [(1, _("Intestazione non valida: mancano le colonne %(c)s.") % {"c": ", ".join(missing)})]
    reader.fieldnames = header
    rows, errors, seen = [], [], {}
    for index, raw in enumerate(reader, start=2):
        if index > MAX_STREET_ROWS + 1:
            errors.append((index, _("Troppe righe: il file ne può contenere al massimo %(n)s.") % {"n": MAX_STREET_ROWS}))
            break
        row = {k: (v or "").strip() for k, v in raw.items() if k}
        code, name = row.get("codice_via", ""), " ".join(row.get("denominazione", "").split())
        problems = []
        if not code or len(code) > 20:
            problems.append(_("codice via mancante o più lungo di 20 caratteri"))
        if not name or len(name) > 200:
            problems.append(_("denominazione mancante o più lunga di 200 caratteri"))
        species = _species_code(row.get("specie", ""))
        if species is None:
            problems.append(_("specie \"%(s)s\" non presente nella tabella ANPR delle specie di toponimo")
                            % {"s": row.get("specie", "")[:40]})
        dates = {}
        for column in ("data_istituzione", "data_soppressione"):
            value = row.get(column, "")
            dates[column] = parse_date(value)
            if value and dates[column] is None:
                problems.append(_("%(c)s non valida: usa GG/MM/AAAA") % {"c": column.replace("_", " ")})
        if dates["data_istituzione"] and dates["data_soppressione"] and \
                dates["data_soppressione"] < dates["data_istituzione"]:
            problems.append(_("la data di soppressione precede quella di istituzione"))
        if code and code in seen:
            problems.append(_("codice via già usato alla riga %(l)s") % {"l": seen[code]})
        if len(row.get("codice_anncsu", "")) > 20:
            problems.append(_("codice ANNCSU più lungo di 20 caratteri"))
        if problems:
            text = "; ".join(problems)
            errors.append((index, text[:1].upper() + text[1:] + "."))
            continue
        seen[code] = index
        rows.append({"code": code, "species": species, "name": name.upper(), "anncsu_code": row.get("codice_anncsu", ""),
                     "locality": row.get("localita", "")[:100], "valid_from": dates["data_istituzione"],
                     "valid_to": dates["data_soppressione"]})
    return rows, errors


@transaction.atomic
def street_register_import(*, tenant, actor, text: str, ip: str | None = None) -> StreetImportResult:
    """Create or update streets by their code; refused rows are listed, valid rows imported.

    A street whose name changes keeps the old name in `former_names` (toponymy history)."""
    rows, errors = street_register_parse(text)
    result = StreetImportResult(errors=errors)
    existing = {s.code: s for s in Street.objects.for_tenant(tenant).filter(code__in=[r["code"] for r in rows])}
    today = dt.date.today()
    for row in rows:
        street = existing.get(row["code"])
        if street is None:
            Street.objects.create(tenant=tenant, search_name=normalise(row["name"]), **row)
            result.created += 1
            continue
        changed = False
        if street.name != row["name"]:
            street.former_names = [*street.former_names, {"name": street.name, "until": today.isoformat()}]
            changed = True
        for key, value in row.items():
            if getattr(street, key) != value:
                setattr(street, key, value)
                changed = True
        if changed:
            street.search_name = normalise(street.name)
            street.save()
            result.updated += 1
    audit_record(tenant=tenant, actor=actor, action="create", object_type="street_register", object_id="import",
                 object_repr=_("Stradario"), summary=_("Importazione dello stradario"),
                 after={"created": result.created, "updated": result.updated, "refused": len(result.errors)}, ip=ip)
    return result
