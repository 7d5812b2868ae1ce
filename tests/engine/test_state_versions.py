"""Stored workflow states carry their version; older ones are migrated, unknown ones refused.

The fixtures in fixtures/old_states/ were written by Procedo's engine running on
SpiffWorkflow 3.0 (serializer 1.3) and 3.1 (serializer 1.4), with Procedo's layout 1
(see make_old_states.py there). Each one must load on the installed library and run
to its end, saved and reloaded between steps as the engine does.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.util.task import TaskState

from common import clock
from common.errors import Conflict
from engine import selectors as engine_selectors
from engine.bundles import _parse
from engine.spiff import (
    SERIALIZER_VERSION,
    UnsupportedStateVersion,
    dump_workflow,
    load_workflow,
    next_timer_due,
    script_engine_for,
    state_version,
)
from engine.state_migrations import (
    CURRENT_VERSION,
    MIGRATIONS,
    SPIFF_SERIALIZER_VERSION,
    MigrationContext,
    migrate_state,
    read_version,
    spiff_1_3_to_1_4,
)

OLD_STATES = Path(__file__).parent / "fixtures" / "old_states"
MODELS = Path(__file__).parent / "models"
OLD_VERSIONS = ["1.3", "1.4"]


def _specs(process_id: str):
    stems = [process_id, "call_activity_child"] if process_id == "call_activity" else [process_id]
    return _parse({f"{s}.bpmn": (MODELS / f"{s}.bpmn").read_text() for s in stems}, process_id)


def _fixture(name: str, spiff_version: str) -> dict:
    return json.loads((OLD_STATES / f"{name}.spiff-{spiff_version}.json").read_text())


def _load(state: str, process_id: str, *, stored_version: str | None = None):
    spec, subprocess_specs = _specs(process_id)
    return load_workflow(state, spec=spec, subprocess_specs=subprocess_specs,
                         script_engine=script_engine_for(None), stored_version=stored_version)


def _save_and_reload(workflow, process_id: str):
    state = dump_workflow(workflow)
    assert state_version(state) == CURRENT_VERSION
    return _load(state, process_id, stored_version=CURRENT_VERSION)


def _ready_ids(workflow) -> list[str]:
    return sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY))


def _complete(workflow, bpmn_id: str, data: dict, process_id: str):
    task = next(t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id == bpmn_id)
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()
    return _save_and_reload(workflow, process_id)


def test_the_current_version_is_what_the_installed_spiffworkflow_writes():
    # Fails on a SpiffWorkflow upgrade that changes the format: write the migration step first.
    assert BpmnWorkflowSerializer().VERSION == SPIFF_SERIALIZER_VERSION
    assert SERIALIZER_VERSION == CURRENT_VERSION == f"procedo-2/{SPIFF_SERIALIZER_VERSION}"
    assert len(CURRENT_VERSION) <= 20  # WorkflowInstance.serializer_version


def test_every_known_version_has_a_path_to_the_current_one():
    for source in MIGRATIONS:
        path = migrate_state({"tasks": {}, "subprocesses": {}}, version=source,
                             context=MigrationContext(spec=None, subprocess_specs={}))
        assert path[0] == source
    assert {"procedo-1/1.3", "procedo-1/1.4", "procedo-1/1.5"} <= set(MIGRATIONS)


def test_layout_1_states_are_read_by_their_bare_spiffworkflow_version():
    assert read_version({"serializer_version": "1.5"}) == "procedo-1/1.5"
    assert read_version({"serializer_version": CURRENT_VERSION}) == CURRENT_VERSION


@pytest.mark.parametrize("spiff_version", OLD_VERSIONS)
def test_an_old_timer_state_keeps_its_deadline_and_fires_when_the_clock_passes_it(spiff_version):
    fixture = _fixture("timer_boundary", spiff_version)
    workflow = _load(fixture["state"], "timer_boundary", stored_version=fixture["serializer_version_column"])
    assert _ready_ids(workflow) == ["wait_here"]
    started = dt.datetime.fromisoformat(fixture["clock"])
    assert next_timer_due(workflow) == started + dt.timedelta(days=5)
    workflow = _save_and_reload(workflow, "timer_boundary")
    with clock.frozen(started + dt.timedelta(days=5, seconds=1)):
        workflow.refresh_timers()
        workflow.do_engine_steps()
    workflow = _save_and_reload(workflow, "timer_boundary")
    assert workflow.is_completed()
    assert workflow.data["timed_out"] is True


@pytest.mark.parametrize("spiff_version", OLD_VERSIONS)
def test_an_old_timer_state_completed_before_its_deadline_ends_normally(spiff_version):
    fixture = _fixture("timer_boundary", spiff_version)
    workflow = _load(fixture["state"], "timer_boundary")
    workflow = _complete(workflow, "wait_here", {"note": "fatto"}, "timer_boundary")
    assert workflow.is_completed()
    assert "timed_out" not in workflow.data
    assert next_timer_due(workflow) is None


@pytest.mark.parametrize("spiff_version", OLD_VERSIONS)
def test_an_old_multi_instance_state_finishes_its_remaining_instance(spiff_version):
    fixture = _fixture("multi_instance", spiff_version)
    workflow = _load(fixture["state"], "multi_instance", stored_version=fixture["serializer_version_column"])
    assert _ready_ids(workflow) == ["review_member"]
    workflow = _complete(workflow, "review_member", {"review": {"ok": False}}, "multi_instance")
    assert workflow.is_completed()
    assert workflow.data["reviews"] == [{"ok": True}, {"ok": False}]


@pytest.mark.parametrize("spiff_version", OLD_VERSIONS)
def test_an_old_state_waiting_inside_a_called_process_runs_to_the_end(spiff_version):
    fixture = _fixture("call_activity", spiff_version)
    workflow = _load(fixture["state"], "call_activity", stored_version=fixture["serializer_version_column"])
    assert _ready_ids(workflow) == ["child_task"]
    assert len(workflow.get_active_subprocesses()) == 1
    workflow = _complete(workflow, "child_task", {}, "call_activity")
    assert workflow.get_active_subprocesses() == []
    workflow = _complete(workflow, "after_child", {}, "call_activity")
    assert workflow.is_completed()
    assert workflow.data["child_done"] is True


@pytest.mark.parametrize("spiff_version", OLD_VERSIONS)
def test_an_old_state_whose_called_process_finished_does_not_see_it_as_running(spiff_version):
    fixture = _fixture("call_activity_after_child", spiff_version)
    workflow = _load(fixture["state"], "call_activity", stored_version=fixture["serializer_version_column"])
    assert _ready_ids(workflow) == ["after_child"]
    assert workflow.get_active_subprocesses() == []
    workflow = _complete(workflow, "after_child", {}, "call_activity")
    assert workflow.is_completed()


def test_the_1_3_step_starts_waiting_multi_instance_tasks_and_marks_completion():
    dct = json.loads(_fixture("multi_instance", "1.3")["state"])
    assert read_version(dct) == "procedo-1/1.3"
    spec, subprocess_specs = _specs("multi_instance")
    mi = next(t for t in dct["tasks"].values() if t["task_spec"] == "review_member")
    assert mi["state"] == spiff_1_3_to_1_4.WAITING
    assert "completed" not in dct

    spiff_1_3_to_1_4.migrate(dct, MigrationContext(spec, subprocess_specs))

    assert mi["state"] == spiff_1_3_to_1_4.STARTED
    assert dct["completed"] is False
    children = [t for t in dct["tasks"].values() if t["task_spec"] == "review_member [child]"]
    assert sorted(t["state"] for t in children) == [16, 64]  # instances keep their own states


def test_the_1_3_step_marks_a_finished_called_process_completed():
    dct = json.loads(_fixture("call_activity", "1.3")["state"])
    read_version(dct)
    (sub,) = dct["subprocesses"].values()
    for task in sub["tasks"].values():
        task["state"] = 64
    spec, subprocess_specs = _specs("call_activity")
    spiff_1_3_to_1_4.migrate(dct, MigrationContext(spec, subprocess_specs))
    assert sub["completed"] is True
    assert dct["completed"] is False


def test_the_old_fixtures_really_are_in_the_old_formats():
    for spiff_version in OLD_VERSIONS:
        for name in ("timer_boundary", "multi_instance", "call_activity", "call_activity_after_child"):
            fixture = _fixture(name, spiff_version)
            assert json.loads(fixture["state"])["serializer_version"] == spiff_version
            assert fixture["serializer_version_column"] == f"procedo-1/{spiff_version}"


def _current_state_with_version(version) -> str:
    dct = json.loads(dump_workflow(_load(_fixture("timer_boundary", "1.4")["state"], "timer_boundary")))
    if version is None:
        dct.pop("serializer_version")
    else:
        dct["serializer_version"] = version
    return json.dumps(dct)


@pytest.mark.parametrize("version", ["procedo-3/1.5", "procedo-2/1.6", "2.0", "0.9", "", None])
def test_an_unknown_or_newer_state_is_refused_with_a_clear_error(version):
    state = _current_state_with_version(version)
    with pytest.raises(UnsupportedStateVersion) as refused:
        _load(state, "timer_boundary")
    error = refused.value
    assert isinstance(error, Conflict)  # the API and pages answer it as a conflict, not a 500
    assert error.code == "unsupported_state_version"
    assert "non sa leggere" in error.message
    assert error.details["current"] == CURRENT_VERSION


def test_a_row_whose_column_names_a_newer_version_is_not_read_even_if_the_state_looks_current():
    state = _current_state_with_version(CURRENT_VERSION)
    assert _load(state, "timer_boundary", stored_version=CURRENT_VERSION).get_tasks()
    with pytest.raises(UnsupportedStateVersion):
        _load(state, "timer_boundary", stored_version="procedo-3/1.6")


def test_a_state_that_is_not_an_object_is_refused():
    with pytest.raises(UnsupportedStateVersion):
        _load("[]", "timer_boundary")


# --------------------------------------------------------------------------- stored rows


def _instance_with_old_state(name: str, spiff_version: str, process_id: str):
    from engine import services as engine
    from tests.engine_models import publish_model
    from tests.factories import make_tenant

    fixture = _fixture(name, spiff_version)
    with clock.frozen(dt.datetime.fromisoformat(fixture["clock"])):
        version = publish_model(process_id, also=("call_activity_child",) if process_id == "call_activity" else ())
        started = engine.instance_start(tenant=make_tenant(), version=version, data={})
    instance = started.instance
    instance.state = fixture["state"]
    instance.serializer_version = fixture["serializer_version_column"]
    instance.save(update_fields=["state", "serializer_version"])
    return instance, fixture


@pytest.mark.django_db
def test_an_old_row_is_migrated_when_its_timer_fires_and_saved_in_the_current_version():
    from engine import services as engine
    from engine.models import InstanceStatus

    instance, fixture = _instance_with_old_state("timer_boundary", "1.4", "timer_boundary")
    with clock.frozen(dt.datetime.fromisoformat(fixture["clock"]) + dt.timedelta(days=5, seconds=1)):
        assert engine.fire_due_timers() == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.serializer_version == CURRENT_VERSION
    assert state_version(instance.state) == CURRENT_VERSION
    assert engine_selectors.instance_data(instance=instance)["timed_out"] is True


@pytest.mark.django_db
def test_the_upgrade_command_rewrites_old_rows_and_reports_the_ones_it_cannot_read(capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from engine.models import WorkflowInstance

    old, _ = _instance_with_old_state("multi_instance", "1.3", "multi_instance")
    newer, _ = _instance_with_old_state("timer_boundary", "1.4", "timer_boundary")
    WorkflowInstance.objects.filter(pk=newer.pk).update(serializer_version="procedo-3/1.6")
    revision = old.revision

    call_command("upgrade_workflow_states", "--dry-run")
    assert "procedo-1/1.3: 1 istanze (da aggiornare)" in capsys.readouterr().out
    old.refresh_from_db()
    assert old.serializer_version == "procedo-1/1.3"

    with pytest.raises(CommandError):
        call_command("upgrade_workflow_states")
    output = capsys.readouterr()
    assert "Aggiornate 1 istanze" in output.out
    assert f"istanza {newer.pk}: formato procedo-3/1.6 sconosciuto" in output.err
    old.refresh_from_db()
    assert old.serializer_version == CURRENT_VERSION
    assert state_version(old.state) == CURRENT_VERSION
    assert old.revision == revision + 1
    newer.refresh_from_db()
    assert newer.serializer_version == "procedo-3/1.6"  # left as it was


@pytest.mark.django_db
def test_reading_a_row_in_an_unknown_version_raises_the_clean_conflict():

    instance, _ = _instance_with_old_state("multi_instance", "1.4", "multi_instance")
    dct = json.loads(instance.state)
    dct["serializer_version"] = "procedo-7/1.0"
    instance.state = json.dumps(dct)
    instance.save(update_fields=["state"])
    with pytest.raises(UnsupportedStateVersion):
        engine_selectors.instance_data(instance=instance)


@pytest.mark.django_db
def test_an_unreadable_row_opens_an_incident_and_the_timer_sweep_goes_on_with_the_others():
    from engine import services as engine
    from engine.models import Incident, InstanceStatus, WorkflowInstance

    unreadable, fixture = _instance_with_old_state("timer_boundary", "1.4", "timer_boundary")
    readable, _ = _instance_with_old_state("timer_boundary", "1.4", "timer_boundary")
    WorkflowInstance.objects.filter(pk=unreadable.pk).update(serializer_version="procedo-9/9.9")
    with clock.frozen(dt.datetime.fromisoformat(fixture["clock"]) + dt.timedelta(days=5, seconds=1)):
        assert engine.fire_due_timers() == 1  # the readable one fired despite the other
        assert engine.fire_due_timers() == 0  # the unreadable one is not retried at every sweep
    readable.refresh_from_db()
    assert readable.status == InstanceStatus.COMPLETED
    unreadable.refresh_from_db()
    assert unreadable.status == InstanceStatus.RUNNING and unreadable.next_timer_at is None
    incident = Incident.objects.get(instance=unreadable)
    assert incident.kind == "state_unreadable" and "procedo-9/9.9" in incident.details
