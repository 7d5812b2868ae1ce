"""Background work of the notice board: thin, calls the service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="noticeboard.tasks.close_ended_publications_task", ignore_result=True)
def close_ended_publications_task() -> dict[str, int]:
    """Sign the publication report of every publication that ended (beat, every 15 minutes)."""
    from .services import publications_close_ended

    return publications_close_ended()
