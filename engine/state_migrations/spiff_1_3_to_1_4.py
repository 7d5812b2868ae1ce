"""SpiffWorkflow 3.0 -> 3.1 (serializer 1.3 -> 1.4): loop tasks started, workflows say if they are completed.

- SpiffWorkflow 3.1 merges the instances of a loop or multi-instance task through
  events instead of polling, so once such a task has been reached it is STARTED, not
  WAITING (SpiffWorkflow's own step, `migration/version_1_4.py`, reads the task kind
  from the specs inside the state; Procedo reads it from the parsed version).
- Format 1.4 stores `completed` on the workflow and on each subprocess; a 1.3 state
  has none, and SpiffWorkflow would then read a finished called process as still
  running (`get_active_subprocesses`). SpiffWorkflow's own step leaves it out; here a
  workflow is completed when none of its tasks is unfinished.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask

from .context import MigrationContext

# Task states as the 1.3 and 1.4 formats write them (SpiffWorkflow's TaskState values then).
WAITING = 8
STARTED = 32
FINISHED_MASK = 64 | 128 | 256  # COMPLETED | ERROR | CANCELLED


def migrate(dct: dict[str, Any], context: MigrationContext) -> None:
    for workflow, spec in context.workflows(dct):
        tasks = list((workflow.get("tasks") or {}).values())
        for task in tasks:
            if task.get("state") == WAITING and isinstance(context.task_spec(spec, task), LoopTask):
                task["state"] = STARTED
        workflow.setdefault("completed", all(int(t.get("state", 0)) & FINISHED_MASK for t in tasks))
