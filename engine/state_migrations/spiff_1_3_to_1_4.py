"""SpiffWorkflow 3.0 -> 3.1 (serializer 1.3 -> 1.4): a waiting loop or multi-instance task is started.

SpiffWorkflow 3.1 merges the instances of a loop or multi-instance task through
events instead of polling, so once such a task has been reached it is STARTED, not
WAITING. (SpiffWorkflow's own step, `migration/version_1_4.py`, reads the task kind
from the specs inside the state; Procedo reads it from the parsed version.)
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask

from .context import MigrationContext

# Task states as the 1.3 and 1.4 formats write them (SpiffWorkflow's TaskState values then).
WAITING = 8
STARTED = 32


def migrate(dct: dict[str, Any], context: MigrationContext) -> None:
    for workflow, spec in context.workflows(dct):
        for task in (workflow.get("tasks") or {}).values():
            if task.get("state") == WAITING and isinstance(context.task_spec(spec, task), LoopTask):
                task["state"] = STARTED
