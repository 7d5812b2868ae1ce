"""Celery tasks: thin, take ids, call a service. Every one may run twice safely."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="engine.tasks.deliver_outbox_task", acks_late=True)
def deliver_outbox_task(message_id: int) -> str:
    return services.outbox_deliver(message_id)


@shared_task(name="engine.tasks.deliver_due_outbox_task")
def deliver_due_outbox_task() -> dict[str, int]:
    return services.outbox_deliver_due()


@shared_task(name="engine.tasks.fire_due_timers_task")
def fire_due_timers_task() -> int:
    return services.fire_due_timers()
