"""The legacy import of civil-status acts and annotations: defects rejected or corrected with their
reason, accepted acts written closed with their parties, annotations attached, re-runs idempotent,
and new acts numbered after the imported ones."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.civil_status.services import act_register
from registry.legacy.importer import import_run
from registry.models import ActAnnotation, CivilAct, CivilActParty, ImportIssue, Person

pytestmark = pytest.mark.django_db


def _commit(tenant, folder, tmp_path, name):
    import_run(tenant=tenant, folder=folder, report_dir=tmp_path / f"{name}-dry")
    return import_run(tenant=tenant, folder=folder, commit=True, batch_size=200, report_dir=tmp_path / name)


@pytest.mark.postgres
def test_acts_and_annotations_are_imported_closed_with_their_parties(tenant, export, tmp_path):
    folder, manifest = export
    dry = import_run(tenant=tenant, folder=folder, report_dir=tmp_path / "dry")
    assert not CivilAct.objects.for_tenant(tenant).exists()  # the dry run writes nothing
    run = import_run(tenant=tenant, folder=folder, commit=True, batch_size=200, report_dir=tmp_path / "c1")
    counts = run.counts
    acts = CivilAct.objects.for_tenant(tenant)
    assert acts.count() == counts["acts"]["accepted"] == dry.counts["acts"]["new"] > 0
    assert set(acts.values_list("status", flat=True)) == {"closed"}
    assert ActAnnotation.objects.for_tenant(tenant).count() == counts["annotations"]["accepted"] > 0

    defects = {(d["entity"], d["reason"]): d["key"] for d in manifest["defects"]}
    for reason in ("invalid_date", "act_kind_unknown", "duplicate_act_number"):
        assert not acts.filter(legacy_id=defects[("acts", reason)]).exists(), reason
    # A party missing from the people file: the act is kept, only the known spouse is linked.
    unknown = acts.get(legacy_id=defects[("acts", "act_person_unknown")])
    assert unknown.parties.count() == 1
    # Unreadable data: kept with the event date taken from the act.
    unreadable = acts.get(legacy_id=defects[("acts", "act_data_unreadable")])
    assert unreadable.data == {"marriage_date": unreadable.act_date.isoformat()}
    assert not ActAnnotation.objects.filter(legacy_id=defects[("annotations", "orphan_annotation")]).exists()
    assert ImportIssue.objects.filter(run=run, entity="annotations", reason="dates_out_of_order").exists()

    births = acts.filter(kind="birth")
    birth = births.first()
    subject = CivilActParty.objects.get(act=birth, role="subject").person
    assert birth.data["birth_date"] == subject.birth_date.isoformat()
    assert birth.data["family_name"] == subject.family_name and "birth_time" in birth.data
    marriage = acts.filter(kind="marriage", parties__isnull=False).first()
    assert marriage.parties.filter(role="spouse").count() == 2

    # A re-run creates nothing twice and touches no closed act (the database would refuse it).
    before = sorted(acts.values_list("pk", "number", "closed_at"))
    again = _commit(tenant, folder, tmp_path, "c2")
    assert again.counts["acts"]["new"] == 0 and again.counts["annotations"]["new"] == 0
    assert sorted(CivilAct.objects.for_tenant(tenant).values_list("pk", "number", "closed_at")) == before

    # Acts drawn up after the import continue the register's numbering.
    last = acts.filter(kind="marriage", year=marriage.year, part=marriage.part, series=marriage.series)
    highest = max(last.values_list("number", flat=True))
    people = list(Person.objects.for_tenant(tenant).filter(death_date__isnull=True)[:2])
    new = act_register(tenant=tenant, actor=None, kind="marriage", act_date=dt.date(marriage.year, 12, 30),
                       office="Capannori", officer="Sindaco", data={"marriage_date": f"{marriage.year}-12-30"},
                       parties=[(people[0].pk, "spouse"), (people[1].pk, "spouse")], series=marriage.series,
                       part=marriage.part)
    assert new.number == highest + 1
