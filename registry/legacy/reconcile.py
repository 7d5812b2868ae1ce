"""Reconciliation of a legacy export: read every file, check every row, decide.

Nothing is written here. The result is a Plan: the rows to import (cleaned, with natural keys
for what they refer to), and an Issue for every row that was rejected, corrected or needs a look,
with a machine reason (English) and a message for the operator (Italian).

Rules, in import order (registry/README.md lists them for the municipality):
- streets: the street-register rules of registry.services (species from ANPR tabella 4, codes unique);
- civici: their street must be in the street register (this export or the one already loaded);
- people: fiscal codes normalised and checked (a wrong code is imported as "not validated" and
  flagged); the same fiscal code twice is one person: the copy is rejected and what refers to it is
  re-attached to the person kept; unknown codes fall back to "unknown" with a note;
- households, members: orphans (unknown person or household) are rejected; one current household
  per person;
- residences: at a civico of the street register, closed after they open, never before birth;
  overlapping periods of one person are trimmed (the earlier one ends when the next starts);
- acts: a known type, a number unique in its register (kind, year, part, series), a valid date, data
  that the act kind's schema accepts (legacy keys mapped, unknown ones dropped, the event date taken
  from the act when missing); people not in the register are not linked (flagged); imported acts
  are closed (immutable), and their effects on civil status are not replayed (the people file
  already carries the civil status);
- annotations: of an imported act, not dated before it, of a kind the act admits (else "other").
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from .. import codes
from ..civil_status.schema import SCHEMAS, validate_data
from ..civil_status.services import ANNOTATION_KINDS_BY_ACT
from ..fiscal_code import normalise as cf_normalise
from ..fiscal_code import problem as cf_problem
from ..models import (
    ActAnnotation,
    CivilAct,
    Household,
    HouseholdMember,
    HouseNumber,
    Person,
    Residence,
    Street,
)
from ..services import street_register_parse
from ..text import normalise, parse_date
from .format import (
    ACT_DATA_KEYS,
    ACT_KINDS,
    ACT_ROLES,
    ANNOTATION_KINDS,
    DOCUMENT_KINDS,
    EVENTS,
    FILES,
    NOT_YET_IMPORTED,
    ORDER,
)

MAX_FILE_BYTES = 512 * 1024 * 1024
REJECTED, CORRECTED, WARNING = "rejected", "corrected", "warning"


@dataclass
class Issue:
    entity: str
    line: int
    key: str
    severity: str
    reason: str
    message: str


@dataclass
class Plan:
    rows: dict[str, list[dict]] = field(default_factory=lambda: {e: [] for e in ORDER})
    documents: list[dict] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    fingerprint: str = ""
    people_lines: dict[str, int] = field(default_factory=dict)  # legacy id -> line of persone.csv

    def issue(self, entity: str, line: int, key: str, severity: str, reason: str, message: str) -> None:
        self.issues.append(Issue(entity, line, key[:60], severity, reason, message))


class ExportUnreadable(Exception):
    """The folder is not an export in the documented format (missing file, wrong header)."""


def fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for entity in (*ORDER, *NOT_YET_IMPORTED):
        path = folder / FILES[entity][0]
        digest.update(FILES[entity][0].encode())
        if path.exists():
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def _read(folder: Path, entity: str, *, required: bool = True) -> list[tuple[int, dict]]:
    name, columns = FILES[entity]
    path = folder / name
    if not path.exists():
        if required:
            raise ExportUnreadable(_("Manca il file %(f)s nella cartella dell'esportazione.") % {"f": name})
        return []
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ExportUnreadable(_("Il file %(f)s è troppo grande.") % {"f": name})
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise ExportUnreadable(_("Il file %(f)s non ha le colonne %(c)s.") % {"f": name, "c": ", ".join(missing)})
        reader.fieldnames = header
        return [(index, {k: (v or "").strip() for k, v in row.items() if k})
                for index, row in enumerate(reader, start=2)]


def _count(plan: Plan, entity: str, read: int) -> None:
    plan.counts[entity] = {"read": read, "accepted": 0, "corrected": 0, "warnings": 0, "rejected": 0,
                           "new": 0, "existing": 0}


def retally(plan: Plan) -> None:
    """Count again after issues were added to the plan (the ANPR sample check)."""
    for entity in ORDER:
        for key in ("rejected", "corrected", "warnings"):
            plan.counts[entity][key] = 0
    _tally(plan)


def _tally(plan: Plan) -> None:
    by_line: dict[tuple[str, int], str] = {}
    rank = {REJECTED: 3, CORRECTED: 2, WARNING: 1}
    for issue in plan.issues:
        if issue.entity not in plan.counts or issue.line == 0:
            continue
        current = by_line.get((issue.entity, issue.line))
        if current is None or rank[issue.severity] > rank[current]:
            by_line[(issue.entity, issue.line)] = issue.severity
    for (entity, _line), severity in by_line.items():
        plan.counts[entity][{REJECTED: "rejected", CORRECTED: "corrected", WARNING: "warnings"}[severity]] += 1
    for entity in ORDER:
        plan.counts[entity]["accepted"] = len(plan.rows[entity])


def reconcile(folder: Path, *, tenant, municipality_codes: set[str] | None = None) -> Plan:
    folder = Path(folder)
    plan = Plan(fingerprint=fingerprint(folder))
    if municipality_codes is None:
        from forms.models import Municipality

        municipality_codes = set(Municipality.objects.values_list("istat_code", flat=True).distinct())
    _streets(plan, folder, tenant)
    _house_numbers(plan, folder, tenant)
    merged = _people(plan, folder, tenant, municipality_codes)
    _households(plan, folder, tenant)
    _members(plan, folder, tenant, merged)
    _residences(plan, folder, tenant, merged)
    _acts(plan, folder, tenant, merged)
    _annotations(plan, folder, tenant)
    for entity in NOT_YET_IMPORTED:
        rows = _read(folder, entity, required=False)
        plan.counts[entity] = {"read": len(rows), "not_imported": len(rows)}
        if rows:
            plan.issue(entity, 0, "", WARNING, "not_yet_imported",
                       _("%(n)s righe lette e non importate: gli atti di stato civile arriveranno con i registri di "
                         "stato civile.") % {"n": len(rows)})
    _tally(plan)
    _existing(plan, tenant)
    return plan


def _existing(plan: Plan, tenant) -> None:
    """How many accepted rows are already in the register (re-run) and how many are new."""
    lookups = {
        "streets": (Street.objects.for_tenant(tenant).values_list("code", flat=True), "code"),
        "house_numbers": (HouseNumber.objects.for_tenant(tenant).values_list("code", flat=True), "code"),
        "people": (Person.objects.for_tenant(tenant).values_list("legacy_id", flat=True), "legacy_id"),
        "households": (Household.objects.for_tenant(tenant).values_list("legacy_id", flat=True), "legacy_id"),
        "residences": (Residence.objects.for_tenant(tenant).values_list("legacy_id", flat=True), "legacy_id"),
        "acts": (CivilAct.objects.for_tenant(tenant).exclude(legacy_id=None).values_list("legacy_id", flat=True),
                 "legacy_id"),
        "annotations": (ActAnnotation.objects.for_tenant(tenant).exclude(legacy_id=None)
                        .values_list("legacy_id", flat=True), "legacy_id"),
    }
    for entity, (qs, key) in lookups.items():
        known = set(qs)
        existing = sum(1 for row in plan.rows[entity] if row[key] in known)
        plan.counts[entity]["existing"], plan.counts[entity]["new"] = existing, len(plan.rows[entity]) - existing
    known_members = set(HouseholdMember.objects.for_tenant(tenant).values_list(
        "household__legacy_id", "person__legacy_id", "joined_on"))
    existing = sum(1 for r in plan.rows["members"] if (r["household"], r["person"], r["joined_on"]) in known_members)
    plan.counts["members"]["existing"], plan.counts["members"]["new"] = existing, len(plan.rows["members"]) - existing


# --- entities ----------------------------------------------------------------------------------


def _streets(plan: Plan, folder: Path, tenant) -> None:
    path = folder / FILES["streets"][0]
    if not path.exists():
        raise ExportUnreadable(_("Manca il file %(f)s nella cartella dell'esportazione.") % {"f": FILES["streets"][0]})
    text = path.read_text(encoding="utf-8-sig")
    rows, errors = street_register_parse(text)
    _count(plan, "streets", max(0, len(text.splitlines()) - 1))
    for line, message in errors:
        plan.issue("streets", line, "", REJECTED, "invalid_street", message)
    plan.rows["streets"] = rows


def _house_numbers(plan: Plan, folder: Path, tenant) -> None:
    rows = _read(folder, "house_numbers")
    _count(plan, "house_numbers", len(rows))
    streets = {r["code"] for r in plan.rows["streets"]} | set(
        Street.objects.for_tenant(tenant).values_list("code", flat=True))
    seen: set[str] = set()
    in_use: dict[tuple, str] = {}
    for line, row in rows:
        code = row["codice_civico"]
        if not code or len(code) > 30:
            plan.issue("house_numbers", line, code, REJECTED, "missing_field", _("Codice del civico mancante o troppo lungo."))
            continue
        if code in seen:
            plan.issue("house_numbers", line, code, REJECTED, "duplicate_row", _("Codice del civico ripetuto."))
            continue
        if row["codice_via"] not in streets:
            plan.issue("house_numbers", line, code, REJECTED, "street_not_in_register",
                       _("La via %(v)s non è nello stradario.") % {"v": row["codice_via"][:20]})
            continue
        if not row["numero"].isdigit() or not 0 < int(row["numero"]) < 100_000:
            plan.issue("house_numbers", line, code, REJECTED, "invalid_number", _("Numero civico non valido."))
            continue
        created, suppressed = parse_date(row["data_istituzione"]), parse_date(row["data_soppressione"])
        if (row["data_istituzione"] and created is None) or (row["data_soppressione"] and suppressed is None):
            plan.issue("house_numbers", line, code, REJECTED, "invalid_date", _("Data non valida."))
            continue
        suffix = row["esponente"].upper()[:10]
        identity = (row["codice_via"], int(row["numero"]), suffix)
        if suppressed is None and identity in in_use:
            plan.issue("house_numbers", line, code, REJECTED, "duplicate_house_number",
                       _("Lo stesso numero è già il civico %(c)s.") % {"c": in_use[identity]})
            continue
        if suppressed is None:
            in_use[identity] = code
        seen.add(code)
        plan.rows["house_numbers"].append({
            "code": code, "street": row["codice_via"], "number": int(row["numero"]), "suffix": suffix,
            "anncsu_code": row["codice_anncsu"][:20], "created_on": created, "suppressed_on": suppressed})


def _people(plan: Plan, folder: Path, tenant, municipality_codes: set[str]) -> dict[str, str]:
    """Returns the merged duplicates: legacy id of the copy -> legacy id of the person kept."""
    rows = _read(folder, "people")
    _count(plan, "people", len(rows))
    states = codes.foreign_states()
    parsed: list[tuple[int, dict, dict]] = []
    seen_ids: set[str] = set()
    for line, row in rows:
        pid = row["id"]
        if not pid or len(pid) > 30:
            plan.issue("people", line, pid, REJECTED, "missing_field", _("Identificativo della persona mancante."))
            continue
        if pid in seen_ids:
            plan.issue("people", line, pid, REJECTED, "duplicate_row", _("Identificativo ripetuto: riga scartata."))
            continue
        seen_ids.add(pid)
        family, given = " ".join(row["cognome"].split())[:150], " ".join(row["nome"].split())[:150]
        if not family or not given:
            plan.issue("people", line, pid, REJECTED, "missing_field", _("Cognome o nome mancante."))
            continue
        sex = row["sesso"].upper()
        if sex not in ("M", "F"):
            plan.issue("people", line, pid, REJECTED, "invalid_sex", _("Sesso non valido (M o F)."))
            continue
        birth = parse_date(row["data_nascita"])
        if birth is None:
            plan.issue("people", line, pid, REJECTED, "invalid_birth_date",
                       _("Data di nascita mancante o non valida: \"%(d)s\".") % {"d": row["data_nascita"][:20]})
            continue
        record = {"legacy_id": pid, "family_name": family, "given_name": given,
                  "search_name": normalise(f"{family} {given}"), "sex": sex, "birth_date": birth,
                  "anpr_id": row["id_anpr"][:20], "birth_municipality_istat": "", "birth_state_istat": "",
                  "birth_place_name": row["luogo_nascita"][:150], "death_date": None}
        cf = cf_normalise(row["codice_fiscale"])
        if cf != row["codice_fiscale"] and cf:
            plan.issue("people", line, pid, CORRECTED, "fiscal_code_normalised",
                       _("Codice fiscale riscritto in maiuscolo e senza spazi."))
        problem = cf_problem(cf) if cf else "missing"
        if problem:
            reason = {"check_char": "fiscal_code_check_char", "shape": "fiscal_code_shape"}.get(problem, "fiscal_code_missing")
            plan.issue("people", line, pid, WARNING, reason, {
                "fiscal_code_check_char": _("Codice fiscale con carattere di controllo errato: importato come non "
                                            "validato, da verificare."),
                "fiscal_code_shape": _("Codice fiscale di forma non valida: importato come non validato, da verificare."),
                "fiscal_code_missing": _("Codice fiscale mancante: persona importata senza codice, da verificare."),
            }[reason])
        record["fiscal_code"] = cf[:16]
        # A person already registered in ANPR (has its unique id) had the code validated there.
        record["fiscal_code_validation"] = codes.CF_VALIDATED if not problem and record["anpr_id"] else codes.CF_NOT_VALIDATED
        place = row["comune_nascita_istat"]
        if place:
            if place in municipality_codes:
                record["birth_municipality_istat"] = place
            else:
                plan.issue("people", line, pid, CORRECTED, "birth_municipality_unknown",
                           _("Comune di nascita %(c)s sconosciuto: tolto il codice, da verificare.") % {"c": place[:10]})
        state = row["stato_nascita_istat"]
        if state:
            if state in states and state != codes.ITALY_ISTAT:
                record["birth_state_istat"] = state
                record["birth_place_name"] = record["birth_place_name"] or states[state].name
            else:
                plan.issue("people", line, pid, CORRECTED, "birth_state_unknown",
                           _("Stato di nascita %(c)s sconosciuto: tolto il codice, da verificare.") % {"c": state[:10]})
        citizenships = []
        for code in filter(None, (c.strip() for c in row["cittadinanze"].split("|"))):
            if code in states:
                citizenships.append(code)
            else:
                plan.issue("people", line, pid, CORRECTED, "citizenship_unknown",
                           _("Cittadinanza %(c)s sconosciuta: tolta.") % {"c": code[:10]})
        record["citizenships"] = citizenships
        civil = int(row["stato_civile"]) if row["stato_civile"].isdigit() else None
        if not codes.is_valid("civil_status", civil, in_force=False):
            plan.issue("people", line, pid, CORRECTED, "civil_status_unknown",
                       _("Stato civile \"%(s)s\" sconosciuto: impostato a \"non classificabile\".") % {"s": row["stato_civile"][:10]})
            civil = codes.CIVIL_STATUS_UNKNOWN
        record["civil_status"] = civil
        if row["data_morte"]:
            death = parse_date(row["data_morte"])
            if death is None or death < birth:
                plan.issue("people", line, pid, CORRECTED, "invalid_death_date",
                           _("Data di morte non valida o precedente alla nascita: tolta, da verificare."))
            else:
                record["death_date"] = death
        document = None
        if row["documento_tipo"] or row["documento_numero"]:
            kind = DOCUMENT_KINDS.get(row["documento_tipo"].upper())
            if kind and row["documento_numero"]:
                document = {"person": pid, "kind": kind, "number": row["documento_numero"][:30],
                            "issued_by": row["documento_rilasciato_da"][:150],
                            "issued_on": parse_date(row["documento_data_rilascio"]),
                            "expires_on": parse_date(row["documento_scadenza"])}
            else:
                plan.issue("people", line, pid, CORRECTED, "document_dropped",
                           _("Documento di identità incompleto o di tipo sconosciuto: non importato."))
        parsed.append((line, record, document))

    # The same valid fiscal code twice: one person. Keep the record ANPR knows (it has the ANPR id),
    # else the lowest legacy id; re-attach what refers to the copies.
    keeper: dict[str, dict] = {}
    for _line, record, _doc in parsed:
        cf = record["fiscal_code"]
        if not cf or cf_problem(cf):
            continue
        best = keeper.get(cf)
        if best is None or (bool(record["anpr_id"]), best["legacy_id"]) > (bool(best["anpr_id"]), record["legacy_id"]):
            keeper[cf] = record
    merged: dict[str, str] = {}
    anpr_seen: dict[str, str] = {}
    for line, record, document in parsed:
        cf = record["fiscal_code"]
        kept = keeper.get(cf) if cf else None
        if kept is not None and kept is not record:
            merged[record["legacy_id"]] = kept["legacy_id"]
            plan.issue("people", line, record["legacy_id"], REJECTED, "duplicate_person",
                       _("Stessa persona della riga con identificativo %(k)s (stesso codice fiscale): tenuta quella, i "
                         "riferimenti a questa riga sono stati spostati.") % {"k": kept["legacy_id"]})
            continue
        if record["anpr_id"]:
            if record["anpr_id"] in anpr_seen:
                plan.issue("people", line, record["legacy_id"], CORRECTED, "duplicate_anpr_id",
                           _("Identificativo ANPR già usato da %(k)s: tolto, da verificare.") % {"k": anpr_seen[record["anpr_id"]]})
                record["anpr_id"] = ""
                record["fiscal_code_validation"] = codes.CF_NOT_VALIDATED
            else:
                anpr_seen[record["anpr_id"]] = record["legacy_id"]
        plan.rows["people"].append(record)
        plan.people_lines[record["legacy_id"]] = line
        if document:
            plan.documents.append(document)
    return merged


def _households(plan: Plan, folder: Path, tenant) -> None:
    rows = _read(folder, "households")
    _count(plan, "households", len(rows))
    seen: set[str] = set()
    for line, row in rows:
        hid = row["id"]
        if not hid or len(hid) > 30:
            plan.issue("households", line, hid, REJECTED, "missing_field", _("Identificativo della famiglia mancante."))
            continue
        if hid in seen:
            plan.issue("households", line, hid, REJECTED, "duplicate_row", _("Identificativo ripetuto: riga scartata."))
            continue
        kind = {"F": "family", "C": "cohabitation"}.get(row["tipo"].upper())
        if kind is None:
            plan.issue("households", line, hid, REJECTED, "invalid_kind", _("Tipo non valido (F famiglia, C convivenza)."))
            continue
        species = None
        if kind == "cohabitation":
            species = int(row["specie_convivenza"]) if row["specie_convivenza"].isdigit() else None
            if not codes.is_valid("cohabitation_species", species):
                plan.issue("households", line, hid, CORRECTED, "cohabitation_species_unknown",
                           _("Specie della convivenza sconosciuta: impostata ad \"Altri\"."))
                species = 6
        formed, dissolved = parse_date(row["data_costituzione"]), parse_date(row["data_cessazione"])
        if formed and dissolved and dissolved < formed:
            plan.issue("households", line, hid, CORRECTED, "dates_out_of_order",
                       _("Data di cessazione precedente alla costituzione: tolta, da verificare."))
            dissolved = None
        seen.add(hid)
        plan.rows["households"].append({"legacy_id": hid, "kind": kind, "anpr_id": row["id_anpr"][:20],
                                        "name": row["denominazione"][:200], "species": species,
                                        "formed_on": formed, "dissolved_on": dissolved})


def _members(plan: Plan, folder: Path, tenant, merged: dict[str, str]) -> None:
    rows = _read(folder, "members")
    _count(plan, "members", len(rows))
    people = {r["legacy_id"]: r for r in plan.rows["people"]}
    db_people = set(Person.objects.for_tenant(tenant).values_list("legacy_id", flat=True))
    households = {r["legacy_id"]: r for r in plan.rows["households"]}
    db_households = set(Household.objects.for_tenant(tenant).values_list("legacy_id", flat=True))
    seen: set[tuple] = set()
    current: dict[str, str] = {}
    heads: set[str] = set()
    for line, row in rows:
        hid, pid = row["id_famiglia"], row["id_persona"]
        key = f"{hid}/{pid}"
        if pid in merged:
            plan.issue("members", line, key, CORRECTED, "person_merged",
                       _("Riferita a un doppione: attribuita alla persona %(k)s.") % {"k": merged[pid]})
            pid = merged[pid]
        if hid not in households and hid not in db_households:
            plan.issue("members", line, key, REJECTED, "orphan_member",
                       _("La famiglia %(f)s non esiste nell'esportazione.") % {"f": hid[:30]})
            continue
        if pid not in people and pid not in db_people:
            plan.issue("members", line, key, REJECTED, "orphan_member",
                       _("La persona %(p)s non esiste o è stata scartata.") % {"p": pid[:30]})
            continue
        relationship = int(row["relazione"]) if row["relazione"].isdigit() else None
        if not codes.is_valid("relationship", relationship, in_force=False):
            plan.issue("members", line, key, CORRECTED, "relationship_unknown",
                       _("Relazione di parentela sconosciuta: impostata a \"non definito\"."))
            relationship = codes.RELATIONSHIP_UNDEFINED
        joined, left = parse_date(row["dal"]), parse_date(row["al"])
        if joined is None:
            person = people.get(pid)
            fallback = (households.get(hid) or {}).get("formed_on") or (person or {}).get("birth_date")
            if fallback is None:
                plan.issue("members", line, key, REJECTED, "invalid_date", _("Data di ingresso in famiglia mancante."))
                continue
            plan.issue("members", line, key, CORRECTED, "joined_on_missing",
                       _("Data di ingresso mancante: usata la data %(d)s.") % {"d": f"{fallback:%d/%m/%Y}"})
            joined = fallback
        if left is not None and left < joined:
            plan.issue("members", line, key, REJECTED, "dates_out_of_order",
                       _("Uscita dalla famiglia precedente all'ingresso."))
            continue
        if (hid, pid, joined) in seen:
            plan.issue("members", line, key, REJECTED, "duplicate_member", _("Componente già presente in questa famiglia."))
            continue
        if left is None:
            if pid in current:
                plan.issue("members", line, key, REJECTED, "member_two_households",
                           _("La persona è già componente attuale della famiglia %(f)s.") % {"f": current[pid]})
                continue
            current[pid] = hid
            if relationship in (codes.HEAD_OF_HOUSEHOLD, 24):
                heads.add(hid)
        seen.add((hid, pid, joined))
        plan.rows["members"].append({"household": hid, "person": pid, "relationship": relationship,
                                     "joined_on": joined, "left_on": left})
    with_members = set(current.values())
    for hid in sorted(with_members - heads):
        plan.issue("households", 0, hid, WARNING, "household_without_head",
                   _("La famiglia %(f)s non ha un intestatario tra i componenti attuali.") % {"f": hid})


def _residences(plan: Plan, folder: Path, tenant, merged: dict[str, str]) -> None:
    rows = _read(folder, "residences")
    _count(plan, "residences", len(rows))
    people = {r["legacy_id"]: r for r in plan.rows["people"]}
    db_people = dict(Person.objects.for_tenant(tenant).exclude(legacy_id=None).values_list("legacy_id", "birth_date"))
    civici = {r["code"]: r for r in plan.rows["house_numbers"]}
    db_civici = set(HouseNumber.objects.for_tenant(tenant).values_list("code", flat=True))
    households = {r["legacy_id"] for r in plan.rows["households"]} | set(
        Household.objects.for_tenant(tenant).exclude(legacy_id=None).values_list("legacy_id", flat=True))
    seen: set[str] = set()
    accepted: list[tuple[int, dict]] = []
    for line, row in rows:
        rid, pid = row["id"], row["id_persona"]
        if not rid or len(rid) > 30:
            plan.issue("residences", line, rid, REJECTED, "missing_field", _("Identificativo della residenza mancante."))
            continue
        if rid in seen:
            plan.issue("residences", line, rid, REJECTED, "duplicate_row", _("Identificativo ripetuto: riga scartata."))
            continue
        seen.add(rid)
        if pid in merged:
            plan.issue("residences", line, rid, CORRECTED, "person_merged",
                       _("Riferita a un doppione: attribuita alla persona %(k)s.") % {"k": merged[pid]})
            pid = merged[pid]
        birth = people[pid]["birth_date"] if pid in people else db_people.get(pid)
        if birth is None:
            plan.issue("residences", line, rid, REJECTED, "orphan_residence",
                       _("La persona %(p)s non esiste o è stata scartata.") % {"p": pid[:30]})
            continue
        civico = row["codice_civico"]
        if civico not in civici and civico not in db_civici:
            plan.issue("residences", line, rid, REJECTED, "address_not_in_register",
                       _("Il civico %(c)s non è nello stradario: residenza non importata, da ricondurre a un civico "
                         "esistente.") % {"c": civico[:30]})
            continue
        start, end = parse_date(row["dal"]), parse_date(row["al"])
        if start is None or (row["al"] and end is None):
            plan.issue("residences", line, rid, REJECTED, "invalid_date", _("Data di inizio o fine non valida."))
            continue
        if end is not None and end < start:
            plan.issue("residences", line, rid, REJECTED, "dates_out_of_order",
                       _("La residenza finisce (%(e)s) prima di cominciare (%(s)s).")
                       % {"e": f"{end:%d/%m/%Y}", "s": f"{start:%d/%m/%Y}"})
            continue
        if start < birth:
            plan.issue("residences", line, rid, CORRECTED, "start_before_birth",
                       _("Inizio precedente alla nascita: spostato alla data di nascita."))
            start = birth
            if end is not None and end < start:
                plan.issue("residences", line, rid, REJECTED, "dates_out_of_order", _("Residenza finita prima della nascita."))
                continue
        opening = EVENTS.get(row["evento_apertura"].upper())
        if opening is None or opening not in {"birth", "registration", "from_abroad", "internal_move", "other"}:
            plan.issue("residences", line, rid, CORRECTED, "event_unknown",
                       _("Evento di apertura \"%(e)s\" sconosciuto: impostato ad \"Altro\".") % {"e": row["evento_apertura"][:20]})
            opening = "other"
        closing = EVENTS.get(row["evento_chiusura"].upper(), "") if row["evento_chiusura"] else ""
        if end is not None and closing in ("", "birth", "registration", "from_abroad"):
            plan.issue("residences", line, rid, CORRECTED, "event_unknown",
                       _("Evento di chiusura mancante o non ammesso: impostato ad \"Altro\"."))
            closing = "other"
        if end is None and closing:
            plan.issue("residences", line, rid, CORRECTED, "event_without_end",
                       _("Evento di chiusura senza data di fine: tolto."))
            closing = ""
        household = row["id_famiglia"] or None
        if household is not None and household not in households:
            plan.issue("residences", line, rid, CORRECTED, "household_unknown",
                       _("Famiglia %(f)s sconosciuta: residenza importata senza famiglia.") % {"f": household[:30]})
            household = None
        accepted.append((line, {"legacy_id": rid, "person": pid, "house_number": civico, "household": household,
                                "interior": row["scala_interno"][:30], "start_date": start, "end_date": end,
                                "opening_event": opening, "closing_event": closing,
                                "anpr_operation_ref": row["rif_anpr"][:60]}))
    # One person's periods must not overlap: sort by start; an earlier period that runs past the
    # next start ends there (the next one is the more recent record of where the person lived).
    by_person: dict[str, list[tuple[int, dict]]] = {}
    for line, record in accepted:
        by_person.setdefault(record["person"], []).append((line, record))
    death = {r["legacy_id"]: r["death_date"] for r in plan.rows["people"]}
    for periods in by_person.values():
        periods.sort(key=lambda p: (p[1]["start_date"], p[1]["end_date"] or dt.date.max))
        previous: tuple[int, dict] | None = None
        for line, record in periods:
            if previous is not None:
                p_line, p_rec = previous
                if p_rec["start_date"] == record["start_date"]:
                    plan.issue("residences", line, record["legacy_id"], REJECTED, "overlap_same_start",
                               _("Un'altra residenza della persona (%(r)s) comincia lo stesso giorno.") % {"r": p_rec["legacy_id"]})
                    continue
                if p_rec["end_date"] is None or p_rec["end_date"] > record["start_date"]:
                    plan.issue("residences", p_line, p_rec["legacy_id"], CORRECTED, "overlap_trimmed",
                               _("Si sovrapponeva alla residenza successiva (%(r)s): chiusa il %(d)s.")
                               % {"r": record["legacy_id"], "d": f"{record['start_date']:%d/%m/%Y}"})
                    p_rec["end_date"] = record["start_date"]
                    p_rec["closing_event"] = p_rec["closing_event"] or "internal_move"
            previous = (line, record)
            plan.rows["residences"].append(record)
        if previous is not None:
            line, last = previous
            died = death.get(last["person"])
            if died and last["end_date"] is None and died >= last["start_date"]:
                plan.issue("residences", line, last["legacy_id"], CORRECTED, "closed_at_death",
                           _("Persona deceduta con residenza aperta: chiusa alla data di morte."))
                last["end_date"], last["closing_event"] = died, "death"


def _act_data(kind: str, raw: str, act_date: dt.date, person: dict | None) -> tuple[dict, list[tuple[str, str, str]]]:
    """The legacy `dati` JSON as the act kind's data, with the notes (severity, reason, message)."""
    import json

    notes: list[tuple[str, str, str]] = []
    try:
        loaded = json.loads(raw) if raw else {}
        if not isinstance(loaded, dict):
            raise ValueError
    except ValueError:
        notes.append((CORRECTED, "act_data_unreadable", _("Dati strutturati dell'atto illeggibili: ignorati.")))
        loaded = {}
    schema = SCHEMAS[kind]
    place_key = {"birth": "birth_place", "death": "death_place", "marriage": "marriage_place",
                 "civil_union": "union_place"}.get(kind)
    data: dict = {}
    dropped = []
    for key, value in loaded.items():
        target = place_key if key == "luogo" else ACT_DATA_KEYS.get(key, key)
        if target in schema:
            data[target] = value
        else:
            dropped.append(str(key)[:30])
    if dropped:
        notes.append((CORRECTED, "act_data_field_dropped",
                      _("Campi dei dati dell'atto non previsti, tolti: %(k)s.") % {"k": ", ".join(dropped)}))
    from ..civil_status.schema import EVENT_DATE

    if not data.get(EVENT_DATE[kind]):
        event = person["birth_date"] if kind == "birth" and person else act_date
        data[EVENT_DATE[kind]] = event.isoformat()
    if kind == "birth" and person:
        data.setdefault("family_name", person["family_name"])
        data.setdefault("given_name", person["given_name"])
        data.setdefault("sex", person["sex"])
    return data, notes


def _acts(plan: Plan, folder: Path, tenant, merged: dict[str, str]) -> None:
    from common.errors import ValidationFailed

    rows = _read(folder, "acts", required=False)
    _count(plan, "acts", len(rows))
    people = {r["legacy_id"]: r for r in plan.rows["people"]}
    db_people = set(Person.objects.for_tenant(tenant).exclude(legacy_id=None).values_list("legacy_id", flat=True))
    numbers = {(k, y, p, s, n): legacy for k, y, p, s, n, legacy in CivilAct.objects.for_tenant(tenant)
               .exclude(number=None).values_list("kind", "year", "part", "series", "number", "legacy_id")}
    seen: set[str] = set()
    for line, row in rows:
        aid = row["id"]
        if not aid or len(aid) > 30:
            plan.issue("acts", line, aid, REJECTED, "missing_field", _("Identificativo dell'atto mancante."))
            continue
        if aid in seen:
            plan.issue("acts", line, aid, REJECTED, "duplicate_row", _("Identificativo ripetuto: riga scartata."))
            continue
        seen.add(aid)
        kind = ACT_KINDS.get(row["tipo"].upper())
        if kind is None:
            plan.issue("acts", line, aid, REJECTED, "act_kind_unknown",
                       _("Tipo di atto \"%(t)s\" sconosciuto.") % {"t": row["tipo"][:30]})
            continue
        act_date = parse_date(row["data"])
        if act_date is None:
            plan.issue("acts", line, aid, REJECTED, "invalid_date",
                       _("Data dell'atto mancante o non valida: \"%(d)s\".") % {"d": row["data"][:20]})
            continue
        if not row["numero"].isdigit() or not 0 < int(row["numero"]) < 10_000_000 or \
                (row["anno"] and not (row["anno"].isdigit() and 1800 <= int(row["anno"]) <= 9999)):
            plan.issue("acts", line, aid, REJECTED, "invalid_number", _("Numero o anno dell'atto non validi."))
            continue
        year = int(row["anno"]) if row["anno"] else act_date.year
        part = row["parte"].strip()[:5] or "1"
        series = row["serie"].strip().upper()[:5]
        identity = (kind, year, part, series, int(row["numero"]))
        if identity in numbers and numbers[identity] != aid:
            plan.issue("acts", line, aid, REJECTED, "duplicate_act_number",
                       _("Numero già usato nello stesso registro dall'atto %(a)s.") % {"a": numbers[identity] or "-"})
            continue
        parties, roles = [], ACT_ROLES[kind]
        ids = [p.strip() for p in row["id_persone"].split("|") if p.strip()]
        for index, pid in enumerate(ids[:len(roles)]):
            if pid in merged:
                plan.issue("acts", line, aid, CORRECTED, "person_merged",
                           _("Riferito a un doppione: attribuito alla persona %(k)s.") % {"k": merged[pid]})
                pid = merged[pid]
            if pid not in people and pid not in db_people:
                plan.issue("acts", line, aid, WARNING, "act_person_unknown",
                           _("La persona %(p)s non è nell'anagrafe: atto importato senza collegarla.") % {"p": pid[:30]})
                continue
            if any(pid == p for p, _role in parties):
                continue
            parties.append((pid, roles[index]))
        first = people.get(parties[0][0]) if parties and kind == "birth" else None
        data, notes = _act_data(kind, row["dati"], act_date, first)
        for severity, reason, message in notes:
            plan.issue("acts", line, aid, severity, reason, message)
        try:
            data = validate_data(kind, data)
        except ValidationFailed as exc:
            plan.issue("acts", line, aid, REJECTED, "act_data_invalid",
                       _("Dati dell'atto non validi: %(f)s.") % {"f": ", ".join(sorted(exc.details or {}))[:200]})
            continue
        numbers[identity] = aid
        plan.rows["acts"].append({"legacy_id": aid, "kind": kind, "year": year, "part": part, "series": series,
                                  "number": int(row["numero"]), "office": row["ufficio"][:150] or "-",
                                  "officer": row["ufficiale"][:150] or "-", "act_date": act_date, "data": data,
                                  "text": row["testo"][:20_000], "parties": parties})


def _annotations(plan: Plan, folder: Path, tenant) -> None:
    rows = _read(folder, "annotations", required=False)
    _count(plan, "annotations", len(rows))
    acts = {r["legacy_id"]: (r["kind"], r["act_date"]) for r in plan.rows["acts"]}
    acts.update({legacy: (kind, day) for legacy, kind, day in CivilAct.objects.for_tenant(tenant)
                 .exclude(legacy_id=None).values_list("legacy_id", "kind", "act_date") if legacy not in acts})
    seen: set[str] = set()
    for line, row in rows:
        nid = row["id"]
        if not nid or len(nid) > 30:
            plan.issue("annotations", line, nid, REJECTED, "missing_field", _("Identificativo dell'annotazione mancante."))
            continue
        if nid in seen:
            plan.issue("annotations", line, nid, REJECTED, "duplicate_row", _("Identificativo ripetuto: riga scartata."))
            continue
        seen.add(nid)
        act = acts.get(row["id_atto"])
        if act is None:
            plan.issue("annotations", line, nid, REJECTED, "orphan_annotation",
                       _("L'atto %(a)s non esiste o è stato scartato.") % {"a": row["id_atto"][:30]})
            continue
        day = parse_date(row["data"])
        if day is None:
            plan.issue("annotations", line, nid, REJECTED, "invalid_date", _("Data dell'annotazione non valida."))
            continue
        if day < act[1]:
            plan.issue("annotations", line, nid, REJECTED, "dates_out_of_order",
                       _("Annotazione datata %(d)s, prima dell'atto (%(a)s).")
                       % {"d": f"{day:%d/%m/%Y}", "a": f"{act[1]:%d/%m/%Y}"})
            continue
        kind = ANNOTATION_KINDS.get(row["tipo"].upper())
        if kind is None or kind not in ANNOTATION_KINDS_BY_ACT[act[0]]:
            plan.issue("annotations", line, nid, CORRECTED, "annotation_kind_unknown",
                       _("Tipo di annotazione \"%(t)s\" sconosciuto o non ammesso per l'atto: impostato ad \"Altro\".")
                       % {"t": row["tipo"][:30]})
            kind = "other"
        plan.rows["annotations"].append({"legacy_id": nid, "act": row["id_atto"], "kind": kind, "date": day,
                                         "authority": row["autorita"][:200], "reference": row["riferimento_atto"][:200],
                                         "text": row["testo"][:20_000]})
