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
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser, full_tag
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask as SpiffServiceTask

from common import clock

from .sandbox import RestrictedEnvironment, check_expression
from .script_helpers import build_helpers

__all__ = [
    "BpmnWorkflow",
    "ValidationException",
    "OutboxServiceTask",
    "ProcedoParser",
    "SERIALIZER_VERSION",
    "UserTaskMixin",
    "dump_workflow",
    "load_workflow",
    "script_engine_for",
]


class _ClockDatetime(dt.datetime):
    """datetime whose now() is Procedo's clock, so timers follow common.clock."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.replace(tzinfo=None)


# SpiffWorkflow's timer definitions read datetime.now() directly; pointing that module's
# `datetime` name at the clock makes legal-deadline timers testable and demoable.
spiff_timer.datetime = _ClockDatetime


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
SERIALIZER_VERSION = f"procedo-1/{_SERIALIZER.VERSION}"


def dump_workflow(workflow: BpmnWorkflow) -> str:
    dct = _SERIALIZER.to_dict(workflow)
    dct[_SERIALIZER.VERSION_KEY] = _SERIALIZER.VERSION
    return json.dumps(dct, separators=(",", ":"), cls=_SERIALIZER.json_encoder_cls)


def load_workflow(state: str, *, spec, subprocess_specs, script_engine) -> BpmnWorkflow:
    dct = json.loads(state, cls=_SERIALIZER.json_decoder_cls)
    version = dct.pop(_SERIALIZER.VERSION_KEY, None)
    if version != _SERIALIZER.VERSION:
        # Explicit migrations go here when SpiffWorkflow's format changes.
        raise ValueError(f"unsupported stored workflow format {version!r}")
    dct["procedo_specs"] = (spec, subprocess_specs)
    workflow = _SERIALIZER.from_dict(dct)
    workflow.script_engine = script_engine
    return workflow


class ProcedoScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose syntax check is the sandbox's allow-list parser.

    SpiffWorkflow's DMN engine calls validate() to decide how to read a rule cell
    ("< 5" versus "5"); a SyntaxError keeps meaning "not a whole expression".
    """

    def validate(self, expression):
        check_expression(expression, "eval")


@lru_cache(maxsize=256)
def script_engine_for(patron_day: tuple[int, int] | None) -> PythonScriptEngine:
    return ProcedoScriptEngine(environment=RestrictedEnvironment(build_helpers(patron_day=patron_day)))
