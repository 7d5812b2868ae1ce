"""Writing and verifying the audit trail.

`audit_record` appends inside the caller's transaction: it locks the chain head row
(one chain per tenant), so call it late in the transaction to keep that lock short.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction

from common import clock

from .models import AuditChainHead, AuditEvent

GENESIS = "0" * 64
HASHED_FIELDS = (
    "chain_key", "seq", "created_at", "tenant_id", "actor_id", "actor_username", "ip", "action",
    "object_type", "object_id", "object_repr", "summary", "before", "after", "extra", "prev_hash",
)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder)) if value is not None else None


def compute_hash(event: AuditEvent) -> str:
    payload = {}
    for name in HASHED_FIELDS:
        value = getattr(event, name)
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat(timespec="microseconds")
        payload[name] = value
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _chain_key(tenant) -> str:
    return str(tenant.pk) if tenant is not None else "system"


def _advance_head(chain_key: str) -> tuple[int, str]:
    """Take the next sequence number of a chain, locking its head row until commit.

    One UPDATE ... RETURNING both locks the row and hands back the new number and the
    previous hash (the hash column is rewritten once the event is written).
    """
    with connection.cursor() as cursor:
        for _attempt in range(2):
            cursor.execute(
                "UPDATE audit_auditchainhead SET last_seq = last_seq + 1 WHERE chain_key = %s RETURNING last_seq, last_hash",
                [chain_key],
            )
            row = cursor.fetchone()
            if row is not None:
                return int(row[0]), row[1]
            try:
                with transaction.atomic():
                    AuditChainHead.objects.create(chain_key=chain_key)
            except IntegrityError:
                pass  # another transaction created it first
    raise RuntimeError(f"audit chain head {chain_key!r} could not be created")


def audit_record(
    *,
    tenant,
    actor,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str = "",
    summary: str = "",
    before: Any = None,
    after: Any = None,
    extra: Any = None,
    ip: str | None = None,
) -> AuditEvent:
    # No savepoint when the caller already holds a transaction: an error here must
    # roll the whole change back anyway (an unaudited change is not allowed).
    with transaction.atomic(savepoint=False):
        chain_key = _chain_key(tenant)
        seq, prev_hash = _advance_head(chain_key)
        is_user = actor is not None and getattr(actor, "is_authenticated", False)
        event = AuditEvent(
            tenant=tenant,
            chain_key=chain_key,
            seq=seq,
            created_at=clock.now(),
            actor=actor if is_user else None,
            actor_username=actor.get_username() if is_user else "",
            ip=ip,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            object_repr=str(object_repr)[:300],
            summary=summary,
            before=_jsonable(before),
            after=_jsonable(after),
            extra=_jsonable(extra),
            prev_hash=prev_hash,
        )
        event.hash = compute_hash(event)
        if connection.vendor == "postgresql":
            _insert_and_advance(event, chain_key)
        else:
            event.save(force_insert=True)
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE audit_auditchainhead SET last_hash = %s WHERE chain_key = %s", [event.hash, chain_key]
                )
    return event


def _insert_and_advance(event: AuditEvent, chain_key: str) -> None:
    """Write the event and move the chain head's hash in one round trip (a data-modifying CTE)."""
    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH ev AS (INSERT INTO {AuditEvent._meta.db_table} ({columns}) VALUES ({placeholders}) RETURNING id), "
            "head AS (UPDATE audit_auditchainhead SET last_hash = %s WHERE chain_key = %s) SELECT id FROM ev",
            [*values, event.hash, chain_key],
        )
        event.pk = cursor.fetchone()[0]
    event._state.adding = False


def client_ip(request) -> str | None:
    meta = getattr(request, "META", {})
    proxies = getattr(settings, "PROCEDO_TRUSTED_PROXY_COUNT", 0)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return meta.get("REMOTE_ADDR") or None


@dataclass
class VerifyReport:
    ok: bool
    checked: int
    first_broken: AuditEvent | None = None
    reason: str = ""


def verify_chain(*, chain_key: str | None = None) -> VerifyReport:
    """Recompute every hash in order; name the first event that does not fit."""
    heads = AuditChainHead.objects.all()
    if chain_key is not None:
        heads = heads.filter(chain_key=chain_key)
    keys = set(heads.values_list("chain_key", flat=True))
    events_qs = AuditEvent.objects.all()
    if chain_key is not None:
        events_qs = events_qs.filter(chain_key=chain_key)
    keys |= set(events_qs.values_list("chain_key", flat=True).distinct())
    checked = 0
    for key in sorted(keys):
        prev_hash, expected_seq, last = GENESIS, 1, None
        for event in AuditEvent.objects.filter(chain_key=key).order_by("seq").iterator(chunk_size=2000):
            checked += 1
            if event.seq != expected_seq:
                return VerifyReport(False, checked, event, f"sequence gap: expected {expected_seq}, found {event.seq} (events deleted)")
            if event.prev_hash != prev_hash:
                return VerifyReport(False, checked, event, "prev_hash does not match the previous event")
            if compute_hash(event) != event.hash:
                return VerifyReport(False, checked, event, "content altered: hash does not match")
            prev_hash, expected_seq, last = event.hash, expected_seq + 1, event
        head = AuditChainHead.objects.filter(chain_key=key).first()
        if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != prev_hash):
            return VerifyReport(False, checked, last, "chain head does not match the last event (events deleted at the end)")
    return VerifyReport(True, checked)
