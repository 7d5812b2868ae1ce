"""Everything SpiffWorkflow-specific: parser, task specs, serializer, script engine.

Extension only through SpiffWorkflow's own points: parser class overrides, the
serializer configuration, and a script environment.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.control import (
    BoundaryEventJoin,
    EventSplit,
    SimpleBpmnTask,
    StartEventJoin,
    _EndJoin,
)
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent, ThrowingEvent
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask, MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.dmn.specs.business_rule_task_mixin import BusinessRuleTaskMixin
from SpiffWorkflow.specs.StartTask import StartTask
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
    "fire_reached_timers",
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


def _cycle(definition) -> bool:
    return isinstance(definition, CycleTimerEventDefinition)


def _event_definitions(task) -> list:
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition] if definition is not None else []


# A cycle timer starts its next round only once its instant has passed (SpiffWorkflow compares
# strictly and keeps the round in its own value): the sweep looks for it one tick later.
_CYCLE_TICK = dt.timedelta(microseconds=1)


def next_timer_due(workflow: BpmnWorkflow) -> dt.datetime | None:
    """When the earliest timer the workflow waits on is due (None: it waits on no timer).

    A date or duration timer is due at its instant (`fire_reached_timers` fires it then); the
    sweep's `next_timer_at <= now` and the firing therefore agree to the microsecond."""
    due: list[dt.datetime] = []
    for task in list(workflow.event_manager.tasks.values()):
        timers = [d for d in _event_definitions(task) if isinstance(d, TimerEventDefinition)]
        if not timers:
            continue
        when = _timer_due(timer_value(task))
        if when is not None:
            due.append(when + _CYCLE_TICK if any(_cycle(d) for d in timers) else when)
    return min(due) if due else None


def fire_reached_timers(workflow: BpmnWorkflow, now: dt.datetime) -> int:
    """Fire every date or duration timer whose instant is `now` or earlier; returns how many.

    SpiffWorkflow fires a timer when its instant is strictly before the current time, while
    the sweep selects instances whose `next_timer_at` is reached (`<=`): at the exact due
    instant the sweep would load an instance that SpiffWorkflow leaves waiting until the next
    sweep. A reached timer is marked fired the way SpiffWorkflow's own `catch` marks an event
    (`event_fired` in the task's internal data, which `has_fired` returns), then the waiting
    tasks are refreshed, so "due" means the same thing on both sides. In an event-based gateway
    the mark is the gateway's (its timer keeps its value there); a gateway waits on one timer.
    """
    fired = 0
    for task in list(workflow.event_manager.tasks.values()):
        timers = [d for d in _event_definitions(task) if isinstance(d, TimerEventDefinition) and not _cycle(d)]
        if not timers or task.internal_data.get("event_fired"):
            continue
        when = _timer_due(timer_value(task))
        if when is not None and when <= now:
            task.internal_data["event_fired"] = True
            fired += 1
    workflow.refresh_timers()
    return fired


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


# --------------------------------------------------------------------------- migration between versions
# What engine.migration needs from SpiffWorkflow to move a running instance onto another version of
# its process: SpecDiff (bpmn/util/diff.py) aligns the task specs of two versions by element id
# (then by structure); the plan's overrides win over both. The move itself follows the library's
# migrate_workflow (point every task at its aligned spec, reset and re-predict the active branches)
# with two differences that matter here: a reset active task keeps its data and internal data (the
# input item of a multi-instance instance, the outbox mark of a service task), and a waiting timer
# keeps its due date unless the plan reschedules it (a legal deadline must not restart silently).

# Attributes whose change never matters to a case (labels, documentation, the wiring, which the
# re-prediction of the active branches takes from the new version anyway).
_COSMETIC_ATTRIBUTES = frozenset({"name", "bpmn_id", "bpmn_name", "description", "documentation", "inputs",
                                  "outputs", "lookahead", "typename"})
# Specs SpiffWorkflow derives from an element (boundary events, multi-instance instances): an
# override of the element carries them along.
_DERIVED_SUFFIXES = (".BoundaryEventSplit", ".BoundaryEventJoin", " [child]")
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


@dataclass(frozen=True)
class SpecMapping:
    """How the task specs of one process of the source version map onto the target's."""

    process: str
    alignment: dict[str, str | None]  # source spec name -> target spec name (None: no counterpart)
    how: dict[str, str]  # source spec name -> "id" | "plan"
    # SpecDiff's guesses by position in the flow (same neighbours): shown to the admin as
    # suggestions for overrides, never applied on their own (a guess would move a case silently).
    suggestions: dict[str, str]
    changed: dict[str, tuple[str, ...]]  # source spec name -> attributes that differ (meaningful ones)
    added: tuple[str, ...]  # target spec names nothing maps onto


@dataclass(frozen=True)
class TaskPosition:
    """One task of a running instance, as the migration sees it."""

    process: str  # the (sub)process spec name
    spec: str  # the task spec name (the BPMN id, or a derived name)
    label: str
    state: str  # active | finished | predicted | error
    kind: str  # user | script | service | call | multi | gateway | event | control | rule | task
    outbox_pending: bool = False


def spec_kind(task_spec) -> str:
    checks = (
        (LoopTask, "multi"), (UserTaskMixin, "user"), (OutboxServiceTask, "service"), (ScriptTask, "script"),
        (SubWorkflowTask, "call"), (BusinessRuleTaskMixin, "rule"),
        ((ExclusiveGateway, InclusiveGateway, ParallelGateway), "gateway"),
        ((CatchingEvent, ThrowingEvent), "event"),
        ((EventSplit, BoundaryEventJoin, StartEventJoin, _EndJoin, StartTask, SimpleBpmnTask), "control"),
    )
    for classes, kind in checks:
        if isinstance(task_spec, classes):
            return kind
    return "task"


def _attributes(task_spec) -> dict[str, Any]:
    """The spec's serialized attributes, dictionaries flattened one level ("extensions.properties")."""
    flat: dict[str, Any] = {}
    for key, value in _SERIALIZER.registry.convert(task_spec).items():
        if key in _COSMETIC_ATTRIBUTES:
            continue
        if isinstance(value, dict) and key == "extensions":
            for sub, sub_value in value.items():
                if isinstance(sub_value, dict):
                    for leaf, leaf_value in sub_value.items():
                        flat[f"{key}.{sub}.{leaf}"] = leaf_value
                else:
                    flat[f"{key}.{sub}"] = sub_value
        else:
            flat[key] = value
    return flat


def _spec_changes(old, new) -> tuple[str, ...]:
    if type(old) is not type(new):
        return ("typename",)
    a, b = _attributes(old), _attributes(new)
    return tuple(sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)))


def _derived_overrides(overrides: dict[str, str], source, target) -> dict[str, str]:
    full = dict(overrides)
    for old, new in overrides.items():
        for suffix in _DERIVED_SUFFIXES:
            if f"{old}{suffix}" in source.task_specs and f"{new}{suffix}" in target.task_specs:
                full.setdefault(f"{old}{suffix}", f"{new}{suffix}")
    return full


def _map_process(name: str, source, target, overrides: dict[str, str]) -> SpecMapping:
    from SpiffWorkflow.bpmn.util.diff import SpecDiff

    diff = SpecDiff(_SERIALIZER.registry, source, target)
    alignment: dict[str, str | None] = {}
    how: dict[str, str] = {}
    suggestions: dict[str, str] = {}
    for old_spec, new_spec in diff.alignment.items():
        if new_spec is not None and new_spec.name == old_spec.name:
            alignment[old_spec.name], how[old_spec.name] = new_spec.name, "id"
        else:
            alignment[old_spec.name] = None
            if new_spec is not None:
                suggestions[old_spec.name] = new_spec.name
    for old_name in source.task_specs:  # specs the traversal never reached (unconnected elements)
        if old_name not in alignment:
            alignment[old_name] = old_name if old_name in target.task_specs else None
            if alignment[old_name]:
                how[old_name] = "id"
    for old_name, new_name in _derived_overrides(overrides, source, target).items():
        if old_name in source.task_specs and new_name in target.task_specs:
            alignment[old_name] = new_name
            how[old_name] = "plan"
            suggestions.pop(old_name, None)
    changed = {
        old: changes for old, new in alignment.items()
        if new is not None and (changes := _spec_changes(source.task_specs[old], target.task_specs[new]))
    }
    used = {n for n in alignment.values() if n is not None}
    return SpecMapping(name, alignment, how, suggestions, changed,
                       tuple(n for n in target.task_specs if n not in used))


def map_specs(source: tuple, target: tuple, overrides: dict[str, str]) -> dict[str, SpecMapping | None]:
    """Align the processes of two parsed versions (`(spec, subprocess_specs)` each).

    Keyed by process spec name (the main process and every called or embedded one of the
    source); None: the target has no process of that name. `overrides` (source element id ->
    target element id) apply in whichever process holds the source id.
    """
    source_spec, source_subs = source
    target_spec, target_subs = target
    pairs = {source_spec.name: (source_spec, target_spec if target_spec.name == source_spec.name else None)}
    for name, sub in source_subs.items():
        pairs[name] = (sub, target_subs.get(name))
    result: dict[str, SpecMapping | None] = {}
    for name, (old, new) in pairs.items():
        if new is None:
            result[name] = None
            continue
        local = {o: n for o, n in overrides.items() if o in old.task_specs}
        result[name] = _map_process(name, old, new, local)
    return result


def process_elements(specs: tuple) -> dict[str, dict[str, tuple[str, str]]]:
    """process name -> {element id: (label, kind)} of the BPMN elements (no derived specs)."""
    spec, subs = specs
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for process in (spec, *subs.values()):
        elements = {}
        for name, task_spec in process.task_specs.items():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if not bpmn_id or bpmn_id != name:
                continue
            elements[name] = (getattr(task_spec, "bpmn_name", None) or name, spec_kind(task_spec))
        out[process.name] = elements
    return out


def _all_workflows(workflow: BpmnWorkflow) -> list:
    return [workflow, *workflow.subprocesses.values()]


def _position_state(task) -> str:
    if task.state == TaskState.ERROR:
        return "error"
    if task.state & _ACTIVE:
        return "active"
    if task.state & TaskState.FINISHED_MASK:
        return "finished"
    return "predicted"


def workflow_positions(workflow: BpmnWorkflow) -> list[TaskPosition]:
    """Every task of the instance and its subprocesses (the root tasks of each left out)."""
    positions = []
    for wf in _all_workflows(workflow):
        for task in wf.get_tasks(skip_subprocesses=True):
            spec = task.task_spec
            positions.append(TaskPosition(
                process=wf.spec.name, spec=spec.name, label=getattr(spec, "bpmn_name", None) or spec.name,
                state=_position_state(task), kind=spec_kind(spec),
                outbox_pending=bool(task.state == TaskState.READY and isinstance(spec, OutboxServiceTask)),
            ))
    return positions


def running_subprocesses(workflow: BpmnWorkflow) -> list[str]:
    """Spec names of the subprocesses (call activities, embedded subprocesses) the instance holds."""
    return [sp.spec.name for sp in workflow.subprocesses.values()]


@dataclass
class TimerMove:
    process: str
    spec: str
    before: Any
    after: Any
    rule: str  # keep | restart | set | new


def _is_timer_task(task) -> bool:
    return any(isinstance(d, TimerEventDefinition) for d in _event_definitions(task))


def _set_timer(value: Any, when: dt.datetime) -> Any:
    if isinstance(value, dict):  # a cycle: the next occurrence moves
        return {**value, "next": when.isoformat()}
    return when.isoformat()


def migrate_workflow_specs(
    workflow: BpmnWorkflow,
    mappings: dict[str, SpecMapping | None],
    target: tuple,
    *,
    timers: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
) -> list[TimerMove]:
    """Move `workflow` (in memory) onto the `target` specs along `mappings`; the caller has
    checked that every task that is or was active has a counterpart. `timers`: target timer
    event id -> "keep" | "restart" | a datetime (default keep). `variables` are set on the data of
    every active task. Returns how each waiting timer moved. Save and reload it before use:
    the reload rebuilds what SpiffWorkflow derives from the tree (its event manager)."""
    target_spec, target_subs = target
    timers = timers or {}
    moves: list[TimerMove] = []
    for wf in _all_workflows(workflow):
        mapping = mappings.get(wf.spec.name)
        new_process = target_spec if wf is workflow else target_subs[wf.spec.name]
        for task in wf.tasks.values():
            new_name = mapping.alignment.get(task.task_spec.name) if mapping else None
            if new_name is not None:
                task.task_spec = new_process.task_specs[new_name]
        wf.spec = new_process
        for task in list(wf.get_tasks(state=TaskState.STARTED, skip_subprocesses=True)):
            _repredict_started(task)
        for task in list(wf.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True)):
            if task.id not in wf.tasks:  # dropped with the branch of an earlier reset
                continue
            data, internal = task.data, dict(task.internal_data)
            was_timer = _is_timer_task(task)
            before = timer_value(task) if was_timer else None
            task.reset_branch(None)
            task.data = data
            if _is_timer_task(task):
                rule = timers.get(task.task_spec.name, "keep")
                fresh = dict(task.internal_data)
                task.internal_data = {**internal, **fresh}
                after = fresh.get("event_value")
                if before is None:
                    label = "new"
                elif isinstance(rule, dt.datetime):
                    after, label = _set_timer(before, rule), "set"
                elif rule == "restart":
                    label = "restart"
                else:
                    after, label = before, "keep"
                if after is not None:
                    task.internal_data["event_value"] = after
                moves.append(TimerMove(wf.spec.name, task.task_spec.name, before, after, label))
            else:
                task.internal_data = {**task.internal_data, **internal}
        if wf.last_task is not None and wf.last_task.id not in wf.tasks:
            wf.last_task = None
    workflow.subprocess_specs = target_subs
    if variables:
        for wf in _all_workflows(workflow):
            for task in wf.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True):
                task.data.update(variables)
    return moves


def _repredict_started(task) -> None:
    """A running task (multi-instance, call activity) keeps its children that are real (the
    instances); its predicted successors are rebuilt from the new outputs, which a reset would
    do for a READY task. SpiffWorkflow does not redo them when the task completes."""
    outputs = list(task.task_spec.outputs)
    for child in list(task.children):
        if child.has_state(TaskState.PREDICTED_MASK | TaskState.FUTURE) and child.task_spec not in outputs:
            task.workflow._remove_task(child.id)
    present = {child.task_spec for child in task.children}
    for spec in outputs:
        if spec not in present:
            task._add_child(spec, TaskState.LIKELY)
    for child in task.children:
        if child.has_state(TaskState.PREDICTED_MASK | TaskState.FUTURE):
            child.task_spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)


def timer_due(value: Any) -> dt.datetime | None:
    """The due datetime of a timer value (as timer_value returns it), or None."""
    return _timer_due(value)
