"""Process bundles: published as immutable versions, refused with a clear message when broken."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from engine.bundles import read_bundle, validate_bundle
from engine.models import ProcessVersion
from engine.registry import process_version_publish

pytestmark = pytest.mark.django_db
BENCH = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"


@pytest.fixture
def bundle_dir(tmp_path):
    root = tmp_path / "processes"
    shutil.copytree(BENCH, root / "three_tasks")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_sync_creates_a_version_and_resync_of_unchanged_files_does_not(bundle_dir, capsys):
    call_command("sync_processes", dir=str(bundle_dir))
    call_command("sync_processes", dir=str(bundle_dir))
    assert ProcessVersion.objects.filter(definition__process_id="three_tasks").count() == 1
    assert "invariato" in capsys.readouterr().out


def test_a_changed_file_makes_a_new_immutable_version(bundle_dir):
    call_command("sync_processes", dir=str(bundle_dir))
    _edit(bundle_dir / "three_tasks" / "three_tasks.bpmn", 'name="Primo"', 'name="Primo passo"')
    call_command("sync_processes", dir=str(bundle_dir))
    versions = list(ProcessVersion.objects.filter(definition__process_id="three_tasks").order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    assert 'name="Primo"' in versions[0].files["three_tasks.bpmn"]
    with pytest.raises(ValueError):
        versions[0].save()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('<bpmn:userTask id="second"', '<bpmn:userTask id="second"><broken', "XML non valido"),
        ('<bpmn:lane id="lane_registrar" name="registrar">', '<bpmn:lane id="lane_registrar" name="janitor">',
         "user task 'first' è nella corsia 'janitor'"),
        ('value="step.schema.json" />\n        <spiffworkflow:property name="dueDate"', 'value="missing.schema.json" />\n        <spiffworkflow:property name="dueDate"',
         "user task 'first' indica il modulo forms/missing.schema.json"),
        ('add_working_days(received_on, 2)', "__import__('os')", "user task 'first' dueDate: espressione non ammessa"),
    ],
)
def test_a_broken_bundle_is_refused_naming_file_and_element(bundle_dir, old, new, expected):
    _edit(bundle_dir / "three_tasks" / "three_tasks.bpmn", old, new)
    problems = validate_bundle(read_bundle(bundle_dir / "three_tasks"))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("three_tasks/") for p in problems)
    with pytest.raises(CommandError):
        call_command("sync_processes", dir=str(bundle_dir))
    assert not ProcessVersion.objects.filter(definition__process_id="three_tasks").exists()


def test_an_invalid_json_schema_form_is_refused(bundle_dir):
    (bundle_dir / "three_tasks" / "forms" / "step.schema.json").write_text('{"type": "oggetto"}')
    problems = validate_bundle(read_bundle(bundle_dir / "three_tasks"))
    assert any("forms/step.schema.json: JSON Schema non valido" in p for p in problems), problems


def test_a_service_task_naming_an_unknown_operation_is_refused(bundle_dir):
    _edit(
        bundle_dir / "three_tasks" / "three_tasks.bpmn",
        '<bpmn:sequenceFlow id="f4" sourceRef="third" targetRef="end" />',
        '<bpmn:serviceTask id="call"><bpmn:extensionElements>'
        '<spiffworkflow:serviceTaskOperator id="nowhere.nothing" resultVariable="r" />'
        '</bpmn:extensionElements></bpmn:serviceTask>'
        '<bpmn:sequenceFlow id="f4" sourceRef="third" targetRef="call" />'
        '<bpmn:sequenceFlow id="f5" sourceRef="call" targetRef="end" />',
    )
    problems = validate_bundle(read_bundle(bundle_dir / "three_tasks"))
    assert any("service task 'call' chiama l'operazione sconosciuta 'nowhere.nothing'" in p for p in problems), problems


def test_system_check_reports_broken_shipped_bundles(bundle_dir, settings):
    from engine.checks import check_process_bundles

    settings.PROCEDO_PROCESSES_DIR = bundle_dir
    assert check_process_bundles() == []
    _edit(bundle_dir / "three_tasks" / "three_tasks.bpmn", 'name="registrar"', 'name="nobody"')
    errors = check_process_bundles()
    assert errors and errors[0].id == "procedo.E001" and "nobody" in errors[0].msg


def test_publish_returns_existing_version_for_same_content():
    first = process_version_publish(bundle=read_bundle(BENCH))
    again = process_version_publish(bundle=read_bundle(BENCH))
    assert first.created and not again.created and first.version == again.version


def test_file_fields_with_unknown_kinds_or_sizes_are_refused(bundle_dir):
    import json as jsonlib

    form = bundle_dir / "three_tasks" / "forms" / "step.schema.json"
    schema = jsonlib.loads(form.read_text())
    schema.setdefault("properties", {})["scan"] = {"type": "object", "format": "file", "x-accept": ["pdf", "docx"],
                                                  "x-max-bytes": "10MB"}
    form.write_text(jsonlib.dumps(schema))
    problems = validate_bundle(read_bundle(bundle_dir / "three_tasks"))
    assert any("campo scan: x-accept ammette solo jpeg, pdf, png, tiff (trovato docx)" in p for p in problems), problems
    assert any("campo scan: x-max-bytes deve essere un numero di byte positivo" in p for p in problems), problems
