"""Task metadata comes from SpiffWorkflow's parsed specs, and says what the old XML re-reader said.

`fixtures/task_metadata_before.json` holds what the lxml re-readers (the old
`bundles.user_task_metas` and the case page's `_bpmn_index`) returned for every
shipped procedure, every test bundle and every conformance model, captured before
they were replaced. The parsed-spec readers must return the same values. Procedures shipped
after that (malfunction_ticket, marriage_banns, cremation_authorisation) and later conformance models (gateway_loop) were captured from the parsed-spec readers when added:
for them the entry is a regression snapshot.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from engine.bundles import _parse, element_index, read_bundle, user_task_metas, validate_bundle

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "engine" / "models"
BEFORE = json.loads((Path(__file__).parent / "fixtures" / "task_metadata_before.json").read_text())

# The old index also named sequence flows and data items; the case page only looks up
# flow nodes (the ids of instance_progress), so those are no longer indexed.
NOT_FLOW_NODES = {
    "processes/residence_change": {"f_negative", "f_positive", "f_reply_ko", "f_reply_ok"},
    "tests/engine/models/gateways": {"f_big", "f_small"},
    "tests/engine/models/multi_instance": {"member", "review"},
}


# Shipped procedures changed since the fixture was captured: the model the old reader read, kept
# as it was, so that the comparison still runs (issue 10 reshaped the residence change).
FROZEN = {"processes/residence_change": Path(__file__).parent / "fixtures" / "residence_change_before_issue10"}


def _files(key: str, process_id: str) -> dict[str, str]:
    if key in FROZEN:
        return {p.name: p.read_text() for p in FROZEN[key].iterdir()}
    if not key.startswith("tests/engine/models/"):
        return read_bundle(ROOT / key).files
    files = {f"{process_id}.bpmn": (MODELS / f"{process_id}.bpmn").read_text()}
    if process_id == "call_activity":
        files["call_activity_child.bpmn"] = (MODELS / "call_activity_child.bpmn").read_text()
    if process_id == "dmn_fee":
        files["fee.dmn"] = (MODELS / "fee.dmn").read_text()
    return files


def test_the_fixture_covers_every_shipped_procedure_and_test_bundle():
    shipped = {f"processes/{p.name}" for p in (ROOT / "processes").iterdir() if (p / f"{p.name}.bpmn").exists()}
    bundles = {f"tests/engine/bundles/{p.name}" for p in (ROOT / "tests/engine/bundles").iterdir() if p.is_dir()}
    models = {f"tests/engine/models/{p.stem}" for p in MODELS.glob("*.bpmn") if p.stem != "call_activity_child"}
    assert shipped | bundles | models <= set(BEFORE)


@pytest.mark.parametrize("key", sorted(BEFORE))
def test_user_task_metadata_is_what_the_xml_reader_returned(key):
    before = BEFORE[key]
    spec, subprocess_specs = _parse(_files(key, before["process_id"]), before["process_id"])
    metas = {bpmn_id: dataclasses.asdict(meta) for bpmn_id, meta in user_task_metas(spec, subprocess_specs).items()}
    assert metas == before["user_tasks"]


@pytest.mark.parametrize("key", sorted(BEFORE))
def test_step_names_and_service_titles_are_what_the_case_page_read(key):
    before = BEFORE[key]
    pid = before["process_id"]
    spec, subprocess_specs = _parse(_files(key, pid), pid)
    index = element_index(spec, subprocess_specs, main_file=f"{pid}.bpmn")
    expected = {k: v for k, v in before["element_names"].items() if k not in NOT_FLOW_NODES.get(key, set())}
    assert index.names == expected
    assert index.service_result_titles == before["service_result_titles"]


def test_the_shipped_residence_change_keeps_its_lanes_forms_and_deadlines():
    files = read_bundle(ROOT / "processes" / "residence_change").files
    metas = user_task_metas(*_parse(files, "residence_change"))
    assert metas, "the residence change has user tasks"
    assert all(meta.lane and meta.form for meta in metas.values())
    assert any(meta.due_expression for meta in metas.values())
    assert any(meta.instructions for meta in metas.values())


def test_a_called_process_contributes_its_user_tasks_but_not_its_step_names():
    files = _files("tests/engine/models/call_activity", "call_activity")
    spec, subprocess_specs = _parse(files, "call_activity")
    assert "child_task" in user_task_metas(spec, subprocess_specs)
    assert "child_task" not in element_index(spec, subprocess_specs, main_file="call_activity.bpmn").names


def test_a_user_task_outside_any_lane_is_still_refused_at_validation():
    bundle = read_bundle(ROOT / "bench" / "three_tasks")
    bpmn = bundle.files["three_tasks.bpmn"]
    assert "<bpmn:flowNodeRef>first</bpmn:flowNodeRef>" in bpmn
    bundle.files["three_tasks.bpmn"] = bpmn.replace("<bpmn:flowNodeRef>first</bpmn:flowNodeRef>", "")
    assert any("user task 'first' non è in nessuna corsia" in p for p in validate_bundle(bundle))
