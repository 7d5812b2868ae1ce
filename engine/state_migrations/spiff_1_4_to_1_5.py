"""SpiffWorkflow 3.1 -> 3.2 (serializer 1.4 -> 1.5): the stored tree needs no change.

What 1.5 changed, and why Procedo's state is already right:

- Event-based gateways hold the events of their branches (SpiffWorkflow's own step,
  `migration/version_1_5.py`, rewrites the branch specs). Procedo stores no specs: it
  parses them from the process version with the installed library. A waiting gateway
  keeps its timer value in its own internal data in both formats.
- A task may store only what it changed (`delta`) instead of its whole `data`; 1.5
  reads a task's `data` when it has no `delta`, and the next save writes deltas.
- Waiting catch events are indexed by an event manager that 1.5 rebuilds from the
  task states while reading.

The step exists so that the path from every released format is written down and tested.
"""

from __future__ import annotations

from typing import Any

from .context import MigrationContext


def migrate(dct: dict[str, Any], context: MigrationContext) -> None:
    return None
