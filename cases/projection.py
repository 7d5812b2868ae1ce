"""What an engine step means for the case: work items, case status and the system's audit events.

`project(result)` is the engine's projector (engine.types.Projector). `cases.services` passes it
explicitly to every engine call it makes; steps the engine starts on its own (timers, service
results, messages polled by a worker) find it through the `PROCEDO_ENGINE_PROJECTOR` setting.
It runs in the engine step's transaction, under the instance lock (engine.locks level 1).

Audit: this module writes only the events no person did (a deadline passed, a message arrived,
a service answered, an incident opened). What a person did (complete, cancel, retry, ...) is
written by the service in `cases.services` that did it, once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists
from django.utils.translation import gettext as _

from audit.services import PreparedAudit, audit_record
from common import clock
from common.errors import Conflict
from engine.models import Incident, IncidentStatus, InstanceStatus
from engine.types import ReadyTask, StepResult

from . import statements
from .models import Case, CaseStatus, WorkItem, WorkItemStatus
from .payments import open_positions_exist_sql, queue_invalidations
from .signals import case_progressed


def project(
    result: StepResult, *, audit: PreparedAudit | None = None, carry: Sequence[tuple[str, Any]] = ()
) -> None:
    """`audit`: the event of the person's action that caused this step (cases.services prepares
    it). It is written after the projection's own events, as the action's last write; when the
    projection writes none, its append travels in the projection's statement (PostgreSQL).
    `carry`: the caller's own statements (other rows than the projection's) to send with it."""
    instance = result.instance
    if instance.case_id is None:
        statements.execute_together(list(carry))
        if audit is not None:
            audit.write()
        return
    now = clock.now()
    writes: list[tuple[str, Any]] = []
    completed_write = None
    if result.project_tasks:
        writes, completed_write = _work_item_writes(instance.case_id, instance.tenant_id, result, now)
    fields: dict[str, Any] = {"updated_at": now}
    if result.event == "started":  # the case row was inserted just before: link it to its instance
        fields.update(instance_id=instance.pk, business_key=instance.business_key)
    if result.event in MIGRATION_EVENTS:  # engine.migration moved the case to another version
        fields["process_version_id"] = instance.process_version_id
        if result.project_tasks:
            writes += _work_item_refresh_writes(instance.case_id, result)
    if result.project_tasks:
        fields["data"] = result.data
        fields["outcome"] = str(result.data.get("final_outcome") or "")[:100]
    if result.new_incidents:
        fields["has_open_incident"] = True
    elif result.event in ("retry", "service_result", "sent_back"):
        fields["has_open_incident"] = Exists(
            Incident.objects.filter(instance_id=instance.pk, status=IncidentStatus.OPEN)
        )
    close_if_open = None
    if instance.status == InstanceStatus.COMPLETED:
        close_if_open = now  # an open case closes; one cancelled meanwhile stays cancelled
    elif instance.status == InstanceStatus.CANCELLED:
        fields.update(status=CaseStatus.CANCELLED, closed_at=now)
    # The instance's save, the work items and the case row: different rows, one round trip on
    # PostgreSQL. The save goes first (on other databases too, as when the runtime sent it).
    pending = result.pending_save
    if pending is not None:
        writes.insert(0, (pending.sql, pending.params))
        completed_write = completed_write + 1 if completed_write is not None else None
    system_event = result.event in SYSTEM_EVENT_SUMMARIES and result.project_tasks
    # The action's event goes last in the case's chain: folded only when no system event follows.
    folded = audit.fold() if audit is not None and not system_event and not result.new_incidents else None
    # The case row's UPDATE also says whether anyone watches its subjects, and for a case that ends,
    # whether it has pagoPA notices still payable (no query of their own).
    ended = instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED) and result.event != "incident"
    asked = {"watched": (connection.ops.quote_name("subjects_watched"), ())}
    if ended:
        asked["payable"] = open_positions_exist_sql(f"{connection.ops.quote_name(Case._meta.db_table)}.id")
    back = statements.Returning(**asked)
    counts = statements.execute_together(
        [*writes, *carry, statements.case_update_sql(instance.case_id, close_if_open=close_if_open, **fields)],
        tail=folded, returning=back,
    )
    if folded is not None:
        audit.accept(folded.row)  # False: the chain's head was missing, written below
    if pending is not None:
        pending.confirm(counts[0])
    if completed_write is not None and counts[completed_write] == 0:
        _refuse_if_claimed_by_other(instance.case_id, result)
    if back.values["watched"] and (
        result.project_tasks or instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)
    ):
        _progressed_after_commit(instance.case_id, instance.tenant_id)
    if counts[-1]:  # else the case row is being created in this same transaction
        if ended and back.values.get("payable"):
            # The case ended: a pagoPA notice still unpaid must not stay payable (cases.payments).
            queue_invalidations(instance)
        if system_event:
            _system_event(instance, SYSTEM_EVENT_SUMMARIES[result.event](result.detail), result.detail)
        for incident in result.new_incidents:
            _system_event(
                instance, _("Incidente: %(m)s") % {"m": incident.message},
                {"incident": incident.pk, "kind": incident.kind},
            )
    if audit is not None:
        audit.write()  # nothing when the fold carried it


def _progressed_after_commit(case_id: int, tenant_id: int) -> None:
    """cases.signals.case_progressed once the step is committed (the portal tells citizens then); only
    for a case whose subjects someone watches (Case.subjects_watched, read back by the case's UPDATE)."""
    if not case_progressed.receivers:
        return

    def send() -> None:
        case_progressed.send_robust(sender=Case, case_id=case_id, tenant_id=tenant_id)

    transaction.on_commit(send, robust=True)


# A migration to another version of the process, or its revert: the kept work items take the new
# version's name, role, form and deadline (engine.migration audits the move itself).
MIGRATION_EVENTS = frozenset({"migrated", "migration_reverted"})


def _work_item_refresh_writes(case_id: int, result: StepResult) -> list[tuple[str, Any]]:
    kept = set(result.previous_ready_ids or ()) & {t.task_id for t in result.ready_tasks}
    return [
        statements.update_sql(
            WorkItem.objects.filter(case_id=case_id, task_id=task.task_id, status=WorkItemStatus.OPEN),
            bpmn_id=task.bpmn_id, name=task.name, role=task.lane or "", form=task.form or "",
            ui_form=task.ui_form or "", instructions=task.instructions, due_at=task.due_date,
            priority=task.priority, excluded_username=task.excluded_username or "",
        )
        for task in result.ready_tasks
        if task.task_id in kept
    ]


# What the engine did on its own (no person acted), as the case history tells it.
SYSTEM_EVENT_SUMMARIES = {
    "timer": lambda d: _("Scaduto un termine del procedimento"),
    "message": lambda d: _("Ricevuto un messaggio: %(m)s") % {"m": d.get("message", "")},
    "service_result": lambda d: _("Eseguita l'operazione %(o)s") % {"o": d.get("operation", "")},
}


def _system_event(instance, summary: str, extra: dict[str, Any]) -> None:
    audit_record(
        tenant=instance.tenant, actor=None, action="system", object_type="case",
        object_id=str(instance.case_id), object_repr=instance.case_number, summary=summary, extra=extra,
    )


def _work_item_writes(
    case_id: int, tenant_id: int, result: StepResult, now: dt.datetime
) -> tuple[list[tuple[str, Any]], int | None]:
    """The statements that bring the case's open work items in line with the READY user tasks,
    and the index of the one that completes the person's item (None: no person completed one)."""
    ready: dict[str, ReadyTask] = {t.task_id: t for t in result.ready_tasks}
    if result.previous_ready_ids is not None:
        existing = set(result.previous_ready_ids)
    else:
        existing = set(
            WorkItem.objects.filter(case_id=case_id, status=WorkItemStatus.OPEN).values_list("task_id", flat=True)
        )
    writes: list[tuple[str, Any]] = []
    completed_write = None
    gone = existing - ready.keys()
    completed_id = result.completed_task.task_id if result.completed_task else None
    if completed_id in gone:
        gone.discard(completed_id)
        # Conditional: the item is completed only if it is still open and nobody else claimed it
        # meanwhile (a claim locks the work item alone, not the instance).
        completed_write = len(writes)
        writes.append(statements.work_item_complete_sql(
            case_id=case_id, task_id=completed_id, username=result.actor_username or "", now=now
        ))
    if gone:
        writes.append(statements.update_sql(
            WorkItem.objects.filter(case_id=case_id, task_id__in=sorted(gone)),
            status=WorkItemStatus.CANCELLED, completed_at=now,
        ))
    reopened: set[str] = set()
    if result.event == "sent_back":
        # The task the case went back to keeps its id in the workflow: its work item opens again
        # (the first completion stays in the audit trail), with the due date it has now.
        for task_id in WorkItem.objects.filter(case_id=case_id, task_id__in=[t for t in ready if t not in existing]) \
                .values_list("task_id", flat=True):
            task = ready[task_id]
            writes.append(statements.update_sql(
                WorkItem.objects.filter(case_id=case_id, task_id=task_id),
                status=WorkItemStatus.OPEN, assignee=None, claimed_at=None, completed_at=None, completed_by=None,
                due_at=task.due_date, excluded_username=task.excluded_username or "", created_at=now,
            ))
            reopened.add(task_id)
    new_items = [
        WorkItem(
            tenant_id=tenant_id,
            case_id=case_id,
            task_id=task.task_id,
            bpmn_id=task.bpmn_id,
            name=task.name,
            role=task.lane or "",
            form=task.form or "",
            ui_form=task.ui_form or "",
            instructions=task.instructions,
            due_at=task.due_date,
            priority=task.priority,
            excluded_username=task.excluded_username or "",
            created_at=now,
        )
        for task_id, task in ready.items()
        if task_id not in existing and task_id not in reopened
    ]
    if new_items:
        writes.append(statements.insert_sql(new_items))
    return writes, completed_write


def _refuse_if_claimed_by_other(case_id: int, result: StepResult) -> None:
    """The completed item was not updated: refuse if someone else claimed it meanwhile."""
    assert result.completed_task is not None
    holder = (
        WorkItem.objects.filter(case_id=case_id, task_id=result.completed_task.task_id, assignee__isnull=False)
        .exclude(assignee__username=result.actor_username)
        .select_related("assignee")
        .first()
    )
    if holder is not None:
        raise Conflict(
            _("Il compito è in carico a %(u)s.") % {"u": holder.assignee.get_full_name() or holder.assignee.username},
            code="claimed_by_other",
        )
