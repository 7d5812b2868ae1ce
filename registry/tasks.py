"""Celery tasks of the register: thin, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="registry.tasks.send_anpr_notifications_task")
def send_anpr_notifications_task() -> dict[str, int]:
    from .anpr_sender import send_pending

    return send_pending()


@shared_task(name="registry.tasks.counter_certificates_paid_task")
def counter_certificates_paid_task() -> int:
    """Counter certificates whose pagoPA stamp duty was paid after the citizen left (payments poller)."""
    from .certificates.payments import counter_payments_paid_issue

    return counter_payments_paid_issue()


@shared_task(name="registry.tasks.registry_import_task", acks_late=True)
def registry_import_task(tenant_id: int, folder: str, commit: bool, batch_size: int, anpr_sample: int,
                         started_by: str) -> int:
    """A long legacy import in a worker: the run row records its phase and batches as it goes
    (the page /anagrafe/importazioni/<n>/ polls it); run again after a crash, it resumes."""
    from pathlib import Path

    from accounts.models import Tenant

    from .legacy.importer import import_run

    tenant = Tenant.objects.get(pk=tenant_id)
    run = import_run(tenant=tenant, folder=Path(folder), commit=commit, batch_size=batch_size,
                     anpr_sample=anpr_sample, started_by=started_by)
    return run.pk
