"""What a migration step may consult besides the stored dict: the version's parsed specs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MigrationContext:
    """The parsed specs of the process version the instance runs on.

    Procedo does not store specs in the state, so a step that needs to know what
    kind of task a stored task is asks here (the specs are parsed from the
    immutable process version by the installed library).
    """

    spec: Any
    subprocess_specs: dict[str, Any]

    def workflows(self, dct: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Any]]:
        """(stored workflow dict, its spec) for the top workflow and every stored subprocess."""
        yield dct, self.spec
        for sub in (dct.get("subprocesses") or {}).values():
            yield sub, self.subprocess_specs.get(sub.get("spec"))

    @staticmethod
    def task_spec(workflow_spec: Any, task: dict[str, Any]) -> Any:
        if workflow_spec is None:
            return None
        return workflow_spec.task_specs.get(task.get("task_spec"))
