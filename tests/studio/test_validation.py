"""Validation before publish: the engine's checks plus the studio's, each problem naming file,
BPMN element, a stable code and an Italian message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.bundles import read_bundle
from studio.validation import validate_draft
from tests.studio.helpers import MAIN, NEW_FORM, inserted_task_bpmn

PROCESSES = Path(__file__).resolve().parents[2] / "processes"


def _files(**changes: str) -> dict[str, str]:
    files = dict(read_bundle(PROCESSES / "residence_change").files)
    files.update(changes)
    return files


def _codes(files) -> dict[tuple[str, str | None], str]:
    return {(p.code, p.element_id): p.severity for p in validate_draft("residence_change", files)}


def _only(files, code):
    found = [p for p in validate_draft("residence_change", files) if p.code == code]
    assert found, f"no {code} among {[p.code for p in validate_draft('residence_change', files)]}"
    return found[0]


def test_the_shipped_residence_change_has_no_problem():
    assert validate_draft("residence_change", _files()) == []


def test_a_lane_that_is_no_role_is_an_error_on_each_of_its_tasks():
    bpmn = _files()[MAIN].replace('<bpmn:lane id="lane_police" name="police">',
                                  '<bpmn:lane id="lane_police" name="vigili">')
    problem = _only(_files(**{MAIN: bpmn}), "unknown_role")
    assert (problem.file, problem.element_id, problem.severity) == (MAIN, "police_verification", "error")
    assert "vigili" in problem.message and "ruolo" in problem.message


def test_a_user_task_without_a_deadline_is_an_error():
    bpmn = inserted_task_bpmn(_files()[MAIN], due=None)
    problem = _only(_files(**{MAIN: bpmn, "forms/check_documents.schema.json": NEW_FORM}), "missing_due_date")
    assert problem.element_id == "check_documents" and "scadenza" in problem.message


def test_an_invalid_json_schema_is_named_with_its_file():
    schema = '{"type": "object", "properties": {"x": {"type": "strano"}}}'
    problem = _only(_files(**{"forms/registration.schema.json": schema}), "invalid_schema")
    assert problem.file == "forms/registration.schema.json" and problem.element_id == "registration"
    problem = _only(_files(**{"forms/registration.schema.json": "{not json"}), "invalid_json")
    assert "riga 1" in problem.message


def test_an_unknown_operation_and_a_missing_required_parameter():
    bpmn = _files()[MAIN].replace('serviceTaskOperator id="anpr.mutazione_residenza"',
                                  'serviceTaskOperator id="anpr.non_esiste"')
    assert _only(_files(**{MAIN: bpmn}), "unknown_operation").element_id == "anpr_registration"
    banns = dict(read_bundle(PROCESSES / "marriage_banns").files)
    text = banns["marriage_banns.bpmn"]
    at = text.index('serviceTaskOperator id="noticeboard.publish"')
    banns["marriage_banns.bpmn"] = text[:at] + text[at:].replace(
        '<spiffworkflow:parameter id="title"', '<spiffworkflow:parameter id="titolo"', 1)
    problems = [p for p in validate_draft("marriage_banns", banns) if p.code in ("missing_parameter", "unknown_parameter")]
    assert {(p.code, p.severity) for p in problems} == {("missing_parameter", "error"), ("unknown_parameter", "warning")}
    assert all("title" in p.message or "titolo" in p.message for p in problems)


def test_expressions_go_through_the_engine_sandbox():
    bpmn = _files()[MAIN].replace('value="add_working_days(received_on, 2)"', 'value="__import__(\'os\')"')
    problem = _only(_files(**{MAIN: bpmn}), "invalid_expression")
    assert problem.element_id == "registration" and "non ammessa" in problem.message


def test_a_constant_timer_must_be_iso_8601():
    bpmn = _files()[MAIN].replace("end_of_day(term_end(received_on, 45))</bpmn:timeDate>", "'45 giorni'</bpmn:timeDate>", 1)
    problem = _only(_files(**{MAIN: bpmn}), "invalid_timer")
    assert problem.element_id == "silence_timer" and "ISO 8601" in problem.message
    fine = _files()[MAIN].replace("end_of_day(term_end(received_on, 45))</bpmn:timeDate>", "'P45D'</bpmn:timeDate>", 1)
    assert "invalid_timer" not in {c for c, _ in _codes(_files(**{MAIN: fine}))}


def test_a_field_nobody_produces_is_an_error_on_the_element_that_reads_it():
    # A deadline reading a name nothing produces.
    bpmn = _files()[MAIN].replace('value="add_working_days(received_on, 2)"',
                                  'value="add_working_days(data_di_arrivo, 2)"')
    problem = _only(_files(**{MAIN: bpmn}), "unknown_field")
    assert (problem.element_id, problem.severity) == ("registration", "error") and "data_di_arrivo" in problem.message
    # An operation parameter reading a field the task's (closed) form does not have.
    bpmn = _files()[MAIN].replace('value="registration[&quot;origin&quot;]"', 'value="registration[&quot;origine&quot;]"')
    problem = _only(_files(**{MAIN: bpmn}), "unknown_form_field")
    assert (problem.element_id, problem.severity) == ("anpr_registration", "error") and "origine" in problem.message


def test_a_gateway_reading_an_undeclared_setting_is_an_error():
    banns = dict(read_bundle(PROCESSES / "marriage_banns").files)
    banns["marriage_banns.bpmn"] = banns["marriage_banns.bpmn"].replace(
        "get(settings, &quot;four_eyes&quot;, False)", "get(settings, &quot;quattro_occhi&quot;, False)")
    problems = [p for p in validate_draft("marriage_banns", banns) if p.code == "unknown_setting"]
    assert [(p.element_id, p.severity) for p in problems] == [("gw_four_eyes", "error")]
    assert "quattro_occhi" in problems[0].message


def test_names_the_code_binds_itself_and_open_forms_are_not_errors():
    files = _files()
    schema = json.loads(files["forms/registration.schema.json"])
    # A form that admits fields it does not list: reading one of them is only a warning.
    schema["additionalProperties"] = {"type": "string"}
    bpmn = files[MAIN].replace('value="registration[&quot;origin&quot;]"',
                               'value="[r[&quot;x&quot;] for r in [registration]] or registration[&quot;origine&quot;]"')
    problems = validate_draft("residence_change", {**files, MAIN: bpmn,
                                                   "forms/registration.schema.json": json.dumps(schema)})
    assert [(p.code, p.severity) for p in problems] == [("unknown_form_field", "warning")], problems
    # Fields of a conditional part of the form (if/then) are fields of the form.
    schema = json.loads(files["forms/registration.schema.json"])
    schema["if"] = {"properties": {"origin": {"const": "abroad"}}}
    schema["then"] = {"properties": {"origine": {"type": "string"}}}
    problems = validate_draft("residence_change", {**files, MAIN: bpmn,
                                                   "forms/registration.schema.json": json.dumps(schema)})
    assert problems == [], problems


def test_broken_xml_and_yaml_are_reported_not_raised():
    assert _only(_files(**{MAIN: "<bpmn:definitions"}), "invalid_xml").file == MAIN
    assert _only(_files(**{"manifest.yaml": "name: [unclosed"}), "invalid_yaml").file == "manifest.yaml"


@pytest.mark.parametrize("process_id", sorted(p.name for p in PROCESSES.iterdir() if (p / f"{p.name}.bpmn").exists()))
def test_shipped_procedures_pass_as_they_are(process_id):
    # A fork of any shipped procedure can be published unchanged (the malfunction ticket's tasks are
    # due the day of the SLA's sla_due, the breach escalation the working day after).
    problems = validate_draft(process_id, read_bundle(PROCESSES / process_id).files)
    assert not [p for p in problems if p.severity == "error"], problems
    assert not [p for p in problems if p.severity == "warning"], problems
