"""Writing and verifying the audit trail.

Sharded chains (issue 9): each tenant has PROCEDO_AUDIT_CHAIN_SHARDS hash chains instead of one,
because a chain's head row is locked from the append until the transaction commits, and one head
per tenant made every audited write *and read* of a tenant queue behind the others.

- Chain keys: shard 0 keeps the historic key (the tenant id), so chains written
  before sharding simply continue as shard 0; shard k > 0 is ``<tenant id>.<k>``. No data
  migration is needed, and changing the number of shards later leaves every chain valid (a chain
  that is no longer chosen just stops growing; verification walks every chain it finds).
- Which chain: the first event of a transaction picks it, and every later event of the same
  transaction goes to the same chain. So a transaction holds at most one head lock and two
  transactions can never deadlock on heads. An event about a case (``case_id``, or
  ``object_type="case"``) picks the case's shard (case id modulo the shard count), so the events
  of one case stay in order in one chain (the case services write case events first, under the
  case lock). Any other event takes a head that no other transaction holds (``FOR UPDATE SKIP
  LOCKED``): an audited read never waits for a writer of its tenant.
- Every chain is hashed, sealed (`audit_seal_chains`) and verified (`verify_chain`,
  ``manage.py verify_audit``) exactly as one chain per tenant was; `verify_chain(tenant=...)`
  walks all the shards of a tenant. Events without a tenant keep one ``system`` chain (they are few).

`audit_record` appends inside the caller's transaction; call it late in the transaction to keep
the head lock short.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import random
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Q

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


def _canonical(event: AuditEvent, overrides: dict[str, Any] | None = None) -> str:
    payload = {}
    for name in HASHED_FIELDS:
        value = overrides[name] if overrides and name in overrides else getattr(event, name)
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat(timespec="microseconds")
        payload[name] = value
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event).encode("utf-8")).hexdigest()


def shard_count() -> int:
    return max(1, int(getattr(settings, "PROCEDO_AUDIT_CHAIN_SHARDS", 1)))


def chain_key_for(tenant, shard: int = 0) -> str:
    """The key of one chain of a tenant; shard 0 is the historic key. Events without a tenant (failed
    logins of unknown names, platform administration) are few: one ``system`` chain."""
    if tenant is None:
        return "system"
    return str(tenant.pk) if shard == 0 else f"{tenant.pk}.{shard}"


def tenant_chain_filter(tenant) -> Q:
    """Every chain of a tenant, whatever the shard count was when it was written."""
    base = chain_key_for(tenant)
    return Q(chain_key=base) | Q(chain_key__startswith=f"{base}.")


def _case_id(case_id: Any, object_type: str, object_id: Any) -> int | None:
    if case_id is None and object_type == "case":
        case_id = object_id
    try:
        return int(case_id) if case_id is not None else None
    except (TypeError, ValueError):
        return None


# --- the chain a transaction holds ------------------------------------------------------------
# A head taken in a transaction stays locked until that transaction ends. The connection remembers
# which one, marked by an on-commit callback: Django drops that callback when the transaction (or
# the savepoint that took the head) commits or rolls back, which is exactly when the lock goes.


def _held_chains() -> dict[str, str] | None:
    """The chains this transaction holds, by tenant (chain_key_for(tenant)); None outside a transaction
    or before its first event."""
    state = getattr(connection, "procedo_audit_chains", None)
    if state is None or not connection.in_atomic_block:
        return None
    marker, held = state
    return held if any(entry[1] is marker for entry in connection.run_on_commit) else None


def _remember_chain(tenant, key: str) -> None:
    held = _held_chains()
    if held is None:
        def marker() -> None:  # does nothing: its presence in run_on_commit is the information
            return None

        held = {}
        transaction.on_commit(marker)
        connection.procedo_audit_chains = (marker, held)
    held[chain_key_for(tenant)] = key


def _advance(chain_key: str) -> tuple[int, str] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditchainhead SET last_seq = last_seq + 1 WHERE chain_key = %s RETURNING last_seq, last_hash",
            [chain_key],
        )
        row = cursor.fetchone()
    return (int(row[0]), row[1]) if row is not None else None


def _tenant_keys(tenant) -> list[str]:
    return [chain_key_for(tenant, shard) for shard in range(shard_count() if tenant is not None else 1)]


def _create_heads(keys: list[str]) -> None:
    """Create missing chain heads, committed at once in a short transaction of their own (PostgreSQL:
    a second connection). A head inserted inside a caller's long transaction would make every other
    transaction that wants it wait on the unique index until that caller commits."""
    if connection.vendor != "postgresql":  # SQLite: one writer at a time anyway
        AuditChainHead.objects.bulk_create([AuditChainHead(chain_key=k) for k in keys], ignore_conflicts=True)
        return
    if not connection.in_atomic_block or getattr(settings, "PROCEDO_DB_POOLER", "") == "pgbouncer":
        # Outside a transaction the insert commits at once. Behind a transaction pooler a second
        # connection would need a second server connection while this one holds its own: with every
        # pooled connection inside a transaction that waits for one, nobody ever gets one. There the
        # heads are created with the tenant (ensure_chain_heads), and this in-transaction insert is
        # only the rare fallback (more shards than before); a unique-index wait here ends at commit.
        with connection.cursor() as cursor:
            cursor.execute(_CREATE_HEADS, [GENESIS, keys])
        return
    side = connections.create_connection(connection.alias)
    try:
        with side.cursor() as cursor:
            # If this very transaction has inserted one of these heads (a tenant created in it), the
            # side connection would wait for us while we wait for it: give up quickly and insert here.
            cursor.execute("SET lock_timeout = '2s'")
            cursor.execute(_CREATE_HEADS, [GENESIS, keys])
        return
    except DatabaseError:
        logger.warning("audit: chain heads %s created inside the caller's transaction", keys)
    finally:
        side.close()
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_HEADS, [GENESIS, keys])


# NOT EXISTS first: a conflict check against a head that some open transaction has just advanced
# would wait for that transaction to end.
_CREATE_HEADS = (
    "INSERT INTO audit_auditchainhead (chain_key, last_seq, last_hash) "
    "SELECT k, 0, %s FROM unnest(%s::text[]) AS k "
    "WHERE NOT EXISTS (SELECT 1 FROM audit_auditchainhead h WHERE h.chain_key = k) "
    "ON CONFLICT (chain_key) DO NOTHING"
)


def ensure_chain_heads(tenant) -> None:
    """Create every chain head of a tenant (called when the tenant is created, in its transaction:
    nobody else can write the new tenant's events before it commits)."""
    keys = _tenant_keys(tenant)
    if connection.vendor != "postgresql":
        AuditChainHead.objects.bulk_create([AuditChainHead(chain_key=k) for k in keys], ignore_conflicts=True)
        return
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_HEADS, [GENESIS, keys])


def _advance_head(chain_key: str, tenant) -> tuple[int, str]:
    """Take the next sequence number of a chain, locking its head row until commit (waits for a
    transaction that holds it).

    One UPDATE ... RETURNING both locks the row and hands back the new number and the
    previous hash (the hash column is rewritten once the event is written).
    """
    taken = _advance(chain_key)
    if taken is None:  # the tenant's first event (or more shards than before): create its heads
        _create_heads(sorted({chain_key, *_tenant_keys(tenant)}))
        taken = _advance(chain_key)
    if taken is None:  # not visible from outside this transaction (it deleted the head): create it here
        AuditChainHead.objects.bulk_create([AuditChainHead(chain_key=chain_key)], ignore_conflicts=True)
        taken = _advance(chain_key)
    if taken is None:
        raise RuntimeError(f"audit chain head {chain_key!r} could not be created")
    return taken


def _take_chain(tenant, case_id: int | None) -> tuple[str, int, str]:
    """SQLite: take the next link of the chain chosen as on PostgreSQL (see _append_postgresql)."""
    held = (_held_chains() or {}).get(chain_key_for(tenant))
    if held is not None:
        seq, prev_hash = _advance_head(held, tenant)  # already ours: no wait
        return held, seq, prev_hash
    shards = shard_count() if tenant is not None else 1
    if case_id is not None or shards == 1:
        key = chain_key_for(tenant, (case_id or 0) % shards)
    else:  # SQLite writes one transaction at a time anyway: any shard
        key = chain_key_for(tenant, random.randrange(shards))  # noqa: S311 - load spreading, not security
    seq, prev_hash = _advance_head(key, tenant)
    _remember_chain(tenant, key)
    return key, seq, prev_hash


def audit_prepare(
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
    case_id: int | str | None = None,
) -> PreparedAudit:
    """One event, not written yet: `audit_record` takes the same arguments and writes it at once.

    A write path that knows its event before its last statement prepares it, lets that statement
    carry the append (`PreparedAudit.fold`, PostgreSQL) and writes it itself only if it could not
    (`PreparedAudit.write`): one round trip less, same chain, same hash."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        tenant=tenant,
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
    )
    return PreparedAudit(event=event, tenant=tenant, case_id=_case_id(case_id, object_type, object_id))


def audit_record(**kwargs: Any) -> AuditEvent:
    """Append one event (arguments: `audit_prepare`'s). `case_id`: the case the event belongs to
    (implied for object_type "case"), so that it goes to that case's chain."""
    return audit_prepare(**kwargs).write()


@dataclass
class FoldedAppend:
    """The append of one event as common table expressions for the caller's own statement.

    `ctes`: ``old AS (...), head AS (...), ev AS (...)`` with `params` in text order; the row of
    the CTE `ev` (columns `columns`) goes to `PreparedAudit.accept`. No row: the chain head was
    not there (the tenant's first event); the caller then calls `PreparedAudit.write`."""

    ctes: str
    params: list[Any]
    result: str = "ev"
    columns: tuple[str, ...] = ("id", "chain_key", "seq", "prev_hash", "hash")
    row: tuple[Any, ...] | None = None  # set by the statement that carried it


@dataclass
class PreparedAudit:
    event: AuditEvent
    tenant: Any
    case_id: int | None
    written: bool = False

    def write(self) -> AuditEvent:
        """Append the event now, in the caller's transaction (the usual path)."""
        if self.written:
            return self.event
        event, tenant = self.event, self.tenant
        # No savepoint when the caller already holds a transaction: an error here must
        # roll the whole change back anyway (an unaudited change is not allowed).
        with transaction.atomic(savepoint=False):
            if connection.vendor == "postgresql":
                _append_postgresql(event, tenant, self.case_id)
            else:
                event.chain_key, event.seq, event.prev_hash = _take_chain(tenant, self.case_id)
                event.hash = compute_hash(event)
                event.save(force_insert=True)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE audit_auditchainhead SET last_hash = %s WHERE chain_key = %s",
                        [event.hash, event.chain_key],
                    )
        self.written = True
        return event

    def fold(
        self, *, computed: dict[str, tuple[str, list[Any]]] | None = None, case_id_sql: str | None = None
    ) -> FoldedAppend | None:
        """The append as CTEs for a statement the caller runs in its transaction, when the chain
        is known without asking (the one this transaction holds, or the case's shard); None on
        other databases and for events that pick a free shard (they `write`).

        For an event whose text comes from the caller's statement itself (a claim's UPDATE ...
        RETURNING, cases.statements): `computed` gives those fields as SQL expressions over the
        caller's earlier CTEs, with parameters, and `case_id_sql` the case id (choosing the shard)
        as one; NULL there (the caller's row did not change) appends nothing. The caller sets the
        same values on `event` before `accept`, whose hash check compares the two."""
        if self.written or connection.vendor != "postgresql" or not connection.in_atomic_block:
            return None
        key = (_held_chains() or {}).get(chain_key_for(self.tenant))
        if key is None and case_id_sql is not None and self.tenant is not None and self.case_id is None:
            shards = shard_count()
            base = chain_key_for(self.tenant)
            key_sql = (f"CASE WHEN mod(({case_id_sql}), {shards}) = 0 THEN %s::text "
                       f"ELSE %s::text || '.' || mod(({case_id_sql}), {shards})::text END")
            head = ("SELECT id, chain_key, last_seq, last_hash FROM audit_auditchainhead "
                    f"WHERE chain_key = ({key_sql}) FOR UPDATE")
            ctes, params = _append_ctes(self.event, head, [base, base], computed)
            return FoldedAppend(ctes=ctes, params=params)
        if key is None:
            shards = shard_count() if self.tenant is not None else 1
            if self.case_id is None and shards > 1:
                return None
            key = chain_key_for(self.tenant, (self.case_id or 0) % shards)
        head_sql = _ONE_HEAD
        if case_id_sql is not None:  # nothing to append when the caller's row did not change
            head_sql = _ONE_HEAD.replace(" FOR UPDATE", f" AND ({case_id_sql}) IS NOT NULL FOR UPDATE")
        ctes, params = _append_ctes(self.event, head_sql, [key], computed)
        return FoldedAppend(ctes=ctes, params=params)

    def accept(self, row: Any) -> bool:
        """Take the `ev` row of a folded append (checked as `_try_append` checks it); False when
        there is none, and the caller must `write`."""
        if row is None or row[0] is None:
            return False
        _accept_row(self.event, row)
        _remember_chain(self.tenant, self.event.chain_key)
        self.written = True
        return True


# --- PostgreSQL: the whole append in one statement ------------------------------------------------
# Lock a head, advance it, hash the event over the head's sequence number and hash (SHA-256 computed by
# PostgreSQL over the same canonical JSON as compute_hash, whose chain_key, seq and prev_hash are only
# known there), move the head's hash and insert the event: one round trip instead of two. The hash is
# checked again in Python before commit, so a difference between the two computations can never
# write a broken chain; it fails the transaction instead.

_LINKS = {  # the values only the database knows, as SQL over the locked head row `old`
    "chain_key": "'\"' || old.chain_key || '\"'",
    "seq": "(old.last_seq + 1)::text",
    "prev_hash": "'\"' || old.last_hash || '\"'",
}


def _hash_sql(event: AuditEvent, computed: dict[str, tuple[str, list[Any]]] | None = None) -> tuple[str, list[Any]]:
    """SQL for SHA-256 of the event's canonical JSON with the chain links filled in by the database, and the
    `computed` fields (text only the caller's statement knows: SQL expression and its parameters) too."""
    import secrets

    exprs_by_name: dict[str, tuple[str, list[Any]]] = {name: (sql, []) for name, sql in _LINKS.items()}
    for name, (sql, params) in (computed or {}).items():
        # to_json escapes text as json.dumps(ensure_ascii=False) does (", \\, control characters); the
        # hash is checked again in Python before commit anyway.
        exprs_by_name[name] = (f"to_json(CAST(({sql}) AS text))::text", params)
    tokens = {name: f"@@{name}-{secrets.token_hex(16)}@@" for name in exprs_by_name}
    canonical = _canonical(event, tokens)
    pieces: list[str] = []
    exprs: list[tuple[str, list[Any]]] = []
    rest = canonical
    while True:
        found = [(rest.find(json.dumps(tok)), name, tok) for name, tok in tokens.items() if json.dumps(tok) in rest]
        if not found:
            break
        at, name, tok = min(found)
        pieces.append(rest[:at])
        exprs.append(exprs_by_name[name])
        rest = rest[at + len(json.dumps(tok)):]
    pieces.append(rest)
    if len(exprs) != len(exprs_by_name):
        raise RuntimeError("audit: canonical form without its chain links")
    parts: list[str] = []
    params: list[Any] = []
    for piece, (expr, expr_params) in zip(pieces, exprs, strict=False):
        parts += ["%s::text", expr]
        params += [piece, *expr_params]
    parts.append("%s::text")
    params.append(pieces[-1])
    return f"encode(sha256(convert_to(concat({', '.join(parts)}), 'UTF8')), 'hex')", params


@functools.cache
def _event_columns(vendor: str) -> tuple[tuple[Any, ...], str, tuple[str, ...]]:
    """The event's columns an append inserts from its values (all but the chain links), their quoted
    names and database types: the same for every event, asked of the fields once per process."""
    links = {"chain_key", "seq", "prev_hash", "hash"}
    fields = tuple(f for f in AuditEvent._meta.concrete_fields if not f.primary_key and f.attname not in links)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return fields, columns, tuple(f.db_type(connection) for f in fields)


def _append_ctes(
    event: AuditEvent, head_sql: str, head_params: list[Any],
    computed: dict[str, tuple[str, list[Any]]] | None = None,
) -> tuple[str, list[Any]]:
    """``old AS (lock the head), head AS (advance and hash), ev AS (insert the event)``; `computed`: see
    `_hash_sql` (those fields are inserted from their expressions, not from the event)."""
    computed = computed or {}
    hash_sql, hash_params = _hash_sql(event, computed)
    fields, columns, db_types = _event_columns(connection.vendor)
    conn = connections[connection.alias]  # the wrapper itself: each field below asks it for its backend
    casts, values = [], []
    for f, db_type in zip(fields, db_types, strict=True):
        if f.attname in computed:
            sql, params = computed[f.attname]
            casts.append(f"CAST(({sql}) AS {db_type})")
            values += params
        else:
            casts.append(f"CAST(%s AS {db_type})")
            values.append(f.get_db_prep_save(getattr(event, f.attname), conn))
    table = AuditEvent._meta.db_table
    ctes = (
        f"old AS ({head_sql}), "
        f"head AS (UPDATE audit_auditchainhead h SET last_seq = old.last_seq + 1, last_hash = {hash_sql} "
        "FROM old WHERE h.id = old.id RETURNING h.chain_key, h.last_seq, old.last_hash AS prev_hash, h.last_hash), "
        f"ev AS (INSERT INTO {table} ({columns}, chain_key, seq, prev_hash, hash) "
        f"SELECT {', '.join(casts)}, head.chain_key, head.last_seq, head.prev_hash, head.last_hash FROM head "
        "RETURNING id, chain_key, seq, prev_hash, hash)"
    )
    return ctes, [*head_params, *hash_params, *values]


def _append_statement(event: AuditEvent, head_sql: str, head_params: list[Any]) -> tuple[str, list[Any]]:
    ctes, params = _append_ctes(event, head_sql, head_params)
    return f"WITH {ctes} SELECT id, chain_key, seq, prev_hash, hash FROM ev", params


def _accept_row(event: AuditEvent, row: Any) -> None:
    event.pk, event.chain_key, event.seq, event.prev_hash, event.hash = row
    event.seq = int(event.seq)
    event._state.adding = False
    if compute_hash(event) != event.hash:
        raise RuntimeError(f"audit: the database hashed event {event.pk} differently; nothing written")


def _try_append(event: AuditEvent, head_sql: str, head_params: list[Any]) -> bool:
    sql, params = _append_statement(event, head_sql, head_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    _accept_row(event, row)
    return True


_ONE_HEAD = "SELECT id, chain_key, last_seq, last_hash FROM audit_auditchainhead WHERE chain_key = %s::text FOR UPDATE"
_FREE_HEAD = ("SELECT id, chain_key, last_seq, last_hash FROM audit_auditchainhead WHERE chain_key = ANY(%s::text[]) "
              "ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED")


def _append_to(event: AuditEvent, tenant, key: str) -> None:
    """Append to one chain, waiting for its head if another transaction holds it."""
    if _try_append(event, _ONE_HEAD, [key]):
        return
    _create_heads(sorted({key, *_tenant_keys(tenant)}))  # the tenant's first event, or more shards
    if _try_append(event, _ONE_HEAD, [key]):
        return
    # not visible from outside this transaction (it deleted the head itself): create it here
    AuditChainHead.objects.bulk_create([AuditChainHead(chain_key=key)], ignore_conflicts=True)
    if not _try_append(event, _ONE_HEAD, [key]):
        raise RuntimeError(f"audit chain head {key!r} could not be created")


def _append_postgresql(event: AuditEvent, tenant, case_id: int | None) -> None:
    held = (_held_chains() or {}).get(chain_key_for(tenant))
    if held is not None:
        _append_to(event, tenant, held)  # already ours: no wait
        return
    shards = shard_count() if tenant is not None else 1
    if case_id is not None or shards == 1:
        _append_to(event, tenant, chain_key_for(tenant, (case_id or 0) % shards))
    else:
        keys = _tenant_keys(tenant)
        if not _try_append(event, _FREE_HEAD, [keys]):
            _create_heads(keys)  # perhaps the tenant's heads do not all exist yet
            if not _try_append(event, _FREE_HEAD, [keys]):  # all busy: wait for this connection's one
                _append_to(event, tenant, keys[os.getpid() % len(keys)])
    _remember_chain(tenant, event.chain_key)


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
    keys: dict[int | None, Any] = {}  # one key (and one tenant load) per tenant, for all its shards
    for head in AuditChainHead.objects.order_by("chain_key"):
        if head.last_seq == 0 or last_sealed.get(head.chain_key) == head.last_seq:
            continue  # a shard never used, or nothing new since its last seal
        last = AuditEvent.objects.filter(chain_key=head.chain_key).order_by("-seq").first()
        if last is None or last_sealed.get(head.chain_key) == last.seq:
            continue
        if last.tenant_id not in keys:
            tenant = Tenant.objects.filter(pk=last.tenant_id).first() if last.tenant_id else None
            try:
                keys[last.tenant_id] = (tenant, seal_key_for(tenant))
            except Exception:  # a tenant's broken seal configuration must not stop the others' seals
                logger.exception("audit seal: no usable key for chain %s", head.chain_key)
                keys[last.tenant_id] = (tenant, None)
        tenant, key = keys[last.tenant_id]
        if key is None:
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


def verify_chain(*, chain_key: str | None = None, tenant=None) -> VerifyReport:
    """Recompute every hash in order and check every seal; name each problem found (one per kind
    and chain), the first one as `first_broken` / `reason`. `chain_key`: that chain only;
    `tenant`: every chain (shard) of that tenant; neither: every chain."""
    keys: set[str] = set()
    for model in (AuditChainHead, AuditEvent, AuditSeal):
        qs = model.objects.all()
        if chain_key is not None:
            qs = qs.filter(chain_key=chain_key)
        if tenant is not None:
            qs = qs.filter(tenant_chain_filter(tenant))
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
