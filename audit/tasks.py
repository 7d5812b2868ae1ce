"""Background work of the audit trail."""

from __future__ import annotations

from celery import shared_task

from .services import audit_seal_chains


@shared_task(name="audit.tasks.seal_audit_chains_task")
def seal_audit_chains_task() -> int:
    """Beat, every PROCEDO_AUDIT_SEAL_INTERVAL minutes: seal each chain's head."""
    return len(audit_seal_chains())
