"""SpiffWorkflow 3.1 -> 3.2 (serializer 1.4 -> 1.5): workflows record whether they are completed.

Format 1.5 stores `completed` on the workflow and on each subprocess; a 1.4 state
has none, and SpiffWorkflow 3.2 would read every subprocess as still running
(`get_active_subprocesses`). A workflow is completed when none of its tasks is
unfinished. Task data may stay whole: 1.5 reads a task's `data` when it has no `delta`.

The other 1.5 change, event-based gateways holding the events of their branches,
lives in the specs, which Procedo parses from the process version with the
installed library; the stored task tree of a waiting gateway is the same in both.
"""

from __future__ import annotations

from typing import Any

from .context import MigrationContext

# Finished task states as the 1.4 format writes them: COMPLETED | ERROR | CANCELLED.
FINISHED_MASK = 64 | 128 | 256


def migrate(dct: dict[str, Any], context: MigrationContext) -> None:
    for workflow, _spec in context.workflows(dct):
        tasks = (workflow.get("tasks") or {}).values()
        workflow.setdefault("completed", all(int(t.get("state", 0)) & FINISHED_MASK for t in tasks))
