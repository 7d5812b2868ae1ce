"""Which Celery queue a task goes to (CELERY_TASK_ROUTES).

- `documents`: LibreOffice-heavy work (an outbox delivery of a `documents.*` operation: render,
  convert to PDF/A, sign), run by workers sized for it;
- `connectors`: outbox deliveries to the national platforms, the outbox sweep and the periodic
  polls of the platforms, all of which wait on other people's servers;
- `engine`: timers and engine steps, short database work that must never queue behind a slow
  platform;
- `default`: everything else (audit seals, ...).

The queue of an outbox delivery depends on its operation, read from its row when the task is
queued (after the case's commit, so the row is there).
"""

from __future__ import annotations

from typing import Any

DOCUMENTS = "documents"
CONNECTORS = "connectors"
ENGINE = "engine"
DEFAULT = "default"

OUTBOX_DELIVERY_TASK = "engine.tasks.deliver_outbox_task"
# A message the sweep claimed and sends on to the queue that serves its operation.
OUTBOX_CLAIMED_TASK = "engine.tasks.deliver_claimed_outbox_task"

_BY_NAME = {
    "engine.tasks.fire_due_timers_task": ENGINE,
    # The sweep performs the due platform calls itself (engine.outbox.outbox_deliver_due), so it waits
    # on the platforms like any delivery: it belongs with them, not in front of the timers. A due
    # document render it claims is sent to the documents queue instead (engine.tasks).
    "engine.tasks.deliver_due_outbox_task": CONNECTORS,
    "cases.tasks.deliver_payments_task": CONNECTORS,
    "cases.tasks.poll_anpr_citizen_requests_task": CONNECTORS,
    "cases.tasks.poll_notice_deliveries_task": CONNECTORS,
    "audit.tasks.seal_audit_chains_task": DEFAULT,
    # A studio scenario run: minutes in a sandbox child process that renders deeds with LibreOffice.
    "studio.scenarios.scenario_run_task": DOCUMENTS,
}
# Operation prefixes whose delivery needs the documents workers (LibreOffice, signing keys).
DOCUMENT_OPERATION_PREFIXES = ("documents.",)


def queue_for_operation(operation: str) -> str:
    return DOCUMENTS if operation.startswith(DOCUMENT_OPERATION_PREFIXES) else CONNECTORS


def _outbox_operation(args: Any, kwargs: Any) -> str:
    message_id = (kwargs or {}).get("message_id")
    if message_id is None and args:
        message_id = args[0]
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        return ""
    from engine.models import OutboxMessage

    return OutboxMessage.objects.filter(pk=message_id).values_list("operation", flat=True).first() or ""


def route_task(name: str, args: Any = None, kwargs: Any = None, options: Any = None, task: Any = None,
               **kw: Any) -> dict[str, str] | None:
    if name in (OUTBOX_DELIVERY_TASK, OUTBOX_CLAIMED_TASK):
        return {"queue": queue_for_operation(_outbox_operation(args, kwargs))}
    if name in _BY_NAME:
        return {"queue": _BY_NAME[name]}
    if name.startswith("documents."):
        return {"queue": DOCUMENTS}
    if name.startswith("connectors."):
        return {"queue": CONNECTORS}
    if name.startswith("engine."):
        return {"queue": ENGINE}
    return None  # CELERY_TASK_DEFAULT_QUEUE
