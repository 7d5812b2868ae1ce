"""Procedo layout 1 -> 2: the state names its own version.

Layout 2 writes the whole Procedo version ("procedo-2/1.5") under the state's
`serializer_version` key instead of SpiffWorkflow's bare one; the tree is unchanged.
The key is written by `dump_workflow`, so this step has nothing to move.
"""

from __future__ import annotations

from typing import Any

from .context import MigrationContext


def migrate(dct: dict[str, Any], context: MigrationContext) -> None:
    return None
