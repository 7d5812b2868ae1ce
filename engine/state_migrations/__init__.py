"""Versions of the stored workflow state, and the explicit migrations between them.

A stored state is a JSON object in `WorkflowInstance.state`; its version reads
`procedo-<layout>/<SpiffWorkflow serializer version>`:

- the layout is Procedo's own: which parts of SpiffWorkflow's serialization are kept
  (Procedo never stores the specs: it parses them from the process version) and where
  the version itself is written;
- the serializer version is SpiffWorkflow's `BpmnWorkflowSerializer.VERSION`
  ("1.3" in SpiffWorkflow 3.0, "1.4" in 3.1, "1.5" in 3.2).

Layouts:

- `procedo-1`: the task tree and data of the workflow and its subprocesses, no specs;
  the JSON's `serializer_version` key holds SpiffWorkflow's bare version ("1.5").
- `procedo-2` (current): the same tree; the JSON's `serializer_version` key holds the
  whole Procedo version ("procedo-2/1.5"), so the state alone says how to read it (a
  backup, an export, a row whose `serializer_version` column lags behind it).

Loading migrates step by step, each step a small function in this package with its
own test, until the current version is reached (the model is spiff-arena's
`data_migrations/` and SpiffWorkflow's `bpmn/serializer/migration/`; SpiffWorkflow's
own functions are not reused because they expect the specs inside the state, which
Procedo does not store). A version that no step starts from, a newer one included,
is refused with `UnsupportedStateVersion`: the case stops with a clear message, it is
never read as if it were current. Saving always writes `CURRENT_VERSION`.

When SpiffWorkflow changes its format: bump `SPIFF_SERIALIZER_VERSION`, write one
step from the previous current version, and add a fixture written by the old
library (tests/engine/fixtures/old_states/). The test suite fails until then.
README.md next to this file explains running cases and old versions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from common.errors import Conflict

from . import procedo_1_to_2, spiff_1_3_to_1_4, spiff_1_4_to_1_5
from .context import MigrationContext

__all__ = [
    "CURRENT_VERSION",
    "MIGRATIONS",
    "MigrationContext",
    "SPIFF_SERIALIZER_VERSION",
    "StateMigration",
    "UnsupportedStateVersion",
    "migrate_state",
    "read_version",
]

# The SpiffWorkflow serializer format this code writes. A test compares it with the
# installed library, so an upgrade that changes the format cannot go unnoticed.
SPIFF_SERIALIZER_VERSION = "1.5"
LAYOUT = "procedo-2"
CURRENT_VERSION = f"{LAYOUT}/{SPIFF_SERIALIZER_VERSION}"
VERSION_KEY = "serializer_version"


class UnsupportedStateVersion(Conflict):
    """A stored state this code cannot read: unknown, or written by a newer Procedo."""

    code = "unsupported_state_version"

    def __init__(self, version: Any) -> None:
        super().__init__(
            str(_("Lo stato della pratica è nel formato «%(version)s», che questa versione di Procedo "
                  "non sa leggere: serve un aggiornamento del programma, non un intervento sulla pratica."))
            % {"version": version},
            details={"version": version, "current": CURRENT_VERSION},
        )
        self.version = version


@dataclass(frozen=True)
class StateMigration:
    source: str
    target: str
    apply: Callable[[dict[str, Any], MigrationContext], None]
    summary: str


MIGRATIONS: dict[str, StateMigration] = {
    step.source: step
    for step in (
        StateMigration("procedo-1/1.3", "procedo-1/1.4", spiff_1_3_to_1_4.migrate, spiff_1_3_to_1_4.__doc__ or ""),
        StateMigration("procedo-1/1.4", "procedo-1/1.5", spiff_1_4_to_1_5.migrate, spiff_1_4_to_1_5.__doc__ or ""),
        StateMigration("procedo-1/1.5", "procedo-2/1.5", procedo_1_to_2.migrate, procedo_1_to_2.__doc__ or ""),
    )
}


def read_version(dct: dict[str, Any]) -> str:
    """The version a stored state was written in (removes the key from `dct`)."""
    raw = dct.pop(VERSION_KEY, None)
    if not isinstance(raw, str) or not raw:
        raise UnsupportedStateVersion(raw)
    if raw.startswith("procedo-"):
        return raw
    return f"procedo-1/{raw}"  # layout 1 wrote SpiffWorkflow's bare version


def migrate_state(dct: dict[str, Any], *, version: str, context: MigrationContext) -> list[str]:
    """Bring `dct` (without its version key) from `version` to CURRENT_VERSION, in place.

    Returns the versions it went through (empty: it was current). Raises
    UnsupportedStateVersion for a version no step starts from.
    """
    path: list[str] = []
    while version != CURRENT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None or version in path:
            raise UnsupportedStateVersion(version)
        path.append(version)
        step.apply(dct, context)
        version = step.target
    return path
