"""Writing and verifying the audit trail.

`audit_record` appends inside the caller's transaction: it locks the chain head row
(one chain per tenant), so call it late in the transaction to keep that lock short.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction

from common import clock

from .models import AuditChainHead, AuditEvent, AuditSeal

logger = logging.getLogger(__name__)

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


def audit_seal_chains() -> list[AuditSeal]:
    """Seal the head of every chain that moved since its last seal (one seal per chain and run).

    A chain whose key cannot be loaded is skipped (logged) so that the other tenants are still
    sealed; `verify_audit` will show its seals stop."""
    from accounts.models import Tenant

    from .seal import seal_key_for, seal_payload, sign

    sealed = []
    last_sealed = dict(
        AuditSeal.objects.order_by("chain_key", "-seq").distinct("chain_key").values_list("chain_key", "seq")
    ) if connection.vendor == "postgresql" else {
        key: AuditSeal.objects.filter(chain_key=key).order_by("-seq").values_list("seq", flat=True).first()
        for key in AuditSeal.objects.values_list("chain_key", flat=True).distinct()
    }
    for head in AuditChainHead.objects.order_by("chain_key"):
        last = AuditEvent.objects.filter(chain_key=head.chain_key).order_by("-seq").first()
        if last is None or last_sealed.get(head.chain_key) == last.seq:
            continue
        tenant = Tenant.objects.filter(pk=last.tenant_id).first() if last.tenant_id else None
        try:
            key = seal_key_for(tenant)
        except Exception:  # a tenant's broken seal configuration must not stop the others' seals
            logger.exception("audit seal: no usable key for chain %s", head.chain_key)
            continue
        sealed_at = clock.now()
        payload = seal_payload(chain_key=last.chain_key, seq=last.seq, hash=last.hash,
                               event_created_at=last.created_at, sealed_at=sealed_at)
        algorithm, signature = sign(payload, key)
        sealed.append(AuditSeal.objects.create(
            tenant=tenant, chain_key=last.chain_key, seq=last.seq, hash=last.hash, event_created_at=last.created_at,
            sealed_at=sealed_at, algorithm=algorithm, certificate=key.certificate_pem, signature=signature,
        ))
    return sealed


@dataclass
class Problem:
    chain_key: str
    reason: str
    event: AuditEvent | None = None


@dataclass
class VerifyReport:
    ok: bool
    checked: int
    first_broken: AuditEvent | None = None
    reason: str = ""
    problems: list[Problem] = field(default_factory=list)
    seals_checked: int = 0


def _walk_chain(key: str) -> tuple[int, list[Problem], AuditEvent | None]:
    """Recompute every hash of one chain in order; the first event that does not fit is the problem."""
    checked, prev_hash, expected_seq, last = 0, GENESIS, 1, None
    for event in AuditEvent.objects.filter(chain_key=key).order_by("seq").iterator(chunk_size=2000):
        checked += 1
        reason = ""
        if event.seq != expected_seq:
            reason = f"sequence gap: expected {expected_seq}, found {event.seq} (events deleted)"
        elif event.prev_hash != prev_hash:
            reason = "prev_hash does not match the previous event"
        elif compute_hash(event) != event.hash:
            reason = "content altered: hash does not match"
        if reason:
            return checked, [Problem(key, reason, event)], last
        prev_hash, expected_seq, last = event.hash, expected_seq + 1, event
    head = AuditChainHead.objects.filter(chain_key=key).first()
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != prev_hash):
        return checked, [Problem(key, "chain head does not match the last event (events deleted at the end)", last)], last
    return checked, [], last


def _check_seals(key: str, last: AuditEvent | None, trusted: dict[int | None, set[str]]) -> tuple[int, list[Problem]]:
    """Every seal signed by the tenant's seal certificate, and the chain still holding what was sealed."""
    from .seal import fingerprint, seal_payload, signature_problem

    problems: list[Problem] = []
    valid: list[AuditSeal] = []
    seals = list(AuditSeal.objects.filter(chain_key=key).order_by("seq", "id"))
    for seal in seals:
        when = seal.sealed_at.isoformat(timespec="seconds")
        payload = seal_payload(chain_key=seal.chain_key, seq=seal.seq, hash=seal.hash,
                               event_created_at=seal.event_created_at, sealed_at=seal.sealed_at)
        why = signature_problem(payload, algorithm=seal.algorithm, signature_b64=seal.signature,
                                certificate_pem=seal.certificate)
        if why is None:
            if seal.tenant_id not in trusted:
                trusted[seal.tenant_id] = _trusted_fingerprints(seal.tenant_id)
            expected = trusted[seal.tenant_id]
            if not expected:
                why = "no seal certificate is configured to check it against"
            elif fingerprint(seal.certificate) not in expected:
                why = "signed by a certificate that is not the chain's seal certificate"
        if why:
            problems.append(Problem(key, f"forged or damaged seal id={seal.pk} (seq {seal.seq}, {when}): {why}"))
        else:
            valid.append(seal)
    if not valid:
        return len(seals), problems
    newest = valid[-1]
    when = newest.sealed_at.isoformat(timespec="seconds")
    if last is None and not AuditEvent.objects.filter(chain_key=key).exists():
        problems.append(Problem(key, f"the chain is missing entirely but was sealed at seq {newest.seq} on {when}"))
        return len(seals), problems
    end = AuditEvent.objects.filter(chain_key=key).order_by("-seq").values_list("seq", flat=True).first() or 0
    if end < newest.seq:
        problems.append(Problem(key, f"the chain ends at seq {end} but was sealed at seq {newest.seq} on {when} "
                                     "(events deleted at the end)", last))
    sealed_hashes = dict(AuditEvent.objects.filter(chain_key=key, seq__in=[s.seq for s in valid]).values_list("seq", "hash"))
    for seal in valid:
        found = sealed_hashes.get(seal.seq)
        if found is not None and found != seal.hash:
            problems.append(Problem(key, f"event seq {seal.seq} no longer has the hash sealed on "
                                         f"{seal.sealed_at.isoformat(timespec='seconds')} (chain rewritten)"))
            break
    return len(seals), problems


def _trusted_fingerprints(tenant_id: int | None) -> set[str]:
    """The chain's current seal certificate and the retired ones (PROCEDO_AUDIT_SEAL_RETIRED_CERTS)."""
    from accounts.models import Tenant

    from .seal import fingerprint, retired_certificates_pem, seal_key_for

    trusted = {fingerprint(pem) for pem in retired_certificates_pem()}
    tenant = Tenant.objects.filter(pk=tenant_id).first() if tenant_id else None
    try:
        trusted.add(fingerprint(seal_key_for(tenant).certificate_pem))
    except Exception:  # no key here: only the retired certificates, if any, can vouch for a seal
        logger.warning("audit verify: no seal certificate for tenant %s", tenant_id)
    return trusted


def verify_chain(*, chain_key: str | None = None) -> VerifyReport:
    """Recompute every hash in order and check every seal; name each problem found (one per kind
    and chain), the first one as `first_broken` / `reason`."""
    keys: set[str] = set()
    for model in (AuditChainHead, AuditEvent, AuditSeal):
        qs = model.objects.all()
        if chain_key is not None:
            qs = qs.filter(chain_key=chain_key)
        keys |= set(qs.values_list("chain_key", flat=True).distinct())
    checked, seals_checked, problems = 0, 0, []
    trusted: dict[int | None, set[str]] = {}
    for key in sorted(keys):
        walked, chain_problems, last = _walk_chain(key)
        checked += walked
        counted, seal_problems = _check_seals(key, last, trusted)
        seals_checked += counted
        problems += chain_problems + seal_problems
    if not problems:
        return VerifyReport(True, checked, seals_checked=seals_checked)
    first = problems[0]
    return VerifyReport(False, checked, first.event, first.reason, problems, seals_checked)
