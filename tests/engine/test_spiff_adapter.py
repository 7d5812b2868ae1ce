"""engine/spiff.py is the one place that leans on SpiffWorkflow details; these tests fail when the library moves them.

Each test names what the adapter depends on and checks that it still behaves so:
the timer module's `datetime` name (the clock hook), a task's internal data (timer
values), `Task._set_state` (an incident's retry), `MultiInstanceTask.merge_child`
(instances restored in a fresh process), and the converter methods the spec-less
state layout is built from.
"""

from __future__ import annotations

import datetime as dt
import inspect
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from common import clock
from engine import spiff
from engine.bundles import _parse, read_bundle

TESTS = Path(__file__).parent
MODELS = TESTS / "models"


def _start(process_id: str, data: dict | None = None, files: dict[str, str] | None = None) -> BpmnWorkflow:
    spec, subprocess_specs = _parse(files or {f"{process_id}.bpmn": (MODELS / f"{process_id}.bpmn").read_text()},
                                    process_id)
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=spiff.script_engine_for(None))
    workflow.get_next_task(state=TaskState.READY).data.update(data or {})
    workflow.do_engine_steps()
    return workflow


def _reload_fresh(workflow: BpmnWorkflow, process_id: str, files: dict[str, str] | None = None) -> BpmnWorkflow:
    """Save, then load on specs parsed anew: what another worker process does."""
    spec, subprocess_specs = _parse(files or {f"{process_id}.bpmn": (MODELS / f"{process_id}.bpmn").read_text()},
                                    process_id)
    return spiff.load_workflow(spiff.dump_workflow(workflow), spec=spec, subprocess_specs=subprocess_specs,
                               script_engine=spiff.script_engine_for(None))


def _ready(workflow: BpmnWorkflow, bpmn_id: str):
    return next(t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id == bpmn_id)


# --------------------------------------------------------------------------- the clock hook


def test_spiffworkflow_timers_read_the_time_through_the_hooked_datetime_name():
    assert spiff_timer.datetime is spiff._ClockDatetime
    source = inspect.getsource(spiff_timer)
    assert "datetime.now(timezone.utc)" in source  # what the hook replaces


def test_a_timer_fires_when_common_clock_passes_its_deadline_and_not_before():
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with clock.frozen(start):
        workflow = _start("timer_boundary")
        assert spiff.next_timer_due(workflow) == start + dt.timedelta(days=5)
        clock.advance(dt.timedelta(days=4, hours=23))
        workflow.refresh_timers()
        workflow.do_engine_steps()
        assert [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY)] == ["wait_here"]
        clock.advance(dt.timedelta(hours=1, seconds=1))
        workflow.refresh_timers()
        workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.data["timed_out"] is True


def test_the_hook_refuses_to_install_over_a_timer_module_that_changed(monkeypatch):
    monkeypatch.setattr(spiff_timer, "datetime", object())
    with pytest.raises(RuntimeError, match="clock hook"):
        spiff._install_timer_clock()


# --------------------------------------------------------------------------- timer values


def test_the_pending_timer_value_is_in_the_waiting_tasks_internal_data():
    with clock.frozen(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)):
        workflow = _start("timer_boundary")
    (waiting,) = workflow.event_manager.tasks.values()
    assert isinstance(waiting.internal_data, dict)
    assert spiff.timer_value(waiting) == "2026-03-07T09:00:00+00:00"


def test_a_cycle_timer_is_due_at_its_next_occurrence():
    assert spiff._timer_due({"cycles": 3, "next": "2026-03-07T09:00:00+00:00", "duration": 86400.0}) == \
        dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC)
    assert spiff._timer_due("2026-03-07T10:00:00+01:00") == dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC)
    assert spiff._timer_due(None) is None
    assert spiff._timer_due("not a date") is None


# --------------------------------------------------------------------------- retry of an errored step


def test_set_state_still_forces_a_task_state():
    assert list(inspect.signature(Task._set_state).parameters) == ["self", "value"]


def test_a_retried_script_step_runs_again_on_the_data_it_had():
    files = read_bundle(TESTS / "bundles" / "broken_script").files
    spec, subprocess_specs = _parse(files, "broken_script")
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=spiff.script_engine_for(None))
    workflow.get_next_task(state=TaskState.READY).data.update({"numerator": 6, "denominator": 0})
    with pytest.raises(WorkflowTaskException, match="division by zero"):
        workflow.do_engine_steps()
    (errored,) = workflow.get_tasks(state=TaskState.ERROR)
    errored.data["denominator"] = 3  # what an admin fixes before retrying

    assert spiff.retry_errored_tasks(workflow) == [errored]
    workflow.do_engine_steps()
    assert errored.state == TaskState.COMPLETED
    assert _ready(workflow, "after").data["ratio"] == 2


# --------------------------------------------------------------------------- multi-instance in a fresh process


def test_multi_instance_tasks_still_merge_through_merge_child():
    assert callable(getattr(MultiInstanceTask, "merge_child", None))


def test_a_multi_instance_restored_on_freshly_parsed_specs_finishes():
    workflow = _reload_fresh(_start("multi_instance", {"members": ["anna", "bruno"]}), "multi_instance")
    for review in ("sì", "no"):
        task = _ready(workflow, "review_member")
        task.data["review"] = review
        task.run()
        workflow.do_engine_steps()
        workflow = _reload_fresh(workflow, "multi_instance")
    assert workflow.is_completed()
    assert workflow.data["reviews"] == ["sì", "no"]


# --------------------------------------------------------------------------- the spec-less state layout


def test_the_converter_methods_of_the_spec_less_layout_exist():
    for name in ("mapping_to_dict", "mapping_from_dict", "set_default_attributes", "subprocesses_from_dict"):
        assert callable(getattr(BpmnWorkflowConverter, name, None)), name


def test_a_saved_state_holds_no_specs_and_restores_the_same_tree():
    workflow = _start("call_activity", files={
        "call_activity.bpmn": (MODELS / "call_activity.bpmn").read_text(),
        "call_activity_child.bpmn": (MODELS / "call_activity_child.bpmn").read_text(),
    })
    state = spiff.dump_workflow(workflow)
    assert '"spec":{' not in state and '"subprocess_specs"' not in state
    restored = _reload_fresh(workflow, "call_activity", files={
        "call_activity.bpmn": (MODELS / "call_activity.bpmn").read_text(),
        "call_activity_child.bpmn": (MODELS / "call_activity_child.bpmn").read_text(),
    })
    assert {str(t.id): t.state for t in restored.get_tasks()} == {str(t.id): t.state for t in workflow.get_tasks()}
    assert spiff.dump_workflow(restored) == state
