"""Run the legacy import: reconcile, report, and (when asked) commit in batches.

- A dry run writes nothing to the register: it stores the run with its report (counts and issues)
  and writes the report files.
- A commit needs a finished dry run of the same input (same SHA-256 fingerprint) for the tenant:
  the municipality reads the report before anything is written.
- Commit goes in batches, each in its own transaction together with the run's `last_batch`, so a
  crash loses at most the batch in flight and the next run of the same input resumes after the last
  committed one. Rows are written by natural key (upsert): running the import again changes
  nothing that is already there.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from audit.services import audit_record
from common import clock
from common.errors import Conflict, ValidationFailed

from ..models import (
    ActAnnotation,
    ActStatus,
    CivilAct,
    CivilActParty,
    Household,
    HouseholdMember,
    HouseNumber,
    HouseNumberEvent,
    HouseNumberEventKind,
    IdentityDocument,
    ImportIssue,
    ImportMode,
    ImportPhase,
    ImportRun,
    ImportStatus,
    Person,
    Residence,
    Street,
)
from ..text import normalise
from .anpr_sample import MAX_SAMPLE, anpr_sample_check
from .format import ENTITY_LABELS, ORDER
from .reconcile import Plan, reconcile, retally

Progress = Callable[[int, int, str], None]


def _units(plan: Plan, batch_size: int) -> list[tuple[str, list[dict]]]:
    units = []
    for entity in ORDER:
        rows = plan.rows[entity]
        for start in range(0, len(rows), batch_size):
            units.append((entity, rows[start:start + batch_size]))
    return units


def import_run(*, tenant, folder: Path, commit: bool = False, batch_size: int = 1000, started_by: str = "",
               report_dir: Path | None = None, progress: Progress | None = None,
               after_batch: Callable[[int], None] | None = None, anpr_sample: int = 0, anpr_client=None,
               anpr_limiter=None) -> ImportRun:
    """Reconcile `folder` for `tenant`; with commit=True also write it (resuming an interrupted run).
    `anpr_sample` people (evenly spread) are looked up in ANPR and mismatches reported (anpr_sample.py).
    The run row says which phase it is in and how far (the live progress page polls it)."""
    if not 1 <= batch_size <= 50_000:
        raise ValidationFailed(_("La dimensione del lotto deve essere tra 1 e 50.000."), code="invalid_batch")
    if not 0 <= anpr_sample <= MAX_SAMPLE:
        raise ValidationFailed(_("Il campione da verificare con ANPR deve essere tra 0 e %(n)s persone.")
                               % {"n": MAX_SAMPLE}, code="invalid_sample")
    folder = Path(folder)
    plan = reconcile(folder, tenant=tenant)
    mode = ImportMode.COMMIT if commit else ImportMode.DRY_RUN
    run = None
    if commit:
        if not ImportRun.objects.for_tenant(tenant).filter(mode=ImportMode.DRY_RUN, status=ImportStatus.DONE,
                                                           fingerprint=plan.fingerprint).exists():
            raise ValidationFailed(_("Esegui prima la prova (senza --commit) su questi stessi file e leggi il rapporto."),
                                   code="dry_run_required")
        run = (ImportRun.objects.for_tenant(tenant)
               .filter(mode=ImportMode.COMMIT, fingerprint=plan.fingerprint,
                       status__in=[ImportStatus.RUNNING, ImportStatus.FAILED])
               .order_by("-pk").first())
    if run is None:
        run = ImportRun.objects.create(tenant=tenant, mode=mode, source=str(folder)[:500], fingerprint=plan.fingerprint,
                                       batch_size=batch_size, started_by=started_by[:150], started_at=clock.now(),
                                       counts=plan.counts)
    else:
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.RUNNING, error="")
        run.refresh_from_db()
    units = _units(plan, run.batch_size)
    run.total_batches = len(units) if commit else 0
    run.save(update_fields=["total_batches"])
    try:
        if anpr_sample:
            _set_phase(run, ImportPhase.ANPR_CHECK)

            def sample_progress(done: int, total: int) -> None:
                if done == total or done % 5 == 0:
                    ImportRun.objects.filter(pk=run.pk).update(anpr_sample={"size": total, "checked": done})

            figures = anpr_sample_check(tenant=tenant, plan=plan, size=anpr_sample, client=anpr_client,
                                        limiter=anpr_limiter, started_by=started_by, progress=sample_progress)
            retally(plan)
            ImportRun.objects.filter(pk=run.pk).update(anpr_sample=figures, counts=plan.counts)
            run.anpr_sample = figures
            # ANPR was asked about people: a read of personal data on the national register, audited
            audit_record(tenant=tenant, actor=None, action="read", object_type="registry_import",
                         object_id=str(run.pk), object_repr=run.source,
                         summary=_("Verifica a campione con ANPR dell'importazione"),
                         after={k: figures[k] for k in ("size", "checked", "mismatched", "not_found", "errors")},
                         extra={"started_by": run.started_by})
        if commit:
            _set_phase(run, ImportPhase.COMMIT)
            for number, (entity, rows) in enumerate(units, start=1):
                if number <= run.last_batch:
                    continue
                _commit_batch(tenant=tenant, run_id=run.pk, number=number, entity=entity, rows=rows, plan=plan)
                if progress:
                    progress(number, len(units), entity)
                if after_batch:
                    after_batch(number)
        _set_phase(run, ImportPhase.REPORT)
        _finish(run=run, plan=plan, report_dir=report_dir)
    except BaseException as exc:
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.FAILED, error=repr(exc)[:2000],
                                                   finished_at=clock.now())
        raise
    run.refresh_from_db()
    return run


def _set_phase(run: ImportRun, phase: str) -> None:
    ImportRun.objects.filter(pk=run.pk).update(phase=phase)
    run.phase = phase


def _commit_batch(*, tenant, run_id: int, number: int, entity: str, rows: list[dict], plan: Plan) -> None:
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run_id)
        if run.last_batch != number - 1:  # another process moved this run on: do not apply twice
            raise Conflict(_("Un'altra importazione sta lavorando su questi file."), code="import_in_progress")
        WRITERS[entity](tenant, rows, plan)
        run.last_batch = number
        run.save(update_fields=["last_batch"])


def _ids(model, tenant, field: str, keys) -> dict:
    return dict(model.objects.for_tenant(tenant).filter(**{f"{field}__in": list(set(keys))}).values_list(field, "pk"))


def _write_streets(tenant, rows, plan) -> None:
    Street.objects.bulk_create(
        [Street(tenant=tenant, search_name=normalise(r["name"]), **r) for r in rows],
        update_conflicts=True, unique_fields=["tenant", "code"],
        update_fields=["species", "name", "search_name", "anncsu_code", "locality", "valid_from", "valid_to"])


def _write_house_numbers(tenant, rows, plan) -> None:
    streets = _ids(Street, tenant, "code", (r["street"] for r in rows))
    known = set(HouseNumber.objects.for_tenant(tenant).filter(code__in=[r["code"] for r in rows])
                .values_list("code", flat=True))
    HouseNumber.objects.bulk_create(
        [HouseNumber(tenant=tenant, street_id=streets[r["street"]], **{k: v for k, v in r.items() if k != "street"})
         for r in rows],
        update_conflicts=True, unique_fields=["tenant", "code"],
        update_fields=["street", "number", "suffix", "anncsu_code", "created_on", "suppressed_on"])
    fresh = [r for r in rows if r["code"] not in known]
    ids = _ids(HouseNumber, tenant, "code", (r["code"] for r in fresh))
    events = []
    for r in fresh:  # history of civici new to the register (a re-run adds none)
        events.append(HouseNumberEvent(tenant=tenant, house_number_id=ids[r["code"]], kind=HouseNumberEventKind.CREATED,
                                       date=r["created_on"] or dt.date(1900, 1, 1), detail=_("Importato dall'anagrafe precedente")))
        if r["suppressed_on"]:
            events.append(HouseNumberEvent(tenant=tenant, house_number_id=ids[r["code"]],
                                           kind=HouseNumberEventKind.SUPPRESSED, date=r["suppressed_on"]))
    HouseNumberEvent.objects.bulk_create(events)


def _write_people(tenant, rows, plan) -> None:
    fields = [k for k in rows[0] if k != "legacy_id"] if rows else []
    Person.objects.bulk_create([Person(tenant=tenant, **r) for r in rows], update_conflicts=True,
                               unique_fields=["tenant", "legacy_id"], update_fields=fields)
    keys = {r["legacy_id"] for r in rows}
    documents = [d for d in plan.documents if d["person"] in keys]
    if documents:
        ids = _ids(Person, tenant, "legacy_id", keys)
        IdentityDocument.objects.bulk_create(
            [IdentityDocument(tenant=tenant, person_id=ids[d["person"]], **{k: v for k, v in d.items() if k != "person"})
             for d in documents],
            update_conflicts=True, unique_fields=["person", "kind", "number"],
            update_fields=["issued_by", "issued_on", "expires_on"])


def _write_households(tenant, rows, plan) -> None:
    fields = [k for k in rows[0] if k != "legacy_id"] if rows else []
    Household.objects.bulk_create([Household(tenant=tenant, **r) for r in rows], update_conflicts=True,
                                  unique_fields=["tenant", "legacy_id"], update_fields=fields)


def _write_members(tenant, rows, plan) -> None:
    households = _ids(Household, tenant, "legacy_id", (r["household"] for r in rows))
    people = _ids(Person, tenant, "legacy_id", (r["person"] for r in rows))
    HouseholdMember.objects.bulk_create(
        [HouseholdMember(tenant=tenant, household_id=households[r["household"]], person_id=people[r["person"]],
                         relationship=r["relationship"], joined_on=r["joined_on"], left_on=r["left_on"]) for r in rows],
        update_conflicts=True, unique_fields=["household", "person", "joined_on"],
        update_fields=["relationship", "left_on"])


def _write_residences(tenant, rows, plan) -> None:
    people = _ids(Person, tenant, "legacy_id", (r["person"] for r in rows))
    civici = _ids(HouseNumber, tenant, "code", (r["house_number"] for r in rows))
    households = _ids(Household, tenant, "legacy_id", (r["household"] for r in rows if r["household"]))
    objects = []
    for r in rows:
        values = {k: v for k, v in r.items() if k not in ("person", "house_number", "household")}
        objects.append(Residence(tenant=tenant, person_id=people[r["person"]], house_number_id=civici[r["house_number"]],
                                 household_id=households.get(r["household"]) if r["household"] else None, **values))
    Residence.objects.bulk_create(
        objects, update_conflicts=True, unique_fields=["tenant", "legacy_id"],
        update_fields=["person", "house_number", "household", "interior", "start_date", "end_date", "opening_event",
                       "closing_event", "anpr_operation_ref"])


def _write_acts(tenant, rows, plan) -> None:
    """Acts are immutable: new ones are written (as drafts, their parties, then closed in the same
    transaction, as the database allows parties only on open acts); existing ones are left alone."""
    CivilAct.objects.bulk_create(
        [CivilAct(tenant=tenant, status=ActStatus.DRAFT, **{k: v for k, v in r.items() if k != "parties"}) for r in rows],
        ignore_conflicts=True)
    fresh = dict(CivilAct.objects.for_tenant(tenant).filter(legacy_id__in=[r["legacy_id"] for r in rows],
                                                            status=ActStatus.DRAFT).values_list("legacy_id", "pk"))
    people = _ids(Person, tenant, "legacy_id", (pid for r in rows for pid, _role in r["parties"]))
    CivilActParty.objects.bulk_create(
        [CivilActParty(tenant=tenant, act_id=fresh[r["legacy_id"]], person_id=people[pid], role=role)
         for r in rows if r["legacy_id"] in fresh for pid, role in r["parties"] if pid in people],
        ignore_conflicts=True)
    CivilAct.objects.filter(pk__in=fresh.values()).update(status=ActStatus.CLOSED, closed_at=clock.now(),
                                                          closed_by="registry_import")


def _write_annotations(tenant, rows, plan) -> None:
    acts = _ids(CivilAct, tenant, "legacy_id", (r["act"] for r in rows))
    ActAnnotation.objects.bulk_create(
        [ActAnnotation(tenant=tenant, act_id=acts[r["act"]], recorded_by="registry_import",
                       **{k: v for k, v in r.items() if k != "act"}) for r in rows],
        ignore_conflicts=True)


WRITERS = {"streets": _write_streets, "house_numbers": _write_house_numbers, "people": _write_people,
           "households": _write_households, "members": _write_members, "residences": _write_residences,
           "acts": _write_acts, "annotations": _write_annotations}


def _finish(*, run: ImportRun, plan: Plan, report_dir: Path | None) -> None:
    target = Path(report_dir) if report_dir else Path(settings.VAR_DIR) / "registry-imports" / f"run-{run.pk}"
    write_report(plan=plan, run=run, target=target)
    with transaction.atomic():
        ImportIssue.objects.filter(run=run).delete()
        ImportIssue.objects.bulk_create(
            [ImportIssue(run=run, entity=i.entity, line=i.line, key=i.key, severity=i.severity, reason=i.reason,
                         message=i.message[:400]) for i in plan.issues], batch_size=2000)
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.DONE, counts=plan.counts, report_dir=str(target),
                                                   finished_at=clock.now(), phase=ImportPhase.DONE)
        if run.mode == ImportMode.COMMIT:
            audit_record(tenant=run.tenant, actor=None, action="create", object_type="registry_import",
                         object_id=str(run.pk), object_repr=run.source,
                         summary=_("Importazione dell'anagrafe precedente"),
                         after={"counts": plan.counts}, extra={"started_by": run.started_by, "fingerprint": run.fingerprint})


def summary_text(plan: Plan, run: ImportRun) -> str:
    mode = _("prova, nessuna scrittura") if run.mode == ImportMode.DRY_RUN else _("importazione")
    lines = [_("Importazione dell'anagrafe precedente n. %(n)s (%(m)s)") % {"n": run.pk, "m": mode},
             _("Cartella: %(s)s") % {"s": run.source}, _("Impronta SHA-256: %(f)s") % {"f": run.fingerprint}, ""]
    header = f"{_('Archivio'):<24}{_('lette'):>8}{_('accettate'):>11}{_('corrette'):>10}{_('avvisi'):>8}{_('scartate'):>10}{_('nuove'):>8}{_('presenti'):>10}"
    lines.append(header)
    for entity, c in plan.counts.items():
        if "not_imported" in c:
            lines.append(f"{ENTITY_LABELS[entity]:<24}{c['read']:>8}   " + _("non ancora importati"))
            continue
        lines.append(f"{ENTITY_LABELS[entity]:<24}{c['read']:>8}{c['accepted']:>11}{c['corrected']:>10}"
                     f"{c['warnings']:>8}{c['rejected']:>10}{c['new']:>8}{c['existing']:>10}")
    sample = run.anpr_sample or {}
    if sample.get("size"):
        lines += ["", _("Verifica a campione con ANPR: %(c)s persone verificate su %(s)s; %(m)s uguali, %(d)s con "
                        "differenze, %(n)s non trovate, %(e)s errori.") % {
            "c": sample.get("checked", 0), "s": sample["size"], "m": sample.get("matching", 0),
            "d": sample.get("mismatched", 0), "n": sample.get("not_found", 0), "e": sample.get("errors", 0)}]
        if sample.get("error"):
            lines.append("  " + sample["error"])
    reasons: dict[tuple[str, str, str], int] = {}
    for issue in plan.issues:
        key = (issue.entity, issue.severity, issue.reason)
        reasons[key] = reasons.get(key, 0) + 1
    lines += ["", _("Motivi (archivio, esito, motivo: righe)")]
    for (entity, severity, reason), n in sorted(reasons.items()):
        lines.append(f"  {ENTITY_LABELS[entity]}, {severity}, {reason}: {n}")
    return "\n".join(lines) + "\n"


def write_report(*, plan: Plan, run: ImportRun, target: Path) -> None:
    """riepilogo.txt (summary), rapporto.json (counts and every issue), scarti.csv (every issue)."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "riepilogo.txt").write_text(summary_text(plan, run), encoding="utf-8")
    (target / "rapporto.json").write_text(json.dumps(
        {"run": run.pk, "mode": run.mode, "source": run.source, "fingerprint": run.fingerprint, "counts": plan.counts,
         "anpr_sample": run.anpr_sample or {},
         "issues": [asdict(i) for i in plan.issues]}, ensure_ascii=False, indent=1), encoding="utf-8")
    with open(target / "scarti.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["archivio", "riga", "chiave", "esito", "motivo", "messaggio"])
        for i in plan.issues:
            writer.writerow([_cell(v) for v in (i.entity, i.line, i.key, i.severity, i.reason, i.message)])


def _cell(value) -> object:
    """Keys and messages quote the legacy file: a cell a spreadsheet would run as a formula is
    written as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
