"""The engine's public write API: start, complete, cancel, deliver a message, retry an incident.

Each function works on an instance locked through `engine.locks` (level 1 of the lock order),
inside the caller's transaction, and goes through `engine.runtime.InstanceRuntime` (load,
advance, save with the revision check, project). `projector` is what should happen to the
caller's rows after the step (`cases.projection.project` when `cases` calls); None means the
configured projector of engine-initiated steps. Only `cases.services` and the engine's own
Celery tasks call these functions. Outbox and timer sweeps live in `engine.outbox` and
`engine.timers` and are re-exported here, as reads live in `engine.selectors`.
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from accounts.models import Tenant
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused

from .locks import lock_instance, lock_instance_or_404, run_in_transaction
from .models import (
    Incident,
    IncidentStatus,
    InstanceStatus,
    OutboxMessage,
    OutboxStatus,
    ProcessVersion,
    WorkflowInstance,
)
from .outbox import outbox_claim, outbox_deliver, outbox_deliver_due, outbox_due_ids, outbox_enqueue_detached
from .runtime import InstanceRuntime, dispatch_outbox, event_definitions
from .spiff import completed_service_tasks, retry_errored_tasks, send_back_dropped, upstream_user_tasks
from .spiff import send_back as spiff_send_back
from .timers import fire_due_timers, timer_fire
from .types import Projector, ReadyTask, StepResult

__all__ = [
    "ReadyTask",
    "StepResult",
    "deliver_message",
    "fire_due_timers",
    "incident_retry",
    "incident_send_back",
    "instance_cancel",
    "instance_complete_task",
    "instance_start",
    "outbox_claim",
    "outbox_deliver",
    "outbox_deliver_due",
    "outbox_enqueue_detached",
    "outbox_due_ids",
    "timer_fire",
]

logger = logging.getLogger(__name__)


def _locked(instance: WorkflowInstance | None, instance_id: int | None) -> WorkflowInstance:
    """The instance the caller locked already, or lock it now by id."""
    return instance if instance is not None else lock_instance_or_404(instance_id)


def instance_start(
    *,
    tenant: Tenant,
    version: ProcessVersion,
    data: dict[str, Any],
    case_id: int | None = None,
    case_number: str = "",
    business_key: str = "",
    actor_username: str | None = None,
    projector: Projector | None = None,
    instance_id: int | None = None,
) -> StepResult:
    """Create and run a new instance. Must run inside the caller's transaction.

    `instance_id`: a key reserved from the instance table's sequence (PostgreSQL), so that the
    row's INSERT travels with the projector's statements (InstanceRuntime.create)."""
    runtime = InstanceRuntime.create(
        tenant=tenant, version=version, data=data, case_id=case_id, case_number=case_number,
        business_key=business_key, projector=projector, instance_id=instance_id,
    )
    return runtime.advance(event="started", actor_username=actor_username, previous_ready_ids=frozenset())


def instance_complete_task(
    *,
    task_id: str,
    data: dict[str, Any],
    actor_username: str,
    instance_id: int | None = None,
    instance: WorkflowInstance | None = None,
    projector: Projector | None = None,
) -> StepResult:
    """Complete a READY user task with validated form data. Caller holds a transaction.

    Pass the `instance` the caller has locked (engine.locks.lock_instance), or its id.
    """
    runtime = InstanceRuntime.load(_locked(instance, instance_id), projector=projector)
    task = runtime.find_task(task_id)
    if task is None or not isinstance(task.task_spec, UserTaskMixin):
        raise NotFound(_("Compito non trovato."))
    if task.state != TaskState.READY:
        raise Conflict(_("Il compito è già stato completato."), code="already_completed")
    meta = runtime.user_task_meta(task.task_spec.bpmn_id)
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
    completed = runtime.ready_task(task, meta)
    before = runtime.ready_user_task_ids()
    task.run()
    return runtime.advance(
        event="task_completed",
        actor_username=actor_username,
        completed_task=completed,
        completed_data=data,
        previous_ready_ids=before,
    )


def instance_cancel(
    *,
    actor_username: str,
    reason: str = "",
    instance_id: int | None = None,
    instance: WorkflowInstance | None = None,
    projector: Projector | None = None,
) -> StepResult:
    """Cancel a running instance (its pending service calls too). Caller holds a transaction."""
    instance = _locked(instance, instance_id)
    if instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED):
        raise Conflict(_("La pratica è già conclusa."), code="already_closed")
    return InstanceRuntime.load(instance, projector=projector).cancel(actor_username=actor_username, reason=reason)


def _message_catchers(runtime: InstanceRuntime, name: str) -> tuple[MessageEventDefinition | None, list]:
    """The message's definition and, per waiting task that catches it, (task, catching event id)."""
    definition = None
    catchers = []
    for task in list(runtime.workflow.event_manager.tasks.values()):
        if task.state != TaskState.WAITING:
            continue
        for index, candidate in enumerate(event_definitions(task)):
            if isinstance(candidate, MessageEventDefinition) and candidate.name == name:
                definition = candidate
                # The payload goes under the catching event's id; in an event-based
                # gateway that is the gateway's index-th outgoing event.
                catcher = task.task_spec
                if isinstance(task.task_spec.event_definition, MultipleEventDefinition):
                    catcher = task.task_spec.outputs[index]
                catchers.append((task, catcher.bpmn_id))
    return definition, catchers


def _message_accepted(runtime: InstanceRuntime, name: str, payload: Any, accept_if: str) -> bool:
    """Whether the instance takes the message: `accept_if` evaluated in the sandbox on the data of
    the task waiting for it, with the payload as `message`. An expression that fails (a missing
    key in the payload...) refuses the message rather than letting it through."""
    _definition, catchers = _message_catchers(runtime, name)
    if not catchers:
        return True  # nobody waits: the caller's "no waiting case" answer applies
    task = catchers[0][0]
    context = {**copy.deepcopy(task.data), "message": copy.deepcopy(payload)}
    try:
        return bool(runtime.workflow.script_engine.environment.evaluate(accept_if, context))
    except Exception as exc:  # noqa: BLE001 - a payload without the key is a refusal, not an incident
        logger.info("message %s refused by its accept_if (%s: %s)", name, type(exc).__name__, exc)
        return False


def _catch_message(runtime: InstanceRuntime, name: str, payload: Any) -> bool:
    """Let the waiting tasks catch the message; its payload goes under the catching event's id.

    The payload is written after SpiffWorkflow has caught the event, not before: catching
    updates the task, and an update merges the parent's data into the task's (the parent's
    values win). In a loop the parent still holds the previous round's payload under the same
    id, so a payload written first was overwritten by the previous one (and, being the event's
    own dict, changed in place). A copy is written, so the event and the data never share it.
    """
    definition, catchers = _message_catchers(runtime, name)
    if definition is None:
        return False
    runtime.workflow.catch(BpmnEvent(definition, copy.deepcopy(payload)))
    for task, catcher_id in catchers:
        if task.state != TaskState.WAITING:  # caught: READY now, runs in the engine steps
            task.data[catcher_id] = copy.deepcopy(payload)
    return True


def deliver_message(
    *, tenant: Tenant, name: str, correlation_key: str, payload: Any = None, projector: Projector | None = None,
    accept_if: str | None = None,
) -> int:
    """Deliver a BPMN message to the tenant's instances waiting for it under that key.

    The key is the instance's business key or its case number. Returns how many
    instances caught it (0: nobody is waiting, the caller decides what that means).
    Each instance catches it in a transaction of its own. With `accept_if` (the procedure's
    manifest), an instance whose data and the payload do not satisfy it refuses the message:
    Conflict `message_not_correlated`, nothing changed.
    """
    candidates = list(
        WorkflowInstance.objects.for_tenant(tenant)
        .filter(status=InstanceStatus.RUNNING)
        .filter(Q(business_key=correlation_key) | Q(case_number=correlation_key))
        .values_list("pk", flat=True)
    )

    def deliver_to(pk: int) -> bool:
        instance = lock_instance(pk, filters={"status": InstanceStatus.RUNNING})
        if instance is None:
            return False  # finished or cancelled since we looked
        runtime = InstanceRuntime.load_or_incident(instance, projector=projector)
        if runtime is None:
            return False
        before = runtime.ready_user_task_ids()
        if accept_if and not _message_accepted(runtime, name, payload, accept_if):
            raise Conflict(
                _("Il messaggio «%(m)s» non corrisponde a questa pratica: non è stato accettato.") % {"m": name[:100]},
                code="message_not_correlated",
            )
        if not _catch_message(runtime, name, payload):
            return False
        runtime.advance(event="message", detail={"message": name}, previous_ready_ids=before)
        return True

    caught = 0
    for pk in candidates:
        caught += run_in_transaction(functools.partial(deliver_to, pk), what=f"message {name} to instance {pk}")
    return caught


def incident_retry(
    *, incident_id: int, tenant: Tenant, actor_username: str, projector: Projector | None = None
) -> StepResult | None:
    """Retry what failed: the errored script step, or the service call from scratch."""

    def retry() -> StepResult | None:
        instance_id = (
            Incident.objects.for_tenant(tenant).filter(pk=incident_id).values_list("instance_id", flat=True).first()
        )
        if instance_id is None:
            raise NotFound(_("Incidente non trovato."))
        instance = lock_instance_or_404(instance_id)
        incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
        if incident is None:
            raise NotFound(_("Incidente non trovato."))
        if incident.status != IncidentStatus.OPEN:
            raise Conflict(_("L'incidente è già stato risolto."), code="already_resolved")
        now = clock.now()
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now
        incident.save(update_fields=["status", "resolved_at"])
        if incident.outbox_id:
            outbox_id = incident.outbox_id
            OutboxMessage.objects.filter(pk=outbox_id).update(
                status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now, locked_until=None
            )
            transaction.on_commit(lambda: dispatch_outbox([outbox_id]))
            return None
        runtime = InstanceRuntime.load(instance, projector=projector)
        retry_errored_tasks(runtime.workflow)
        return runtime.advance(event="retry", actor_username=actor_username)

    return run_in_transaction(retry, what=f"retry of incident {incident_id}")


def _failed_task(runtime: InstanceRuntime, incident: Incident):
    task = runtime.find_task(incident.task_id) if incident.task_id else None
    if task is None or task.state not in (TaskState.READY, TaskState.ERROR):
        return None
    return task


def incident_send_back(
    *, incident_id: int, tenant: Tenant, actor_username: str, target: str, reason: str,
    projector: Projector | None = None,
) -> StepResult:
    """Send a case whose step failed on its data back to the user task that produced that data.

    The token moves back to `target` (a completed user task the failed step descends from): what
    came after it is dropped, the task opens again with the data it was completed with (kept for
    correction under its id, and `<target>_sent_back` says why), and when it is completed the steps
    after it run again on the current data. Refused when the failure may have reached the platform
    (a call that ran out of retries: only "Riprova", with the same idempotency key, is safe), when
    a service call after `target` already completed (it would be made twice: e.g. a second ANPR
    registration), or while a call after it is running.
    """

    def send_back() -> StepResult:
        instance_id = (
            Incident.objects.for_tenant(tenant).filter(pk=incident_id).values_list("instance_id", flat=True).first()
        )
        if instance_id is None:
            raise NotFound(_("Incidente non trovato."))
        instance = lock_instance_or_404(instance_id)
        incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
        if incident is None:
            raise NotFound(_("Incidente non trovato."))
        if incident.status != IncidentStatus.OPEN:
            raise Conflict(_("L'incidente è già stato risolto."), code="already_resolved")
        if not incident.data_error:
            raise Conflict(_("Questo incidente non dipende dai dati della pratica (il servizio non ha risposto): "
                             "usa «Riprova»."), code="not_a_data_error")
        runtime = InstanceRuntime.load(instance, projector=projector)
        failed = _failed_task(runtime, incident)
        if failed is None:
            raise Conflict(_("Il passo non riuscito non è più in attesa."), code="not_waiting")
        upstream: dict[str, tuple[Any, Any]] = {}
        for candidate, join in upstream_user_tasks(failed):
            upstream.setdefault(candidate.task_spec.bpmn_id, (candidate, join))  # the nearest run of it
        if target not in upstream:
            raise Conflict(_("La pratica può tornare solo a un compito già svolto che precede il passo non riuscito."),
                           code="not_upstream")
        back_to, join = upstream[target]
        dropped = send_back_dropped(back_to, join)
        repeated = completed_service_tasks(dropped)
        if repeated:
            raise Conflict(
                _("Non si può tornare a «%(task)s»: l'operazione «%(op)s» è già stata eseguita dopo quel compito "
                  "e verrebbe ripetuta.") % {"task": back_to.task_spec.bpmn_name or target,
                                            "op": repeated[0].task_spec.bpmn_name or repeated[0].task_spec.bpmn_id},
                code="would_repeat_service")
        dropped_ids = [str(t.id) for t in dropped]
        calls = OutboxMessage.objects.filter(instance=instance, task_id__in=dropped_ids)
        if calls.filter(status=OutboxStatus.RUNNING).exists():
            raise Conflict(_("Un servizio della pratica è in esecuzione: riprova tra poco."), code="service_running")
        now = clock.now()
        calls.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.FAILED]).update(
            status=OutboxStatus.CANCELLED, updated_at=now)
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = now
        incident.save(update_fields=["status", "resolved_at"])
        Incident.objects.filter(instance=instance, status=IncidentStatus.OPEN, task_id__in=dropped_ids).update(
            status=IncidentStatus.RESOLVED, resolved_at=now)
        before = runtime.ready_user_task_ids()
        data = dict(back_to.parent.data)
        data[target] = back_to.data.get(target)  # what was entered, to correct
        data[f"{target}_sent_back"] = {"reason": reason[:2000], "by": actor_username, "at": now.isoformat(),
                                       "incident": incident.pk, "failed_step": incident.task_bpmn_id}
        spiff_send_back(runtime.workflow, back_to, join, data)
        return runtime.advance(event="sent_back", actor_username=actor_username, previous_ready_ids=before,
                               detail={"incident": incident.pk, "target": target, "reason": reason[:2000]})

    return run_in_transaction(send_back, what=f"send-back of incident {incident_id}")
