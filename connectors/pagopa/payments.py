"""Finding positions that citizens have paid, for the engine's "payment received" message.

A payment for a case that has already ended (cancelled, lapsed) is reported instead
(`report_unmatched_payment`): listed for the office, not delivered, not lost.

Delivery is at-least-once: `poll_paid_positions()` returns every paid position
not yet acknowledged (newly paid ones included), and the engine calls
`acknowledge_paid_position()` once the message reached the case. The message
correlation on the case side must therefore ignore a duplicate.
"""

from __future__ import annotations

import logging
from typing import Any

from common import clock
from common.operations import ConnectorError

from .client import GpdClient
from .models import DebtPosition
from .service import PAID_STATUSES, _parse_ts, receipt_fields

logger = logging.getLogger(__name__)

OPEN_STATUSES = ("VALID", "PUBLISHED", "PARTIALLY_PAID")


def poll_paid_positions(*, limit: int = 500) -> list[dict[str, Any]]:
    clients: dict[int, Any] = {}
    open_positions = DebtPosition.objects.filter(paid_at__isnull=True, status__in=OPEN_STATUSES).order_by("pk")
    for position in open_positions[:limit]:
        try:
            if position.tenant_id not in clients:
                clients[position.tenant_id] = GpdClient.from_config(position.tenant_id)
            remote = clients[position.tenant_id].get_position(position.iupd)
        except ConnectorError as exc:
            # One tenant's platform trouble must not stop the others: next poll retries.
            logger.warning("pagoPA poll failed for %s: %s", position.iupd, exc.message)
            continue
        if remote is None:
            continue
        status = remote.get("status", position.status)
        updates: dict[str, Any] = {"status": status}
        if status in PAID_STATUSES:
            updates["paid_at"] = _parse_ts(remote.get("paymentDate")) or clock.now()
            updates.update(receipt_fields(remote))
        DebtPosition.objects.filter(pk=position.pk, paid_at__isnull=True).update(**updates)
    return [
        {
            "position_id": p.pk,
            "tenant_id": p.tenant_id,
            "case_id": p.case_id,
            "case_number": p.case_number,
            "idempotency_key": p.idempotency_key,
            "iupd": p.iupd,
            "iuv": p.iuv,
            "notice_number": p.notice_number,
            "amount_cents": p.amount_cents,
            "paid_at": p.paid_at.isoformat() if p.paid_at else None,
        }
        for p in DebtPosition.objects.filter(paid_at__isnull=False, paid_delivered_at__isnull=True,
                                             unmatched_at__isnull=True).order_by("pk")
    ]


def acknowledge_paid_position(*, position_id: int) -> bool:
    """Mark the "payment received" message as delivered; True the first time only."""
    return bool(
        DebtPosition.objects.filter(pk=position_id, paid_delivered_at__isnull=True).update(paid_delivered_at=clock.now())
    )


def report_unmatched_payment(*, position_id: int) -> bool:
    """A payment whose case had already ended: kept, never delivered, listed for the office
    (payments page, "pagamenti da verificare"). True the first time only."""
    return bool(
        DebtPosition.objects.filter(pk=position_id, paid_delivered_at__isnull=True, unmatched_at__isnull=True)
        .update(unmatched_at=clock.now())
    )
