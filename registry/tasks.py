"""Celery tasks of the register: thin, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="registry.tasks.send_anpr_notifications_task")
def send_anpr_notifications_task() -> dict[str, int]:
    from .anpr_sender import send_pending

    return send_pending()
