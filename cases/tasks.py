"""Periodic glue between connectors and cases (connectors know nothing of cases)."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

from accounts.models import Tenant
from common import clock
from engine.services import deliver_message

from .models import Case, CaseStatus
from .payments import report_unmatched
from .projection import project

logger = logging.getLogger(__name__)

# The BPMN message a procedure waits on after creating a pagoPA debt position.
PAYMENT_RECEIVED = "pagamento_ricevuto"


def deliver_payments() -> int:
    """Tell every waiting case that its pagoPA position was paid; at-least-once, idempotent.

    A payment is acknowledged only once a case caught it: a case that has not reached
    its wait yet gets it on a later poll instead of losing it; one whose case has ended
    (cancelled, lapsed) is reported on the payments page instead (cases.payments).
    """
    from connectors.pagopa.payments import acknowledge_paid_position, poll_paid_positions

    delivered = 0
    for paid in poll_paid_positions():
        if not paid.get("case_number"):
            acknowledge_paid_position(position_id=paid["position_id"])  # not tied to a case
            continue
        tenant = Tenant.objects.filter(pk=paid["tenant_id"]).first()
        if tenant is None:
            continue
        caught = deliver_message(
            tenant=tenant, name=PAYMENT_RECEIVED, correlation_key=paid["case_number"],
            payload={"notice_number": paid["notice_number"], "iuv": paid["iuv"], "paid_at": paid["paid_at"],
                     "amount_cents": paid["amount_cents"]},
            projector=project,
        )
        if caught:
            acknowledge_paid_position(position_id=paid["position_id"])
            delivered += caught
            continue
        case = Case.objects.filter(tenant=tenant, pk=paid["case_id"]).first() if paid.get("case_id") else None
        if case is not None and case.status != CaseStatus.OPEN:
            # The case ended before the payment arrived: reported for the office, not lost.
            report_unmatched(tenant=tenant, case=case, paid=paid)
        else:
            logger.info("payment %s for case %s: no case waiting yet", paid["iuv"], paid["case_number"])
    return delivered


@shared_task(name="cases.tasks.deliver_payments_task")
def deliver_payments_task() -> int:
    return deliver_payments()


# ANPR citizen-portal request types that open a case (DOMAIN.md §4): 1 correction, 2 residence
# declaration, 4 EU-citizen transfer.
ANPR_REQUEST_TYPES = ("1", "2", "4")
ANPR_POLL_DAYS = 30
ANPR_CITIZEN_REQUEST_PROCESS = "anpr_citizen_request"


def poll_anpr_citizen_requests() -> int:
    """For each active tenant, list the citizen requests ANPR holds for it (P001) and open an
    `anpr_citizen_request` case for each one not seen before. Returns the cases opened.

    Idempotent: the business key is the ANPR request code, and a code already known gives
    back its case (`case_start_from_platform`). A tenant whose ANPR call fails is logged and
    skipped; the next poll tries again.
    """
    from common.errors import ProcedoError
    from connectors.anpr.client import client_for, soap_operation_id
    from connectors.anpr.operations import list_citizen_requests

    from .services import case_start_from_platform

    today = clock.today()
    opened = 0
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        try:
            client = client_for(tenant, tenant.istat_code)
            found = []
            for kind in ANPR_REQUEST_TYPES:
                found += list_citizen_requests(
                    client, date_from=today - dt.timedelta(days=ANPR_POLL_DAYS), date_to=today, request_type=kind,
                    operation_id=soap_operation_id(f"p001:{tenant.pk}:{kind}:{clock.now().isoformat()}"),
                )
        except ProcedoError as exc:
            logger.warning("ANPR P001 poll failed for tenant %s: %s", tenant.istat_code, exc)
            continue
        for request in found:
            code = request["request_code"]
            data = {
                "request_code": code,
                "request_type": request["type"],
                "opened_at": request["opened_at"],
                "declarants": [{"fiscal_code": request["fiscal_code"], "given_name": "", "family_name": ""}]
                if request["fiscal_code"] else [],
            }
            try:
                _case, created = case_start_from_platform(
                    tenant=tenant, process_id=ANPR_CITIZEN_REQUEST_PROCESS, data=data, business_key=f"ANPR-{code}",
                    source="ANPR (portale del cittadino)",
                )
            except ProcedoError as exc:  # a request ANPR listed with data the start schema refuses
                logger.warning("ANPR request %s of tenant %s not opened: %s", code, tenant.istat_code, exc)
                continue
            opened += int(created)
    return opened


@shared_task(name="cases.tasks.poll_anpr_citizen_requests_task")
def poll_anpr_citizen_requests_task() -> int:
    return poll_anpr_citizen_requests()


def poll_notice_deliveries() -> int:
    """Delivery dates of the notices sent to citizens (App IO, SEND), back to their cases."""
    from .notices import notice_deliveries_poll

    return notice_deliveries_poll()


@shared_task(name="cases.tasks.poll_notice_deliveries_task")
def poll_notice_deliveries_task() -> int:
    return poll_notice_deliveries()
