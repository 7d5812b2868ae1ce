"""Everything SpiffWorkflow-specific: parser, task specs, serializer, script engine.

Extension only through SpiffWorkflow's own points: parser class overrides, the
serializer configuration, and a script environment.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser, full_tag
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask as SpiffServiceTask
from SpiffWorkflow.util.task import TaskState

from common import clock

from .sandbox import RestrictedEnvironment, check_expression
from .script_helpers import WorkCalendar, build_helpers
from .state_migrations import (
    CURRENT_VERSION,
    MIGRATIONS,
    VERSION_KEY,
    MigrationContext,
    UnsupportedStateVersion,
    migrate_state,
    read_version,
)

__all__ = [
    "BpmnWorkflow",
    "ValidationException",
    "OutboxServiceTask",
    "ProcedoParser",
    "SERIALIZER_VERSION",
    "UnsupportedStateVersion",
    "UserTaskMixin",
    "dump_workflow",
    "load_workflow",
    "next_timer_due",
    "prepare_specs",
    "completed_service_tasks",
    "retry_errored_tasks",
    "send_back",
    "send_back_dropped",
    "upstream_user_tasks",
    "script_engine_for",
    "state_version",
    "timer_value",
]


class _ClockDatetime(dt.datetime):
    """datetime whose now() is Procedo's clock, so timers follow common.clock."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.replace(tzinfo=None)


def _install_timer_clock() -> None:
    """Point SpiffWorkflow's timer module at common.clock.

    SpiffWorkflow has no clock hook: its timer definitions call `datetime.now()` on the
    `datetime` name of their module. Replacing that one name makes legal-deadline timers
    follow `common.clock` (testable, demoable). This is the one place that touches a
    library module; tests/engine/test_spiff_adapter.py fails if the library stops
    reading time that way.
    """
    current = getattr(spiff_timer, "datetime", None)
    if current is not _ClockDatetime and current is not dt.datetime:
        raise RuntimeError("SpiffWorkflow's timer module no longer reads datetime.now(): engine/spiff.py needs a new clock hook")
    spiff_timer.datetime = _ClockDatetime


_install_timer_clock()


class OutboxServiceTask(SpiffServiceTask):
    """A service task the engine never runs inline.

    It is `manual`, so do_engine_steps() leaves it READY; the engine writes an outbox
    row for it and, when the worker brings the result back, stores it in the task's
    internal data and runs the task, which copies it into the result variable.
    """

    RESULT_KEY = "procedo_service_result"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.manual = True

    def _execute(self, task) -> bool:  # type: ignore[override]
        if self.RESULT_KEY not in task.internal_data:
            raise RuntimeError(f"service task {self.bpmn_id} ran without an outbox result")
        task.data[self.result_variable] = task.internal_data.pop(self.RESULT_KEY)
        return True


class ProcedoParser(SpiffBpmnParser):
    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (ServiceTaskParser, OutboxServiceTask),
    }


def prepare_specs(spec, subprocess_specs) -> None:
    """Finish freshly parsed specs so that any process can continue any stored instance.

    SpiffWorkflow connects a multi-instance task to the completion of its instances
    only when it creates an instance (`MultiInstanceTask.create_child`). Procedo
    parses the specs once per worker process and restores instances created by other
    processes, where that connection was never made: the last instance would
    complete and the multi-instance task would wait for ever. Connecting every
    multi-instance task to its instance spec right after parsing makes the wiring a
    property of the specs, as SpiffWorkflow assumes.
    """
    for process in (spec, *subprocess_specs.values()):
        for task_spec in process.task_specs.values():
            if not isinstance(task_spec, MultiInstanceTask):
                continue
            instance_spec = process.task_specs.get(task_spec.task_spec)
            merge = getattr(task_spec, "merge_child", None)  # SpiffWorkflow >= 3.1 (3.0 polled its instances)
            if instance_spec is not None and merge is not None and not instance_spec.completed_event.is_connected(merge):
                instance_spec.completed_event.connect(merge)


class _SpecCacheWorkflowConverter(BpmnWorkflowConverter):
    """Stores instances without their (large, immutable) specs.

    The specs of a process version are parsed once per process and cached; each
    saved instance holds only its task tree and data. `spec_ref` names the version.
    """

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        from uuid import UUID

        spec, subprocess_specs = dct.pop("procedo_specs")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _build_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config.pop(SpiffServiceTask)
    config[OutboxServiceTask] = ServiceTaskConverter
    config[BpmnWorkflow] = _SpecCacheWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    return BpmnWorkflowSerializer(registry)


_SERIALIZER = _build_serializer()
# What the WorkflowInstance.serializer_version column and the state's own key hold.
SERIALIZER_VERSION = CURRENT_VERSION


def dump_workflow(workflow: BpmnWorkflow) -> str:
    """The workflow's state in the current format (CURRENT_VERSION, written inside it)."""
    dct = _SERIALIZER.to_dict(workflow)
    dct[VERSION_KEY] = CURRENT_VERSION
    return json.dumps(dct, separators=(",", ":"), cls=_SERIALIZER.json_encoder_cls)


def load_workflow(
    state: str, *, spec, subprocess_specs, script_engine, stored_version: str | None = None
) -> BpmnWorkflow:
    """Restore a stored state, migrating it step by step if an older format wrote it.

    The version written inside the state decides how it is read (it is saved in the
    same write as the tree). `stored_version`, the instance's `serializer_version`
    column, is checked too: a version this code has never heard of means a newer
    Procedo wrote the row, and nothing is read. Raises UnsupportedStateVersion.
    """
    if stored_version is not None and stored_version != CURRENT_VERSION and stored_version not in MIGRATIONS:
        raise UnsupportedStateVersion(stored_version)
    dct = json.loads(state, cls=_SERIALIZER.json_decoder_cls)
    if not isinstance(dct, dict):
        raise UnsupportedStateVersion(None)
    migrate_state(dct, version=read_version(dct), context=MigrationContext(spec, subprocess_specs))
    dct["procedo_specs"] = (spec, subprocess_specs)
    workflow = _SERIALIZER.from_dict(dct)
    workflow.script_engine = script_engine
    return workflow


def state_version(state: str) -> str:
    """The version a stored state was written in (for listings and the upgrade command)."""
    dct = json.loads(state)
    return read_version(dct if isinstance(dct, dict) else {})


# --------------------------------------------------------------------------- task helpers
# SpiffWorkflow offers no public call for these; they live here, each covered by
# tests/engine/test_spiff_adapter.py, so a library upgrade breaks one test, not the engine.


def timer_value(task) -> Any:
    """The value a waiting timer computed for `task` (an ISO date, a duration or a cycle), or None."""
    return task.internal_data.get("event_value")


def _timer_due(value: Any) -> dt.datetime | None:
    if isinstance(value, dict):  # a cycle timer: {"cycles", "next", "duration"}
        value = value.get("next")
    if not isinstance(value, str):
        return None
    try:
        when = TimerEventDefinition.get_datetime(value)
    except Exception:
        try:
            when = TimerEventDefinition.parse_time_or_duration(value)
        except Exception:
            return None
    if not isinstance(when, dt.datetime):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _event_definitions(task) -> list:
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition] if definition is not None else []


def next_timer_due(workflow: BpmnWorkflow) -> dt.datetime | None:
    """When the earliest timer the workflow waits on is due (None: it waits on no timer)."""
    due: list[dt.datetime] = []
    for task in list(workflow.event_manager.tasks.values()):
        if not any(isinstance(d, TimerEventDefinition) for d in _event_definitions(task)):
            continue
        when = _timer_due(timer_value(task))
        if when is not None:
            due.append(when)
    return min(due) if due else None


def retry_errored_tasks(workflow: BpmnWorkflow) -> list:
    """Make every task in ERROR runnable again (an incident's retry); returns them.

    SpiffWorkflow's public reset (`reset_from_task_id`) would also drop the task's
    data and internal data; a retry must rerun the step on what it had.
    """
    tasks = list(workflow.get_tasks(state=TaskState.ERROR))
    for task in tasks:
        task._set_state(TaskState.READY)
    return tasks


def _is_parallel_join(task) -> bool:
    from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway

    return isinstance(task.task_spec, ParallelGateway) and len(task.task_spec.inputs) > 1


def upstream_user_tasks(task) -> list[tuple[Any, Any]]:
    """The completed user tasks whose data the failed `task` used, nearest first, each with the
    parallel join between it and `task` (None when it is on the task's own branch).

    A parallel join continues on the branch that arrived last; the instances of the join on the
    other branches are cancelled when it fires. A user task on one of those branches (the
    registrar's check, joined with the protocol registration) is upstream too.
    """
    found: list[tuple[Any, Any]] = []
    current = task.parent
    while current is not None:
        if isinstance(current.task_spec, UserTaskMixin) and current.state == TaskState.COMPLETED:
            found.append((current, None))
        if _is_parallel_join(current) and current.state == TaskState.COMPLETED:
            for other in current.workflow.get_tasks(state=TaskState.CANCELLED):
                if other.task_spec is not current.task_spec:
                    continue
                branch = other.parent
                while branch is not None and not current.is_descendant_of(branch):
                    if isinstance(branch.task_spec, UserTaskMixin) and branch.state == TaskState.COMPLETED:
                        found.append((branch, current))
                    branch = branch.parent
        current = current.parent
    return found


def send_back_dropped(target, join) -> list:
    """The tasks a send-back to `target` (through `join`, or None) removes from the tree."""
    dropped = [t for t in target if t is not target]
    if join is not None:
        dropped += [t for t in join if t is not join]
    return dropped


def completed_service_tasks(tasks) -> list:
    """The service tasks among `tasks` that completed: a send-back that drops them would call them again."""
    return [t for t in tasks if isinstance(t.task_spec, OutboxServiceTask) and t.state == TaskState.COMPLETED]


def send_back(workflow: BpmnWorkflow, target, join, data: dict[str, Any]) -> None:
    """Reset the workflow to the user task `target` with `data`: its descendants go, and a parallel
    `join` it was merged through waits again (for the new run of the target's branch), its
    descendants gone. SpiffWorkflow resets one branch (`reset_from_task_id`); making the join wait
    again is the part it has no call for (tests/engine/test_send_back.py covers it)."""
    if join is not None:
        join._drop_children(force=True)
        join._set_state(TaskState.WAITING)
    workflow.reset_from_task_id(target.id, data=data)


class ProcedoScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose syntax check is the sandbox's allow-list parser.

    SpiffWorkflow's DMN engine calls validate() to decide how to read a rule cell
    ("< 5" versus "5"); a SyntaxError keeps meaning "not a whole expression".
    """

    def validate(self, expression):
        check_expression(expression, "eval")


@lru_cache(maxsize=256)
def script_engine_for(patron_day: WorkCalendar | tuple[int, int] | None) -> PythonScriptEngine:
    return ProcedoScriptEngine(environment=RestrictedEnvironment(build_helpers(patron_day=patron_day)))
