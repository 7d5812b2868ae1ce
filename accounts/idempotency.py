"""`Idempotency-Key` on every mutating call of the REST API (POST, PUT, PATCH, DELETE).

A client that sends the header may send the same call again - after a lost answer, a 502, a web process
that died mid-request - and nginx resends such calls to another web process by itself
(deploy/nginx/locations.conf). The answer is the same as if the call had run once:

- the call runs inside one transaction that also holds its `IdempotencyRecord` (claimed first, answer
  stored last): a retry after a commit finds the record and gets the stored answer back (same status and
  body, `Idempotent-Replayed: true`); a retry after a rollback (the process died before COMMIT, the
  database undid everything) finds nothing and runs the call again;
- two calls with the same key at the same time: the second waits on the record's unique index until the
  first ends, then replays its answer (or runs, when the first rolled back);
- a key is its user's in its tenant; the same key with another method, path or body is refused (422,
  `idempotency_key_mismatch`): the client is reusing a key for a different call;
- only successful answers (2xx) are kept: after a refusal (400, 403, 404, 409, ...) the record is dropped
  with the rest committed as without a key, and the same call may be tried again;
- records older than `PROCEDO_IDEMPOTENCY_TTL_HOURS` (24) no longer answer and are pruned by beat.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re

from django.conf import settings
from django.db import DatabaseError, connections, router, transaction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import Unprocessable, ValidationFailed

from .models import IdempotencyRecord, Tenant, User

logger = logging.getLogger("procedo.api")

HEADER = "Idempotency-Key"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
# Never stored for a replay: an answer this large is a file, and a mutating call does not return one.
MAX_STORED_BYTES = 1024 * 1024


class KeyMismatch(Unprocessable):
    """The key was used for another call (method, path or body)."""


class Replay(Exception):
    """Raised from a view's `initial()` to answer with the stored response instead of running the call."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


def wanted(request: HttpRequest) -> bool:
    """Whether this call runs under its Idempotency-Key (a mutating method that carries the header)."""
    return request.method in MUTATING_METHODS and HEADER in request.headers


def ttl() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "PROCEDO_IDEMPOTENCY_TTL_HOURS", 24))


def fingerprint(request: HttpRequest) -> str:
    """SHA-256 of method, full path and body. Read before anything parses the body (the view's dispatch)."""
    digest = hashlib.sha256(f"{request.method}\n{request.get_full_path()}\n".encode())
    try:
        digest.update(request.body)
    except Exception:  # noqa: BLE001 - body already read or too large: its declared shape stands in
        digest.update(f"{request.content_type}\n{request.META.get('CONTENT_LENGTH', '')}".encode())
    return digest.hexdigest()


def claim(*, request: HttpRequest, tenant: Tenant, user: User, fingerprint_hex: str) -> IdempotencyRecord:
    """Claim the request's key for this call, inside the call's transaction. Raises `Replay` with the stored
    answer when an earlier call with this key committed, `KeyMismatch` when that call was another one,
    `ValidationFailed` for a malformed key. Blocks while a concurrent call holds the key."""
    key = request.headers.get(HEADER, "").strip()
    if not KEY_RE.match(key):
        raise ValidationFailed(
            _("Chiave di idempotenza non valida: da 8 a 100 caratteri tra lettere, cifre e . _ : -"),
            details={"idempotency_key": [_("Formato non valido.")]}, code="invalid_idempotency_key",
        )
    fields = {"fingerprint": fingerprint_hex, "method": request.method, "path": request.get_full_path()[:300]}
    record = _insert_unless_held(tenant=tenant, user=user, key=key, **fields)
    if record is not None:
        return record
    # an earlier (or concurrent, now ended) call holds the key
    existing = IdempotencyRecord.objects.get(tenant=tenant, user=user, key=key)
    if existing.created_at < timezone.now() - ttl():
        existing.delete()  # expired: the key is free again
        with transaction.atomic():
            return IdempotencyRecord.objects.create(tenant=tenant, user=user, key=key, **fields)
    if existing.fingerprint != fingerprint_hex:
        logger.info("Idempotency-Key %r reused for another call by user %s", key, user.pk)
        raise KeyMismatch(
            _("Questa chiave di idempotenza è già stata usata per un'altra richiesta."),
            details={"idempotency_key": [_("Usa una chiave nuova per ogni richiesta diversa.")]},
            code="idempotency_key_mismatch",
        )
    response = HttpResponse(bytes(existing.body), status=existing.status_code, content_type=existing.content_type)
    response["Idempotent-Replayed"] = "true"
    raise Replay(response)


@functools.cache
def _insert_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    meta = IdempotencyRecord._meta
    columns = ("tenant_id", "user_id", "key", "fingerprint", "method", "path", "content_type", "body", "created_at")
    return (
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({q('tenant_id')}, {q('user_id')}, {q('key')}) DO NOTHING RETURNING {q('id')}"
    )


def _insert_unless_held(*, tenant: Tenant, user: User, key: str, fingerprint: str, method: str,
                        path: str) -> IdempotencyRecord | None:
    """Claim the key: the record inserted, or None when another call's record holds it (waiting, as the unique
    index makes it, for a concurrent holder to commit or roll back). One statement: the ORM's create() in a
    savepoint, to catch the IntegrityError, cost SAVEPOINT + INSERT + RELEASE on every keyed call."""
    conn = connections[router.db_for_write(IdempotencyRecord)]  # the router also marks the request as writing
    created_at = timezone.now()
    meta = IdempotencyRecord._meta
    params = [
        tenant.pk, user.pk, key, fingerprint, method, path, "",
        meta.get_field("body").get_db_prep_save(b"", conn),
        meta.get_field("created_at").get_db_prep_save(created_at, conn),
    ]
    with conn.cursor() as cursor:
        cursor.execute(_insert_sql(conn.alias), params)
        row = cursor.fetchone()
    if row is None:
        return None
    record = IdempotencyRecord(
        id=row[0], tenant=tenant, user=user, key=key, fingerprint=fingerprint, method=method, path=path,
        created_at=created_at,
    )
    record._state.adding = False
    record._state.db = conn.alias
    return record


def settle(record: IdempotencyRecord, response: HttpResponseBase) -> None:
    """Store a successful answer with the call's changes; drop the claim after a refusal. Called at the end
    of the call, still inside its transaction."""
    keep = 200 <= response.status_code < 300 and not response.streaming
    if keep:
        if hasattr(response, "render"):
            response.render()  # a DRF Response: render now, inside the transaction (rendering twice is a no-op)
        keep = len(response.content) <= MAX_STORED_BYTES
    if keep:
        # A failure here propagates: the transaction rolls back and the client gets a 500, never a success
        # whose changes were not committed.
        record.status_code = response.status_code
        record.content_type = response.get("Content-Type", "")[:100]
        record.body = response.content
        record.save(update_fields=["status_code", "content_type", "body"])
        return
    try:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
    except DatabaseError:
        # The call's transaction is broken (an error the view did not contain): nothing of it commits, the
        # claim included, and the answer is already an error.
        logger.exception("Idempotency record %s not dropped; the call's transaction is rolled back", record.pk)
        transaction.set_rollback(True)


def prune(now: dt.datetime | None = None) -> int:
    """Delete the records that no longer answer. Returns how many."""
    cutoff = (now or timezone.now()) - ttl()
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
