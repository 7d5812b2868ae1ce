"""Service calls decided inside a case transaction, performed later by a worker.

`outbox_deliver` claims a message (a conditional UPDATE of that one row, no other lock held),
calls the operation outside any transaction, then feeds the result back in a transaction of
its own that takes the locks in the order of `engine.locks`: instance, then the message.
Every step may run twice: a message that is no longer RUNNING when the result arrives is left
alone. The projector of these engine-initiated steps is the configured one
(`engine.runtime.resolve_projector`).
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _
from SpiffWorkflow.util.task import TaskState

from common import clock
from common.errors import ProcedoError
from common.operations import OperationContext, PermanentError, get_operation, result_effects

from .locks import lock_instance, run_in_transaction
from .models import Incident, IncidentStatus, OutboxMessage, OutboxStatus, WorkflowInstance
from .runtime import InstanceRuntime, dispatch_outbox, open_incident, project_incident
from .spiff import OutboxServiceTask

logger = logging.getLogger(__name__)


def _backoff(attempts: int) -> dt.timedelta:
    base = getattr(settings, "PROCEDO_OUTBOX_BACKOFF_SECONDS", 10)
    return dt.timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), 3600))


def _outbox_lease() -> dt.timedelta:
    # Longer than a delivery may take (the Celery hard time limit), so a lease only
    # expires when the worker holding it is gone.
    return dt.timedelta(seconds=getattr(settings, "PROCEDO_OUTBOX_LEASE_SECONDS", 300))


def _lock_running(message: OutboxMessage):
    """Locks in order (instance, then the message) and the message if it is still RUNNING."""
    instance = lock_instance(message.instance_id)
    if instance is None:
        return None, None
    current = OutboxMessage.objects.select_for_update().filter(pk=message.pk).first()
    if current is None or current.status != OutboxStatus.RUNNING:
        return instance, None  # cancelled meanwhile, or settled by another worker
    return instance, current


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
    message = OutboxMessage.objects.filter(pk=message_id, status=OutboxStatus.RUNNING, locked_until__lt=now,
                                           attempts__gte=max_attempts).first()
    if message is None:
        return

    def give_up() -> None:
        instance, current = _lock_running(message)
        if current is None or current.locked_until is None or current.locked_until >= now:
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
        incident = open_incident(instance, kind="service_failed", message=text, details=details, outbox=current)
        if incident is not None:
            project_incident(instance, incident)

    run_in_transaction(give_up, what=f"outbox {message_id} give up")


def outbox_deliver(message_id: int) -> str:
    """Perform one outbox call and feed its result back. Safe to run twice."""
    message = outbox_claim(message_id)
    if message is None:
        return "skipped"
    return _perform(message)


def outbox_deliver_claimed(message_id: int) -> str:
    """Perform a call the sweep already claimed (and sent to its own queue): only while that
    claim's lease runs; an expired lease means the sweep may claim it again, so do nothing."""
    message = (OutboxMessage.objects.select_related("tenant")
               .filter(pk=message_id, status=OutboxStatus.RUNNING, locked_until__gt=clock.now()).first())
    if message is None:
        return "skipped"
    return _perform(message)


def _perform(message: OutboxMessage) -> str:
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
            raise PermanentError(_("Operazione sconosciuta: %(op)s") % {"op": message.operation})
        result = operation(message.params, ctx)
    except SoftTimeLimitExceeded as exc:
        # The task's time is up: record the attempt, then let the task end (a sweep must not
        # go on delivering other messages on borrowed time until the hard limit kills it).
        outbox_failed(message, exc)
        raise
    except Exception as exc:
        return outbox_failed(message, exc)
    return outbox_succeeded(message, result, ctx=ctx)


def outbox_enqueue_detached(*, instance_id: int, operation: str, params: dict[str, Any], key: str) -> OutboxMessage | None:
    """Queue a service call no task waits for (clean-up once a case has ended, e.g. invalidating
    its unpaid pagoPA notice): delivered, retried and given up like any other call, its failure an
    incident on the case; its result is only kept on the row. `key` makes it once per purpose: a
    second call with the same key queues nothing (None). Caller holds the transaction; the sweep
    (or the dispatch after commit) delivers it."""
    tenant_id = WorkflowInstance.objects.filter(pk=instance_id).values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        return None
    now = clock.now()
    message, created = OutboxMessage.objects.get_or_create(
        idempotency_key=f"detached-{key}"[:100],
        defaults={"tenant_id": tenant_id, "instance_id": instance_id, "task_id": "", "task_bpmn_id": "",
                  "operation": operation, "params": params, "next_attempt_at": now, "created_at": now,
                  "updated_at": now},
    )
    if not created:
        return None
    transaction.on_commit(lambda: dispatch_outbox([message.pk]))
    return message


def _apply_result_effects(message: OutboxMessage, result: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """Run the effects other apps registered for this operation, each in a savepoint of the case's
    transaction; returns the result with their reports under `effects` (common.operations)."""
    effects = result_effects(message.operation)
    if not effects or not isinstance(result, dict):
        return result
    reports: dict[str, Any] = {}
    for name, effect in effects.items():
        try:
            with transaction.atomic():
                reports[name] = effect(message.params, result, ctx)
        except ProcedoError as exc:
            logger.warning("outbox %s: effect %s not applied: %s", message.pk, name, exc)
            reports[name] = {"applied": False, "code": getattr(exc, "code", "error"), "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - reported on the case, logged; the platform's answer stands
            logger.exception("outbox %s: effect %s failed", message.pk, name)
            reports[name] = {"applied": False, "code": "effect_failed", "message": exc.__class__.__name__}
    return {**result, "effects": reports}


def outbox_succeeded(message: OutboxMessage, result: dict[str, Any], *, ctx: OperationContext | None = None) -> str:
    """Feed a service call's result back to its case (the service task completes)."""

    def feed_back() -> str:
        instance, current = _lock_running(message)
        if current is None:
            return "skipped"  # cancelled meanwhile, or delivered by another worker
        now = clock.now()
        current.status = OutboxStatus.DONE
        current.result = result
        current.locked_until = None
        current.updated_at = now
        current.save(update_fields=["status", "result", "locked_until", "updated_at"])
        if not message.task_id:  # a detached call (outbox_enqueue_detached): no task to complete
            Incident.objects.filter(outbox=current, status=IncidentStatus.OPEN).update(
                status=IncidentStatus.RESOLVED, resolved_at=now
            )
            return "done"
        runtime = InstanceRuntime.load_or_incident(instance)
        if runtime is None:
            return "stale"  # the result stays on the outbox row; the incident says why
        task = runtime.find_task(message.task_id)
        if task is None or task.state != TaskState.READY:
            logger.warning("outbox %s: task %s no longer ready; result kept", message.pk, message.task_id)
            return "stale"
        before = runtime.ready_user_task_ids()
        context = ctx or OperationContext(
            tenant_id=message.tenant_id, tenant_istat=instance.tenant.istat_code,
            idempotency_key=message.idempotency_key, case_id=instance.case_id,
            case_number=instance.case_number or None, attempt=current.attempts)
        task.internal_data[OutboxServiceTask.RESULT_KEY] = _apply_result_effects(current, result, context)
        task.run()
        Incident.objects.filter(outbox=current, status=IncidentStatus.OPEN).update(
            status=IncidentStatus.RESOLVED, resolved_at=now
        )
        runtime.advance(event="service_result", detail={"operation": message.operation}, previous_ready_ids=before)
        return "done"

    return run_in_transaction(feed_back, what=f"outbox {message.pk} result")


def outbox_failed(message: OutboxMessage, exc: BaseException) -> str:
    """Record a failed attempt: back off and retry later, or give up with an incident."""
    retryable = getattr(exc, "retryable", True)
    max_attempts = getattr(settings, "PROCEDO_OUTBOX_MAX_ATTEMPTS", 5)
    text = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    logger.warning("outbox %s %s attempt %s failed: %s", message.pk, message.operation, message.attempts, text)

    def record() -> str:
        now = clock.now()
        instance, current = _lock_running(message)
        if current is None:
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
        incident = open_incident(
            instance,
            kind="service_failed",
            message=_("Il servizio «%(op)s» non ha risposto correttamente dopo %(n)s tentativi: %(error)s")
            % {"op": message.operation, "n": current.attempts, "error": text},
            details="".join(traceback.format_exception(exc)),
            outbox=current,
            # Refused for good (the platform or our check said the data is wrong): nothing was applied,
            # so the case may go back to correct its data. A call that ran out of retries may have been
            # applied (a lost answer): only the same call again (same idempotency key) is safe.
            data_error=not retryable,
        )
        if incident is not None:
            project_incident(instance, incident)
        return "failed"

    return run_in_transaction(record, what=f"outbox {message.pk} failure")


def outbox_due_ids(*, limit: int = 500) -> list[int]:
    now = clock.now()
    return list(
        OutboxMessage.objects.filter(next_attempt_at__lte=now)
        .filter(Q(status=OutboxStatus.PENDING) | Q(status=OutboxStatus.RUNNING, locked_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def outbox_deliver_due(*, limit: int = 500, dispatch: Callable[[OutboxMessage], bool] | None = None) -> dict[str, int]:
    """Deliver every due message now (the periodic sweep; tests call it to drain).

    `dispatch` (the Celery sweep passes one) may take a claimed message and send it to another
    queue instead of performing it here: the sweep runs on the connectors workers, and a
    document render retried by it must still run on the documents workers. A dispatched message
    is claimed first (lease and attempt counted), so the next sweep leaves it alone while it waits
    in its queue, and claims it again only if its lease expires (the worker holding it was lost).
    """
    counts: dict[str, int] = {}
    for pk in outbox_due_ids(limit=limit):
        if dispatch is None:
            outcome = outbox_deliver(pk)
        else:
            message = outbox_claim(pk)
            if message is None:
                outcome = "skipped"
            elif dispatch(message):
                outcome = "dispatched"
            else:
                outcome = _perform(message)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
