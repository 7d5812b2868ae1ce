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
