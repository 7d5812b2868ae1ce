"""Signals of the cases app, for the apps above it (the portal) that must react to a case's progress
without the cases app knowing them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from django.dispatch import Signal

# Sent after the transaction of an engine step that changed a case's tasks or ended it has committed
# (cases.projection.project), for a case whose subjects someone watches (Case.subjects_watched): a case
# nobody watches sends nothing. kwargs: case_id, tenant_id. Receivers must be quick (queue a task).
case_progressed = Signal()


class SubjectWatch(Protocol):
    """How an app above tells, when a case opens, whether someone watches one of its subjects (the portal:
    a citizen who asked for messages). The answer is stored on the case (Case.subjects_watched), so no
    step of the case asks again; the app sets the flag itself on the cases of a subject who starts
    watching later."""

    # PostgreSQL: a boolean SQL expression with two placeholders, the tenant id and the array of the
    # subjects' fiscal codes (upper case), folded into the case's INSERT (cases.statements).
    sql: str

    def __call__(self, tenant_id: int, fiscal_codes: Sequence[str]) -> bool:
        """Other databases: the same answer by a query of its own."""


# Registered by the apps above in their AppConfig.ready (the portal: portal.signals.OptedInCitizens).
subject_watches: list[SubjectWatch] = []


def subjects_watched(tenant_id: int, fiscal_codes: Sequence[str]) -> bool:
    """Whether a registered watcher watches one of `fiscal_codes` in the tenant (the ORM way; on PostgreSQL
    the case start asks the same in its INSERT)."""
    return bool(fiscal_codes) and any(watch(tenant_id, fiscal_codes) for watch in subject_watches)
