"""The ANPR sender: delivers the pending `AnprNotification` rows (today: deaths, ANPR 2001).

A death act records its notification in the same transaction that closes it (the transactional
outbox, `registry.civil_status.services`); this module sends it later through the ANPR connector
(`anpr.cancellazione_decesso`, SOAP over HTTP to ANPR or its simulator):

- a row is claimed with one conditional UPDATE (pending, due, not leased by another worker) that
  counts the attempt and leases it, so two workers never send it at the same time;
- the call is made outside any transaction; its idempotency key is the row's own
  (`anpr-notification-<id>`), from which the ANPR operation id derives, and the operation remembers
  its result: a retry after a lost answer gets ANPR's first answer back, never a second deletion;
- a temporary fault (network, 5xx, timeout) is retried with exponential back-off up to
  `PROCEDO_OUTBOX_MAX_ATTEMPTS`; a refusal (ANPR's error code and text) or the last failed attempt
  marks the row failed with the reason, audited, for the office to act on. Nothing is dropped.

Run by Celery beat every minute (`registry.tasks.send_anpr_notifications_task`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from audit.services import audit_record
from common import clock
from common.operations import OperationContext, get_operation

from . import codes
from .models import AnprNotification, AnprNotificationStatus, HouseholdMember

logger = logging.getLogger(__name__)

OPERATIONS = {"death": "anpr.cancellazione_decesso"}


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "PROCEDO_OUTBOX_LEASE_SECONDS", 300))


def _backoff(attempts: int) -> dt.timedelta:
    base = getattr(settings, "PROCEDO_OUTBOX_BACKOFF_SECONDS", 10)
    return dt.timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), 3600))


def _due() -> Q:
    now = clock.now()
    return (Q(status=AnprNotificationStatus.PENDING)
            & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            & (Q(locked_until__isnull=True) | Q(locked_until__lt=now)))


def notification_claim(notification_id: int) -> AnprNotification | None:
    """Take a due row for this worker (the claim counts the attempt). None: not ours to send."""
    now = clock.now()
    claimed = AnprNotification.objects.filter(_due(), pk=notification_id).update(
        locked_until=now + _lease(), attempts=F("attempts") + 1)
    if claimed != 1:
        return None
    return AnprNotification.objects.select_related("tenant", "person", "act").get(pk=notification_id)


def notification_params(notification: AnprNotification) -> dict[str, Any]:
    """What the ANPR operation needs, read from the register (the act and the person as recorded)."""
    person = notification.person
    payload = notification.payload or {}
    params: dict[str, Any] = {
        "person": {"fiscal_code": person.fiscal_code, "family_name": person.family_name,
                   "given_name": person.given_name, "sex": person.sex,
                   "birth_date": person.birth_date.isoformat() if person.birth_date else None},
        "death_date": payload.get("death_date") or (person.death_date.isoformat() if person.death_date else ""),
    }
    act = notification.act
    if act is not None and act.number is not None:
        params["act"] = {"year": act.year, "part": act.part, "series": act.series, "number": act.number,
                         "date": act.act_date.isoformat()}
    # Was the deceased the head of the household the death act took them out of?
    died = person.death_date
    params["head_of_household"] = bool(died) and HouseholdMember.objects.filter(
        person=person, left_on=died, relationship=codes.HEAD_OF_HOUSEHOLD).exists()
    return params


def notification_send(notification_id: int) -> str:
    """Send one notification: "sent", "retry", "failed" or "skipped" (not due, or another worker has it)."""
    notification = notification_claim(notification_id)
    if notification is None:
        return "skipped"
    operation = get_operation(OPERATIONS.get(notification.event, ""))
    ctx = OperationContext(tenant_id=notification.tenant_id, tenant_istat=notification.tenant.istat_code,
                           idempotency_key=f"anpr-notification-{notification.pk}", attempt=notification.attempts)
    try:
        if operation is None:
            raise LookupError(f"no ANPR operation for the event {notification.event!r}")
        result = operation(notification_params(notification), ctx)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row, none is lost
        return _failed(notification, exc)
    return _sent(notification, result)


def _sent(notification: AnprNotification, result: dict[str, Any]) -> str:
    now = clock.now()
    with transaction.atomic():
        updated = AnprNotification.objects.filter(pk=notification.pk, status=AnprNotificationStatus.PENDING).update(
            status=AnprNotificationStatus.SENT, sent_at=now, locked_until=None, last_error="",
            anpr_operation_ref=str(result.get("id_operazione_anpr") or "")[:60])
        if updated:
            audit_record(tenant=notification.tenant, actor=None, action="update", object_type="anpr_notification",
                         object_id=str(notification.pk), object_repr=str(notification.person),
                         summary=_("Comunicazione di morte inviata ad ANPR (operazione %(op)s)")
                         % {"op": result.get("id_operazione_anpr") or "-"},
                         after={"status": "sent", "anpr_operation": result.get("id_operazione_anpr")})
    return "sent"


def _failed(notification: AnprNotification, exc: BaseException) -> str:
    retryable = getattr(exc, "retryable", True) and not isinstance(exc, LookupError)
    text = (getattr(exc, "message", None) or str(exc) or exc.__class__.__name__)[:5000]
    max_attempts = getattr(settings, "PROCEDO_OUTBOX_MAX_ATTEMPTS", 5)
    now = clock.now()
    logger.warning("ANPR notification %s attempt %s failed: %s", notification.pk, notification.attempts, text)
    rows = AnprNotification.objects.filter(pk=notification.pk, status=AnprNotificationStatus.PENDING)
    if retryable and notification.attempts < max_attempts:
        rows.update(locked_until=None, last_error=text, next_attempt_at=now + _backoff(notification.attempts))
        return "retry"
    with transaction.atomic():
        if rows.update(status=AnprNotificationStatus.FAILED, locked_until=None, last_error=text):
            audit_record(tenant=notification.tenant, actor=None, action="update", object_type="anpr_notification",
                         object_id=str(notification.pk), object_repr=str(notification.person),
                         summary=_("Comunicazione di morte ad ANPR non riuscita: %(e)s") % {"e": text[:300]},
                         after={"status": "failed", "attempts": notification.attempts})
    return "failed"


def notification_retry(*, notification: AnprNotification, actor, ip: str | None = None) -> None:
    """Put a failed notification back in the queue (after the office fixed the cause)."""
    with transaction.atomic():
        if AnprNotification.objects.filter(pk=notification.pk, status=AnprNotificationStatus.FAILED).update(
                status=AnprNotificationStatus.PENDING, attempts=0, next_attempt_at=None, locked_until=None):
            audit_record(tenant=notification.tenant, actor=actor, action="update", object_type="anpr_notification",
                         object_id=str(notification.pk), object_repr=str(notification.person),
                         summary=_("Comunicazione ad ANPR rimessa in coda"), ip=ip)


def send_pending(*, limit: int = 200) -> dict[str, int]:
    """Send every due notification once (the periodic sweep; tests call it to drain)."""
    counts: dict[str, int] = {}
    ids = list(AnprNotification.objects.filter(_due()).order_by("created_at", "pk").values_list("pk", flat=True)[:limit])
    for pk in ids:
        outcome = notification_send(pk)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
