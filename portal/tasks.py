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


@shared_task(name="portal.tasks.case_milestones_task", ignore_result=True)
def case_milestones_task(case_id: int) -> int:
    return services.case_milestones_notify(case_id=case_id)


def on_case_progressed(sender, *, case_id: int, tenant_id: int, **kwargs) -> None:
    """cases.signals.case_progressed: queue the milestone messages when an opted-in citizen is a subject
    of the case (one indexed query; most steps concern nobody who asked for messages)."""
    from cases.models import CaseSubject

    from .models import CitizenProfile

    codes = CaseSubject.objects.filter(tenant_id=tenant_id, case_id=case_id).values("fiscal_code")
    if not CitizenProfile.objects.filter(services.models_q_opted_in(), tenant_id=tenant_id,
                                         user__fiscal_code__in=codes).exists():
        return
    try:
        case_milestones_task.delay(case_id)
    except Exception:  # the broker down: the beat sweep (portal_housekeeping) tells them later
        logger.warning("milestone messages for case %s left to the beat sweep", case_id, exc_info=True)
