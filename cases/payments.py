"""A case's pagoPA notices once the case has ended (glue between cases and the pagoPA connector).

A case that ends before its notice is paid (cancelled by the office, lapsed because the term to
pay expired, rejected) must not leave a notice that the citizen can still pay: GPD does not expire
our positions (`switchToExpired` false), so each unpaid position of the case is invalidated on
pagoPA through the outbox (`pagopa.invalidate_debt_position`, once per position, retried like any
service call, an incident on the case if pagoPA keeps refusing). A payment that still arrives for
an ended case (paid at the PSP a moment before the invalidation) is reported on the payments page
(`DebtPosition.unmatched_at`), never delivered and never lost.
"""

from __future__ import annotations

import functools
import logging

from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from audit.services import audit_record
from connectors.pagopa.models import DebtPosition
from engine.models import WorkflowInstance
from engine.services import outbox_enqueue_detached

logger = logging.getLogger(__name__)

INVALIDATE_OPERATION = "pagopa.invalidate_debt_position"
# GPD statuses in which a position can no longer be paid.
CLOSED_STATUSES = ("INVALID", "EXPIRED", "PAID", "REPORTED")


def open_positions_of(case_id: int):
    """The case's positions nobody has paid nor invalidated yet (any status GPD may still let pay)."""
    return DebtPosition.objects.filter(case_id=case_id, paid_at__isnull=True, invalidated_at__isnull=True).exclude(
        Q(status__in=CLOSED_STATUSES)
    )


@functools.cache
def _open_positions_sql() -> str:
    q = connection.ops.quote_name
    return (
        f"EXISTS (SELECT 1 FROM {q(DebtPosition._meta.db_table)} p WHERE p.{q('case_id')} = {{case_id}} "
        f"AND p.{q('paid_at')} IS NULL AND p.{q('invalidated_at')} IS NULL "
        f"AND NOT (p.{q('status')} IN ({', '.join(['%s'] * len(CLOSED_STATUSES))})))"
    )


def open_positions_exist_sql(case_id_sql: str) -> tuple[str, tuple[str, ...]]:
    """`open_positions_of(case).exists()` as SQL (with its parameters) over `case_id_sql`, for a statement
    the projection runs anyway (cases.projection: the case row's UPDATE asks it of the case that ends)."""
    return _open_positions_sql().replace("{case_id}", case_id_sql), CLOSED_STATUSES


def queue_invalidations(instance: WorkflowInstance, *, attempt: str = "") -> int:
    """Queue the invalidation of every unpaid position of the ended case; how many were queued.

    Runs in the step's transaction (the projection of the instance's end), so the calls are
    queued exactly when the case ends; the key (position id, plus `attempt` for a person asking
    again from the payments page) makes a repeated end or a repeated click queue nothing twice."""
    if instance.case_id is None:
        return 0
    queued = 0
    for position in open_positions_of(instance.case_id).only("pk", "iupd"):
        key = f"pagopa-invalidate-{position.pk}" + (f"-{attempt}" if attempt else "")
        if outbox_enqueue_detached(instance_id=instance.pk, operation=INVALIDATE_OPERATION,
                                   params={"iupd": position.iupd}, key=key) is not None:
            queued += 1
    if queued:
        logger.info("case %s ended: %s pagoPA position(s) to invalidate", instance.case_number, queued)
    return queued


def report_unmatched(*, tenant, case, paid: dict) -> bool:
    """A payment for a case that has ended: kept for the office, recorded in the case history."""
    from connectors.pagopa.payments import report_unmatched_payment

    with transaction.atomic():
        if not report_unmatched_payment(position_id=paid["position_id"]):
            return False
        audit_record(
            tenant=tenant, actor=None, action="system", object_type="case", object_id=str(case.pk),
            object_repr=case.number,
            summary=_("Pagamento pagoPA ricevuto dopo la chiusura della pratica (avviso %(n)s): "
                      "da verificare nella pagina Pagamenti") % {"n": paid["notice_number"]},
            extra={"payment_unmatched": {"iuv": paid["iuv"], "notice_number": paid["notice_number"],
                                         "amount_cents": paid["amount_cents"], "paid_at": paid["paid_at"]}},
        )
    logger.warning("payment %s arrived for ended case %s: reported", paid["iuv"], paid["case_number"])
    return True
