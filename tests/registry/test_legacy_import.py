"""The legacy import: every defect class of the synthetic export is rejected or corrected with its
reason, the dry run writes nothing, a crash resumes from the last committed batch, a re-run changes
nothing."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from common.errors import ValidationFailed
from registry.legacy.importer import import_run
from registry.models import (
    HouseholdMember,
    HouseNumber,
    ImportIssue,
    ImportRun,
    ImportStatus,
    Person,
    Residence,
    Street,
)

pytestmark = pytest.mark.django_db(transaction=False)

REGISTER = (Street, HouseNumber, Person, HouseholdMember, Residence)


def _snapshot(tenant):
    return {m.__name__: m.objects.for_tenant(tenant).count() for m in REGISTER}


def _rows(model, tenant, *fields):
    return sorted(model.objects.for_tenant(tenant).values_list(*fields))


def test_every_injected_defect_is_reported_with_its_reason(tenant, export, tmp_path):
    folder, manifest = export
    run = import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "report")
    issues = {(i.entity, i.key, i.reason): i for i in ImportIssue.objects.filter(run=run)}
    reported = {(entity, key.split("/")[0] if entity != "members" else key, reason)
                for entity, key, reason in issues}
    expected_severity = {"fiscal_code_check_char": "warning", "fiscal_code_normalised": "corrected",
                         "civil_status_unknown": "corrected", "invalid_birth_date": "rejected",
                         "duplicate_person": "rejected", "orphan_member": "rejected",
                         "street_not_in_register": "rejected", "address_not_in_register": "rejected",
                         "dates_out_of_order": "rejected", "overlap_trimmed": "corrected",
                         # civil-status acts and annotations
                         "act_person_unknown": "warning", "act_data_unreadable": "corrected",
                         "invalid_date": "rejected", "act_kind_unknown": "rejected",
                         "duplicate_act_number": "rejected", "orphan_annotation": "rejected"}
    assert {d["reason"] for d in manifest["defects"]} == set(expected_severity)
    for defect in manifest["defects"]:
        if defect["entity"] == "members":  # key is household/person: match on either part
            found = [i for (e, k, r), i in issues.items()
                     if e == "members" and r == defect["reason"] and defect["key"] in k.split("/")]
        else:
            found = [issues.get((defect["entity"], defect["key"], defect["reason"]))] if \
                (defect["entity"], defect["key"], defect["reason"]) in issues else []
        assert found, defect
        assert found[0].severity == expected_severity[defect["reason"]], defect
        assert found[0].message  # Italian text for the operator
    assert reported  # the report names every row it touched
    counts = run.counts
    assert counts["people"]["read"] == manifest["counts"]["people"]
    assert counts["people"]["accepted"] + counts["people"]["rejected"] == counts["people"]["read"]
    for entity in ("acts", "annotations"):  # imported now (civil-status registers)
        assert counts[entity]["read"] == manifest["counts"][entity]
        assert counts[entity]["accepted"] + counts[entity]["rejected"] == counts[entity]["read"]
        assert counts[entity]["rejected"] > 0


def test_the_dry_run_writes_nothing_to_the_register_and_writes_the_report(tenant, export, tmp_path):
    folder, _manifest = export
    before = _snapshot(tenant)
    run = import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "report")
    assert _snapshot(tenant) == before == {m.__name__: 0 for m in REGISTER}
    assert run.status == ImportStatus.DONE and run.mode == "dry_run"
    report = json.loads((tmp_path / "report" / "rapporto.json").read_text(encoding="utf-8"))
    assert report["counts"] == run.counts and len(report["issues"]) == run.issues.count()
    with open(tmp_path / "report" / "scarti.csv", encoding="utf-8") as handle:
        assert sum(1 for _ in csv.reader(handle)) == run.issues.count() + 1
    assert "Persone" in (tmp_path / "report" / "riepilogo.txt").read_text(encoding="utf-8")


def test_report_cells_a_spreadsheet_would_run_are_written_as_text(tenant, export, tmp_path):
    folder, _ = export
    people = (folder / "persone.csv").read_text(encoding="utf-8").splitlines()
    header = people[0].split(",")
    row = people[1].split(",")
    row[header.index("id")] = '=HYPERLINK("http://x")'
    (folder / "persone.csv").write_text("\n".join([people[0], ",".join(row), ",".join(row)]) + "\n", encoding="utf-8")
    import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "report")
    with open(tmp_path / "report" / "scarti.csv", encoding="utf-8") as handle:
        keys = [r[2] for r in csv.reader(handle)]
    assert "'=HYPERLINK(\"http://x\")" in keys and not any(k.startswith("=") for k in keys)


def test_commit_is_refused_without_a_dry_run_of_the_same_files(tenant, export, tmp_path):
    folder, _ = export
    with pytest.raises(ValidationFailed) as exc:
        import_run(tenant=tenant, folder=folder, commit=True, report_dir=tmp_path / "r")
    assert exc.value.code == "dry_run_required"
    assert Person.objects.for_tenant(tenant).count() == 0


def test_commit_imports_the_accepted_rows_and_audits_the_run(tenant, export, tmp_path):
    folder, manifest = export
    dry = import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "dry")
    run = import_run(tenant=tenant, folder=folder, commit=True, batch_size=100, report_dir=tmp_path / "commit")
    assert run.status == ImportStatus.DONE and run.last_batch == run.total_batches > 6
    assert Person.objects.for_tenant(tenant).count() == dry.counts["people"]["accepted"]
    assert Residence.objects.for_tenant(tenant).count() == dry.counts["residences"]["accepted"]
    # Defects became what the report said: wrong codes are "not validated", duplicates merged.
    bad_cf = next(d["key"] for d in manifest["defects"] if d["reason"] == "fiscal_code_check_char")
    assert Person.objects.get(tenant=tenant, legacy_id=bad_cf).fiscal_code_validation == 9
    duplicate = next(d["key"] for d in manifest["defects"] if d["reason"] == "duplicate_person")
    assert not Person.objects.filter(tenant=tenant, legacy_id=duplicate).exists()
    assert not Residence.objects.for_tenant(tenant).filter(house_number__code__startswith="C9").exists()
    persons_open = Counter(Residence.objects.for_tenant(tenant).filter(end_date__isnull=True)
                           .values_list("person_id", flat=True))
    assert max(persons_open.values()) == 1
    assert AuditEvent.objects.filter(tenant=tenant, object_type="registry_import", object_id=str(run.pk)).exists()


def test_a_crashed_commit_resumes_after_its_last_committed_batch(tenant, export, tmp_path):
    folder, _ = export
    import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "dry")

    class Crash(Exception):
        pass

    def crash_after_third(number: int) -> None:
        if number == 3:
            raise Crash

    with pytest.raises(Crash):
        import_run(tenant=tenant, folder=folder, commit=True, batch_size=50, report_dir=tmp_path / "c1",
                   after_batch=crash_after_third)
    crashed = ImportRun.objects.get(tenant=tenant, mode="commit")
    assert (crashed.status, crashed.last_batch) == (ImportStatus.FAILED, 3)
    streets_after_crash = Street.objects.for_tenant(tenant).count()
    assert streets_after_crash > 0 and Person.objects.for_tenant(tenant).count() == 0

    seen: list[int] = []
    resumed = import_run(tenant=tenant, folder=folder, commit=True, batch_size=50, report_dir=tmp_path / "c2",
                         progress=lambda done, total, entity: seen.append(done))
    assert resumed.pk == crashed.pk and resumed.status == ImportStatus.DONE
    assert seen[0] == 4 and seen[-1] == resumed.total_batches  # batches 1-3 were not applied again
    # The result equals a clean import into another municipality.
    from tests.factories import make_tenant

    clean = make_tenant("Comune pulito")
    import_run(tenant=clean, folder=folder, report_dir=tmp_path / "d3")
    import_run(tenant=clean, folder=folder, commit=True, batch_size=1000, report_dir=tmp_path / "c3")
    for model, fields in ((Person, ("legacy_id", "fiscal_code", "birth_date")),
                          (Residence, ("legacy_id", "start_date", "end_date"))):
        assert _rows(model, tenant, *fields) == _rows(model, clean, *fields)


def test_a_re_run_is_idempotent(tenant, export, tmp_path):
    folder, _ = export
    import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "d1")
    import_run(tenant=tenant, folder=folder, commit=True, report_dir=tmp_path / "c1")
    first = {m.__name__: _rows(m, tenant, "pk") for m in REGISTER}
    events = HouseNumber.objects.for_tenant(tenant).first().events.count()
    again = import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "d2")
    assert again.counts["people"]["new"] == 0 and again.counts["people"]["existing"] > 0
    assert again.counts["members"]["new"] == 0
    import_run(tenant=tenant, folder=folder, commit=True, report_dir=tmp_path / "c2")
    assert {m.__name__: _rows(m, tenant, "pk") for m in REGISTER} == first
    assert HouseNumber.objects.for_tenant(tenant).first().events.count() == events


def test_the_import_stays_inside_its_municipality(tenant, other_tenant, export, tmp_path):
    folder, _ = export
    import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "d1")
    import_run(tenant=tenant, folder=folder, commit=True, report_dir=tmp_path / "c1")
    assert Person.objects.for_tenant(other_tenant).count() == 0
    # The other municipality's dry run sees nothing of the first one's register.
    other = import_run(tenant=other_tenant, folder=folder, report_dir=tmp_path / "d2")
    assert other.counts["people"]["existing"] == 0


def test_commands_generate_dry_run_and_commit(tenant, tmp_path, capsys):
    out = tmp_path / "gen"
    call_command("registry_legacy_generate", "--people", "120", "--households", "50", "--out", str(out))
    call_command("registry_import", str(out), "--tenant", tenant.istat_code, "--report-dir", str(tmp_path / "r1"),
                 "--anpr-sample", "0")  # the ANPR sample check: test_import_anpr_sample.py
    assert Person.objects.for_tenant(tenant).count() == 0
    call_command("registry_import", str(out), "--tenant", tenant.istat_code, "--commit", "--batch", "40",
                 "--report-dir", str(tmp_path / "r2"))
    text = capsys.readouterr().out
    assert "lotti" in text and "Persone" in text
    assert Person.objects.for_tenant(tenant).count() > 100
