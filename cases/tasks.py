"""Periodic glue between connectors and cases (connectors know nothing of cases)."""

from __future__ import annotations

import logging

from celery import shared_task

from accounts.models import Tenant
from engine.services import deliver_message

logger = logging.getLogger(__name__)

# The BPMN message a procedure waits on after creating a pagoPA debt position.
PAYMENT_RECEIVED = "pagamento_ricevuto"


def deliver_payments() -> int:
    """Tell every waiting case that its pagoPA position was paid; at-least-once, idempotent.

    A payment is acknowledged only once a case caught it: a case that has not reached
    its wait yet gets it on a later poll instead of losing it.
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
        )
        if caught:
            acknowledge_paid_position(position_id=paid["position_id"])
            delivered += caught
        else:
            logger.info("payment %s for case %s: no case waiting yet", paid["iuv"], paid["case_number"])
    return delivered


@shared_task(name="cases.tasks.deliver_payments_task")
def deliver_payments_task() -> int:
    return deliver_payments()
