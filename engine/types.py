"""Plain data the engine hands to its callers (no behaviour, no imports of the engine's modules).

Kept apart so that the runtime, the outbox, the timers and the callers in `cases` can all name
these types without importing each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from common.errors import Conflict

if TYPE_CHECKING:
    from .models import Incident, OutboxMessage, WorkflowInstance


@dataclass(frozen=True)
class ReadyTask:
    task_id: str
    bpmn_id: str
    name: str
    lane: str | None
    form: str | None
    ui_form: str | None
    instructions: str
    due_date: dt.date | None
    priority: int
    not_same_user_as: str | None
    excluded_username: str | None  # four-eyes: who may not complete it


@dataclass
class PendingSave:
    """The instance's UPDATE (state, revision check), not sent yet.

    A projector may send it together with its own statements (`sql`, `params`: one round trip)
    and then must call `confirm` with the rows it changed; if it does not, the runtime sends it
    itself right after the projector returns. Either way it is in the step's transaction.
    """

    sql: str
    params: tuple[Any, ...]
    done: bool = False

    def confirm(self, rowcount: int) -> None:
        self.done = True
        if rowcount != 1:
            raise StaleInstance(_("La pratica è stata modificata nel frattempo: riprova."))


@dataclass
class StepResult:
    """What one engine step did to one instance, inside the caller's transaction."""

    instance: WorkflowInstance
    event: str  # started | task_completed | timer | message | service_result | retry | cancelled | incident
    ready_tasks: list[ReadyTask]
    data: dict[str, Any]
    actor_username: str | None = None
    completed_task: ReadyTask | None = None
    completed_data: dict[str, Any] | None = None
    new_outbox: list[OutboxMessage] = field(default_factory=list)
    new_incidents: list[Incident] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    # False when the change did not touch the task tree (an incident was opened):
    # the projector keeps the work items as they are.
    project_tasks: bool = True
    # The READY user-task ids before this change (None: unknown), so the projector can
    # project work items without reading them back.
    previous_ready_ids: frozenset[str] | None = None
    # The instance's save when the runtime lets the projector send it (see PendingSave).
    pending_save: PendingSave | None = None

    @property
    def finished(self) -> bool:
        from .models import InstanceStatus

        return self.instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)


# Called with every StepResult, in the same transaction, right after the instance is saved:
# it turns the engine's change into the caller's rows (work items, case status, audit).
Projector = Callable[[StepResult], None]


class StaleInstance(Conflict):
    """The instance row changed since we read it (its revision moved): our step is void.

    Under the row lock this cannot happen; it guards writers that forgot the lock. The
    transaction layer (engine.locks.run_in_transaction) retries the whole transaction.
    """

    code = "stale_instance"
