"""The engine's write API. Every function that changes an instance:

1. runs inside the caller's transaction (or opens its own) and locks the instance row;
2. loads the workflow, applies the change, runs engine steps;
3. writes outbox rows for READY service tasks (no network call here);
4. saves state with revision + 1 and the next timer due date;
5. tells the listeners (cases) so they project work items and audit in the same transaction.

Only `cases.services` and the engine's own Celery tasks call these functions.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from accounts.models import Tenant
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused
from common.operations import OperationContext, get_operation

from . import hooks
from .bundles import UserTaskMeta, parsed_specs, version_by_id, version_user_tasks
from .lock_objects import instance_qs_select_for_update
from .models import (
    Incident,
    IncidentStatus,
    InstanceStatus,
    OutboxMessage,
    OutboxStatus,
    ProcessVersion,
    WorkflowInstance,
)
from .script_helpers import parse_date
from .spiff import (
    SERIALIZER_VERSION,
    BpmnWorkflow,
    OutboxServiceTask,
    dump_workflow,
    load_workflow,
    script_engine_for,
)

logger = logging.getLogger(__name__)


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
class StepResult:
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
    # listeners keep the work items as they are.
    project_tasks: bool = True
    # The READY user-task ids before this change (None: unknown), so listeners can
    # project work items without reading them back.
    previous_ready_ids: frozenset[str] | None = None

    @property
    def finished(self) -> bool:
        return self.instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)


# --------------------------------------------------------------------------- loading


def _script_engine(tenant: Tenant):
    return script_engine_for(tenant.patron_day_tuple)


def _load(instance: WorkflowInstance) -> BpmnWorkflow:
    spec, subprocess_specs = parsed_specs(version_by_id(instance.process_version_id))
    return load_workflow(
        instance.state,
        spec=spec,
        subprocess_specs=subprocess_specs,
        script_engine=_script_engine(instance.tenant),
    )


def _lock(instance_id: int) -> WorkflowInstance:
    try:
        return instance_qs_select_for_update().get(pk=instance_id)
    except WorkflowInstance.DoesNotExist as exc:
        raise NotFound(_("Istanza di processo non trovata.")) from exc


# --------------------------------------------------------------------------- start


def instance_start(
    *,
    tenant: Tenant,
    version: ProcessVersion,
    data: dict[str, Any],
    case_id: int | None = None,
    case_number: str = "",
    business_key: str = "",
    actor_username: str | None = None,
) -> StepResult:
    """Create and run a new instance. Must run inside the caller's transaction."""
    spec, subprocess_specs = parsed_specs(version)
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=_script_engine(tenant))
    now = clock.now()
    start_task = workflow.get_next_task(state=TaskState.READY)
    injected = {
        "case_id": case_id,
        "case_number": case_number,
        "received_on": clock.today().isoformat(),
        "tenant_istat": tenant.istat_code,
        "tenant_name": tenant.name,
    }
    initial = {**data, **injected}
    if start_task is not None:
        start_task.data.update(initial)
    else:  # pragma: no cover - a parsed process always has a root task
        workflow.data.update(initial)
    instance = WorkflowInstance(
        tenant=tenant,
        process_version=version,
        state="{}",
        serializer_version=SERIALIZER_VERSION,
        business_key=business_key or case_number,
        case_id=case_id,
        case_number=case_number,
        created_at=now,
        updated_at=now,
    )
    instance.save()
    return _advance(
        instance, workflow, event="started", actor_username=actor_username, previous_ready_ids=frozenset()
    )


# --------------------------------------------------------------------------- user tasks


def _find_task(workflow: BpmnWorkflow, task_id: str):
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, TypeError):
        return None


def instance_complete_task(
    *, instance_id: int, task_id: str, data: dict[str, Any], actor_username: str
) -> StepResult:
    """Complete a READY user task with validated form data. Caller holds a transaction."""
    instance = _lock(instance_id)
    workflow = _load(instance)
    task = _find_task(workflow, task_id)
    if task is None or not isinstance(task.task_spec, UserTaskMixin):
        raise NotFound(_("Compito non trovato."))
    if task.state != TaskState.READY:
        raise Conflict(_("Il compito è già stato completato."), code="already_completed")
    meta = version_user_tasks(version_by_id(instance.process_version_id)).get(task.task_spec.bpmn_id)
    if meta and meta.not_same_user_as:
        previous = task.data.get(f"{meta.not_same_user_as}_completed_by")
        if previous and previous == actor_username:
            raise PermissionRefused(
                _("Regola dei quattro occhi: questo passo deve essere svolto da una persona diversa da chi ha svolto «%(step)s».")
                % {"step": meta.not_same_user_as},
                code="four_eyes",
            )
    bpmn_id = task.task_spec.bpmn_id
    task.data[bpmn_id] = data
    parent_spec = task.parent.task_spec if task.parent is not None else None
    if isinstance(parent_spec, MultiInstanceTask) and parent_spec.output_item is not None:
        # One instance of a multi-instance task: its form data is the output item.
        task.data[parent_spec.output_item.bpmn_id] = data
    task.data[f"{bpmn_id}_completed_by"] = actor_username
    task.data[f"{bpmn_id}_completed_at"] = clock.now().isoformat()
    completed = _ready_task(instance, workflow, task, meta)
    before = _ready_user_task_ids(workflow)
    task.run()
    return _advance(
        instance,
        workflow,
        event="task_completed",
        actor_username=actor_username,
        completed_task=completed,
        completed_data=data,
        previous_ready_ids=before,
    )


def instance_ready_tasks(*, instance: WorkflowInstance) -> list[ReadyTask]:
    """Every READY user task of the instance (read only, no lock)."""
    workflow = _load(instance)
    metas = version_user_tasks(version_by_id(instance.process_version_id))
    return [
        _ready_task(instance, workflow, t, metas.get(t.task_spec.bpmn_id))
        for t in workflow.get_tasks(state=TaskState.READY)
        if isinstance(t.task_spec, UserTaskMixin)
    ]


def instance_data(*, instance: WorkflowInstance) -> dict[str, Any]:
    return _snapshot_data(_load(instance))


def instance_progress(*, instance: WorkflowInstance) -> dict[str, list[str]]:
    """BPMN element ids the case went through ("done") and where it stands now ("current": tasks
    ready or waiting on a timer, message or service call). Plain ids, for the case page diagram."""
    workflow = _load(instance)
    done: dict[str, None] = {}
    current: dict[str, None] = {}
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id or bpmn_id.startswith("Root"):
            continue
        if task.state == TaskState.COMPLETED:
            done[bpmn_id] = None
        elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
            current[bpmn_id] = None
    return {"done": [i for i in done if i not in current], "current": list(current)}


# --------------------------------------------------------------------------- advancing


def _ready_task(instance, workflow, task, meta: UserTaskMeta | None) -> ReadyTask:
    due = None
    if meta and meta.due_expression:
        try:
            value = workflow.script_engine.evaluate(task, meta.due_expression)
            due = dt.date.fromisoformat(parse_date(value)) if value else None
        except Exception as exc:  # a broken due expression must not block the case
            logger.warning("due date of %s in instance %s failed: %s", task.task_spec.bpmn_id, instance.pk, exc)
    excluded = None
    if meta and meta.not_same_user_as:
        excluded = task.data.get(f"{meta.not_same_user_as}_completed_by")
    return ReadyTask(
        task_id=str(task.id),
        bpmn_id=task.task_spec.bpmn_id,
        name=(meta.name if meta else task.task_spec.bpmn_name) or task.task_spec.bpmn_id,
        lane=(meta.lane if meta else task.task_spec.lane),
        form=meta.form if meta else None,
        ui_form=meta.ui_form if meta else None,
        instructions=meta.instructions if meta else "",
        due_date=due,
        priority=meta.priority if meta else 2,
        not_same_user_as=meta.not_same_user_as if meta else None,
        excluded_username=excluded,
    )


def _ready_user_task_ids(workflow: BpmnWorkflow) -> frozenset[str]:
    return frozenset(
        str(t.id) for t in workflow.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, UserTaskMixin)
    )


def _snapshot_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The case data as it stands: the data of the latest task that changed."""
    tasks = [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.COMPLETED)]
    if not tasks:
        return dict(workflow.data)
    latest = max(tasks, key=lambda t: t.last_state_change)
    merged = dict(workflow.data)
    merged.update(latest.data)
    return merged


def _event_definitions(task) -> list:
    """The event definitions a waiting task catches (an event-based gateway holds several)."""
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition] if definition is not None else []


def _next_timer(workflow: BpmnWorkflow) -> dt.datetime | None:
    due: list[dt.datetime] = []
    for task in list(workflow.event_manager.tasks.values()):
        if not any(isinstance(d, TimerEventDefinition) for d in _event_definitions(task)):
            continue
        value = task._get_internal_data("event_value")
        if value is None:
            continue
        try:
            when = TimerEventDefinition.get_datetime(value)
        except Exception:
            try:
                when = TimerEventDefinition.parse_time_or_duration(value)
            except Exception:
                continue
        if isinstance(when, dt.datetime):
            due.append(when if when.tzinfo else when.replace(tzinfo=dt.UTC))
    return min(due) if due else None


def _enqueue_service_tasks(instance: WorkflowInstance, workflow: BpmnWorkflow) -> list[OutboxMessage]:
    created = []
    now = clock.now()
    for task in workflow.get_tasks(state=TaskState.READY):
        if not isinstance(task.task_spec, OutboxServiceTask) or task.internal_data.get("procedo_outbox"):
            continue
        spec = task.task_spec
        params = {name: p["value"] for name, p in spec.evaluate_params(task).items()}
        message = OutboxMessage.objects.create(
            tenant=instance.tenant,
            instance=instance,
            task_id=str(task.id),
            task_bpmn_id=spec.bpmn_id,
            operation=spec.operation_name,
            params=params,
            idempotency_key=f"{instance.tenant.istat_code}-{instance.pk}-{task.id}",
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        task.internal_data["procedo_outbox"] = message.pk
        created.append(message)
    return created


def _incident(instance, *, kind: str, message: str, details: str, task=None, outbox=None) -> Incident | None:
    task_id = str(task.id) if task is not None else (outbox.task_id if outbox else "")
    existing = Incident.objects.filter(instance=instance, task_id=task_id, status=IncidentStatus.OPEN, kind=kind)
    if existing.exists():
        return None
    return Incident.objects.create(
        tenant=instance.tenant,
        instance=instance,
        task_id=task_id,
        task_bpmn_id=(task.task_spec.bpmn_id if task is not None else (outbox.task_bpmn_id if outbox else "")),
        task_name=(task.task_spec.bpmn_name or task.task_spec.bpmn_id) if task is not None else "",
        kind=kind,
        message=message,
        details=details[:20000],
        outbox=outbox,
        created_at=clock.now(),
    )


def _advance(
    instance: WorkflowInstance,
    workflow: BpmnWorkflow,
    *,
    event: str,
    actor_username: str | None = None,
    completed_task: ReadyTask | None = None,
    completed_data: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    previous_ready_ids: frozenset[str] | None = None,
) -> StepResult:
    new_incidents = []
    try:
        workflow.do_engine_steps()
    except Exception as exc:
        failed = workflow.get_tasks(state=TaskState.ERROR)
        task = failed[0] if failed else None
        step = (task.task_spec.bpmn_name or task.task_spec.bpmn_id) if task is not None else "?"
        logger.warning("instance %s: step %s failed: %s", instance.pk, step, exc)
        incident = _incident(
            instance,
            kind="script_error",
            message=_("Il passo «%(step)s» non è riuscito: %(error)s") % {"step": step, "error": exc},
            details="".join(traceback.format_exception(exc)),
            task=task,
        )
        if incident:
            new_incidents.append(incident)
    new_outbox = _enqueue_service_tasks(instance, workflow)

    now = clock.now()
    instance.state = dump_workflow(workflow)
    instance.serializer_version = SERIALIZER_VERSION
    instance.revision += 1
    instance.updated_at = now
    instance.next_timer_at = _next_timer(workflow)
    if workflow.is_completed():
        instance.status = InstanceStatus.COMPLETED
        instance.completed_at = now
        instance.next_timer_at = None
    elif workflow.get_tasks(state=TaskState.ERROR):
        instance.status = InstanceStatus.ERROR
    else:
        instance.status = InstanceStatus.RUNNING
    instance.save(
        update_fields=["state", "serializer_version", "revision", "updated_at", "next_timer_at", "status", "completed_at"]
    )

    metas = version_user_tasks(version_by_id(instance.process_version_id))
    ready = [
        _ready_task(instance, workflow, t, metas.get(t.task_spec.bpmn_id))
        for t in workflow.get_tasks(state=TaskState.READY)
        if isinstance(t.task_spec, UserTaskMixin)
    ]
    result = StepResult(
        instance=instance,
        event=event,
        ready_tasks=ready,
        data=_snapshot_data(workflow),
        actor_username=actor_username,
        completed_task=completed_task,
        completed_data=completed_data,
        new_outbox=new_outbox,
        new_incidents=new_incidents,
        detail=detail or {},
        previous_ready_ids=previous_ready_ids,
    )
    hooks.notify(result)
    if new_outbox:
        ids = [m.pk for m in new_outbox]
        transaction.on_commit(lambda: _dispatch_outbox(ids))
    return result


def _dispatch_outbox(ids: list[int]) -> None:
    if getattr(settings, "PROCEDO_OUTBOX_DISPATCH", "celery") != "celery":
        return
    from .tasks import deliver_outbox_task

    for pk in ids:
        try:
            deliver_outbox_task.delay(pk)
        except Exception:  # broker down: the periodic sweep delivers it later
            logger.exception("could not queue outbox message %s; the sweep will pick it up", pk)


# --------------------------------------------------------------------------- cancel


def instance_cancel(*, instance_id: int, actor_username: str, reason: str = "") -> StepResult:
    instance = _lock(instance_id)
    if instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED):
        raise Conflict(_("La pratica è già conclusa."), code="already_closed")
    workflow = _load(instance)
    workflow.cancel()
    now = clock.now()
    instance.state = dump_workflow(workflow)
    instance.revision += 1
    instance.status = InstanceStatus.CANCELLED
    instance.next_timer_at = None
    instance.updated_at = now
    instance.completed_at = now
    instance.save()
    OutboxMessage.objects.filter(instance=instance, status=OutboxStatus.PENDING).update(
        status=OutboxStatus.CANCELLED, updated_at=now
    )
    result = StepResult(
        instance=instance,
        event="cancelled",
        ready_tasks=[],
        data=_snapshot_data(workflow),
        actor_username=actor_username,
        detail={"reason": reason},
    )
    hooks.notify(result)
    return result


# --------------------------------------------------------------------------- timers


def fire_due_timers(*, limit: int = 200) -> int:
    """Fire every due timer exactly once, even with several workers running this.

    Candidates are read without locks; each is then locked with SKIP LOCKED and the
    due condition re-checked, so a worker never waits for another and never fires an
    instance that another worker has just advanced.
    """
    now = clock.now()
    candidates = list(
        WorkflowInstance.objects.filter(next_timer_at__lte=now, status=InstanceStatus.RUNNING)
        .order_by("next_timer_at")
        .values_list("pk", flat=True)[:limit]
    )
    fired = 0
    for pk in candidates:
        with transaction.atomic():
            instance = (
                instance_qs_select_for_update()
                .select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, next_timer_at__lte=now, status=InstanceStatus.RUNNING)
                .first()
            )
            if instance is None:
                continue
            workflow = _load(instance)
            before = _ready_user_task_ids(workflow)
            workflow.refresh_timers()
            _advance(instance, workflow, event="timer", detail={"due": now.isoformat()}, previous_ready_ids=before)
            fired += 1
    return fired


# --------------------------------------------------------------------------- messages


def deliver_message(*, tenant: Tenant, name: str, correlation_key: str, payload: Any = None) -> int:
    """Deliver a BPMN message to the tenant's instances waiting for it under that key.

    The key is the instance's business key or its case number. Returns how many
    instances caught it (0: nobody is waiting, the caller decides what that means).
    """
    candidates = list(
        WorkflowInstance.objects.for_tenant(tenant)
        .filter(status=InstanceStatus.RUNNING)
        .filter(Q(business_key=correlation_key) | Q(case_number=correlation_key))
        .values_list("pk", flat=True)
    )
    caught = 0
    for pk in candidates:
        with transaction.atomic():
            instance = _lock(pk)
            workflow = _load(instance)
            definition = None
            for task in list(workflow.event_manager.tasks.values()):
                for index, candidate in enumerate(_event_definitions(task)):
                    if isinstance(candidate, MessageEventDefinition) and candidate.name == name:
                        definition = candidate
                        # The payload goes under the catching event's id; in an event-based
                        # gateway that is the gateway's index-th outgoing event.
                        catcher = task.task_spec
                        if isinstance(task.task_spec.event_definition, MultipleEventDefinition):
                            catcher = task.task_spec.outputs[index]
                        task.data[catcher.bpmn_id] = payload
            if definition is None:
                continue
            before = _ready_user_task_ids(workflow)
            workflow.catch(BpmnEvent(definition, payload))
            _advance(instance, workflow, event="message", detail={"message": name}, previous_ready_ids=before)
            caught += 1
    return caught


# --------------------------------------------------------------------------- outbox


def _backoff(attempts: int) -> dt.timedelta:
    base = getattr(settings, "PROCEDO_OUTBOX_BACKOFF_SECONDS", 10)
    return dt.timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), 3600))


def _outbox_lease() -> dt.timedelta:
    # Longer than a delivery may take (the Celery hard time limit), so a lease only
    # expires when the worker holding it is gone.
    return dt.timedelta(seconds=getattr(settings, "PROCEDO_OUTBOX_LEASE_SECONDS", 300))


def outbox_claim(message_id: int) -> OutboxMessage | None:
    """Atomically take a due message (or one whose worker died). None: not ours to run.

    The claim itself counts the attempt: a delivery that never finishes (worker killed by
    its hard time limit, machine lost) still uses up one attempt when its lease expires,
    and a message out of attempts is given up here instead of being claimed again.
    """
    now = clock.now()
    max_attempts = getattr(settings, "PROCEDO_OUTBOX_MAX_ATTEMPTS", 5)
    claimed = OutboxMessage.objects.filter(pk=message_id, next_attempt_at__lte=now).filter(
        Q(status=OutboxStatus.PENDING)
        | Q(status=OutboxStatus.RUNNING, locked_until__lt=now, attempts__lt=max_attempts)
    ).update(status=OutboxStatus.RUNNING, locked_until=now + _outbox_lease(), attempts=F("attempts") + 1,
             updated_at=now)
    if claimed != 1:
        _outbox_give_up_if_lost(message_id, max_attempts=max_attempts)
        return None
    return OutboxMessage.objects.select_related("tenant").get(pk=message_id)


def _outbox_give_up_if_lost(message_id: int, *, max_attempts: int) -> None:
    """A message whose every delivery was lost mid-way (lease expired, attempts used up)
    becomes failed with one incident; the sweep then stops picking it up."""
    now = clock.now()
    lost = OutboxMessage.objects.filter(pk=message_id, status=OutboxStatus.RUNNING, locked_until__lt=now,
                                        attempts__gte=max_attempts)
    if not lost.exists():
        return
    with transaction.atomic():
        message = lost.first()
        if message is None:
            return
        instance = _lock(message.instance_id)
        current = OutboxMessage.objects.select_for_update().filter(pk=message_id).first()
        if current is None or current.status != OutboxStatus.RUNNING or current.locked_until is None \
                or current.locked_until >= now:
            return
        text = _(
            "Il servizio «%(op)s» non ha completato nessuno dei %(n)s tentativi entro il tempo massimo: "
            "ogni esecuzione è stata interrotta prima di terminare (tempo scaduto o worker arrestato)."
        ) % {"op": current.operation, "n": current.attempts}
        current.status = OutboxStatus.FAILED
        current.locked_until = None
        current.last_error = text
        current.updated_at = now
        current.save(update_fields=["status", "locked_until", "last_error", "updated_at"])
        logger.warning("outbox %s %s: %s deliveries never finished; given up", current.pk, current.operation,
                       current.attempts)
        # kind and details as for any failed call: the incident page explains a TimeoutError as
        # "did not answer in time" (cases/selectors.incident_explain).
        details = (f"TimeoutError: {current.attempts} deliveries of {current.operation} never finished "
                   f"(lease expired each time: hard time limit or lost worker)")
        incident = _incident(instance, kind="service_failed", message=text, details=details, outbox=current)
        if incident is not None:
            hooks.notify(StepResult(instance=instance, event="incident", ready_tasks=[], data={},
                                    new_incidents=[incident], project_tasks=False))


def outbox_deliver(message_id: int) -> str:
    """Perform one outbox call and feed its result back. Safe to run twice."""
    message = outbox_claim(message_id)
    if message is None:
        return "skipped"
    operation = get_operation(message.operation)
    ctx = OperationContext(
        tenant_id=message.tenant_id,
        tenant_istat=message.tenant.istat_code,
        idempotency_key=message.idempotency_key,
        case_id=message.instance.case_id,
        case_number=message.instance.case_number or None,
        attempt=message.attempts,
    )
    try:
        if operation is None:
            from common.operations import PermanentError

            raise PermanentError(_("Operazione sconosciuta: %(op)s") % {"op": message.operation})
        result = operation(message.params, ctx)
    except SoftTimeLimitExceeded as exc:
        # The task's time is up: record the attempt, then let the task end (a sweep must not
        # go on delivering other messages on borrowed time until the hard limit kills it).
        _outbox_failed(message, exc)
        raise
    except Exception as exc:
        return _outbox_failed(message, exc)
    return _outbox_succeeded(message, result)


def _outbox_succeeded(message: OutboxMessage, result: dict[str, Any]) -> str:
    with transaction.atomic():
        instance = _lock(message.instance_id)
        current = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if current.status != OutboxStatus.RUNNING:
            return "skipped"  # cancelled meanwhile, or delivered by another worker
        now = clock.now()
        current.status = OutboxStatus.DONE
        current.result = result
        current.locked_until = None
        current.updated_at = now
        current.save(update_fields=["status", "result", "locked_until", "updated_at"])
        workflow = _load(instance)
        task = _find_task(workflow, message.task_id)
        if task is None or task.state != TaskState.READY:
            logger.warning("outbox %s: task %s no longer ready; result kept", message.pk, message.task_id)
            return "stale"
        before = _ready_user_task_ids(workflow)
        task.internal_data[OutboxServiceTask.RESULT_KEY] = result
        task.run()
        Incident.objects.filter(outbox=current, status=IncidentStatus.OPEN).update(
            status=IncidentStatus.RESOLVED, resolved_at=now
        )
        _advance(
            instance, workflow, event="service_result", detail={"operation": message.operation},
            previous_ready_ids=before,
        )
    return "done"


def _outbox_failed(message: OutboxMessage, exc: Exception) -> str:
    retryable = getattr(exc, "retryable", True)
    max_attempts = getattr(settings, "PROCEDO_OUTBOX_MAX_ATTEMPTS", 5)
    text = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    now = clock.now()
    logger.warning("outbox %s %s attempt %s failed: %s", message.pk, message.operation, message.attempts, text)
    with transaction.atomic():
        instance = _lock(message.instance_id)
        current = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if current.status != OutboxStatus.RUNNING:
            return "skipped"
        current.last_error = text[:5000]
        current.locked_until = None
        current.updated_at = now
        if retryable and current.attempts < max_attempts:
            current.status = OutboxStatus.PENDING
            current.next_attempt_at = now + _backoff(current.attempts)
            current.save()
            return "retry"
        current.status = OutboxStatus.FAILED
        current.save()
        incident = _incident(
            instance,
            kind="service_failed",
            message=_("Il servizio «%(op)s» non ha risposto correttamente dopo %(n)s tentativi: %(error)s")
            % {"op": message.operation, "n": current.attempts, "error": text},
            details="".join(traceback.format_exception(exc)),
            outbox=current,
        )
        if incident is not None:
            workflow_data: dict[str, Any] = {}
            hooks.notify(
                StepResult(
                    instance=instance,
                    event="incident",
                    ready_tasks=[],
                    data=workflow_data,
                    new_incidents=[incident],
                    project_tasks=False,
                )
            )
    return "failed"


def outbox_due_ids(*, limit: int = 500) -> list[int]:
    now = clock.now()
    return list(
        OutboxMessage.objects.filter(next_attempt_at__lte=now)
        .filter(Q(status=OutboxStatus.PENDING) | Q(status=OutboxStatus.RUNNING, locked_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def outbox_deliver_due(*, limit: int = 500) -> dict[str, int]:
    """Deliver every due message now (the periodic sweep; tests call it to drain)."""
    counts: dict[str, int] = {}
    for pk in outbox_due_ids(limit=limit):
        outcome = outbox_deliver(pk)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# --------------------------------------------------------------------------- incidents


def incident_retry(*, incident_id: int, tenant: Tenant, actor_username: str) -> StepResult | None:
    """Retry what failed: the errored script step, or the service call from scratch."""
    with transaction.atomic():
        incident = Incident.objects.for_tenant(tenant).select_for_update().filter(pk=incident_id).first()
        if incident is None:
            raise NotFound(_("Incidente non trovato."))
        if incident.status != IncidentStatus.OPEN:
            raise Conflict(_("L'incidente è già stato risolto."), code="already_resolved")
        now = clock.now()
        instance = _lock(incident.instance_id)
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now
        incident.save(update_fields=["status", "resolved_at"])
        result = None
        if incident.outbox_id:
            OutboxMessage.objects.filter(pk=incident.outbox_id).update(
                status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now, locked_until=None
            )
            transaction.on_commit(lambda: _dispatch_outbox([incident.outbox_id]))
        else:
            workflow = _load(instance)
            for task in workflow.get_tasks(state=TaskState.ERROR):
                task._set_state(TaskState.READY)
            result = _advance(instance, workflow, event="retry", actor_username=actor_username)
        return result
