"""Celery tasks: thin, take ids, call a service. Every one may run twice safely.

Steps started here (timers, outbox results) are projected by the configured
`PROCEDO_ENGINE_PROJECTOR` (see engine.runtime).
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="engine.tasks.deliver_outbox_task", acks_late=True)
def deliver_outbox_task(message_id: int) -> str:
    from .outbox import outbox_deliver

    return outbox_deliver(message_id)


@shared_task(name="engine.tasks.deliver_claimed_outbox_task", acks_late=True)
def deliver_claimed_outbox_task(message_id: int) -> str:
    from .outbox import outbox_deliver_claimed

    return outbox_deliver_claimed(message_id)


def _dispatch_to_own_queue(message) -> bool:
    """The sweep runs on the connectors queue: a message another queue serves goes there."""
    from config.celery_routes import CONNECTORS, queue_for_operation

    queue = queue_for_operation(message.operation)
    if queue == CONNECTORS:
        return False
    deliver_claimed_outbox_task.apply_async(args=[message.pk], queue=queue)
    return True


@shared_task(name="engine.tasks.deliver_due_outbox_task")
def deliver_due_outbox_task() -> dict[str, int]:
    from .outbox import outbox_deliver_due

    return outbox_deliver_due(dispatch=_dispatch_to_own_queue)


@shared_task(name="engine.tasks.fire_due_timers_task")
def fire_due_timers_task() -> int:
    from .timers import fire_due_timers

    return fire_due_timers()


@shared_task(name="engine.tasks.migration_batch_task", acks_late=True)
def migration_batch_task(batch_id: int) -> dict[str, int]:
    """Run a migration batch (engine.migration); a second delivery goes on where the first stopped."""
    from .migration import batch_run

    batch = batch_run(batch_id)
    return {"processed": batch.processed, "ok": batch.ok, "refused": batch.refused, "failed": batch.failed}
