"""Beat job of the accounts app: thin, a service that may run twice."""

from __future__ import annotations

from celery import shared_task

from . import idempotency


@shared_task(name="accounts.tasks.prune_idempotency_records_task", ignore_result=True)
def prune_idempotency_records_task() -> int:
    """Idempotency records past PROCEDO_IDEMPOTENCY_TTL_HOURS no longer answer: delete them."""
    return idempotency.prune()
