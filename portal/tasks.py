"""Beat job of the citizen area: thin, each step a service that may run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


def portal_housekeeping() -> dict[str, int]:
    return {
        "protocolled": services.submissions_protocol_pending(),
        "certificates_issued": services.certificate_requests_paid_issue(),
        "milestones_notified": services.milestones_notify(),
        "drafts_purged": services.drafts_purge(),
    }


@shared_task(name="portal.tasks.portal_housekeeping_task")
def portal_housekeeping_task() -> dict[str, int]:
    return portal_housekeeping()
