"""The one way into a write on a case: which rows are locked, in which order, and the retry.

Lock order (every write path, no exception):

0. tenant-level rows that a case start serialises on (the tenant row for platform starts,
   the case-number sequence), only when opening a case, before any row of that case;
1. the ``WorkflowInstance`` row, with ``lock_instance`` — it holds the case's engine state and
   is the case's mutex: whoever holds it may write every other row of the case;
2. rows of that case, only while holding 1: incident, outbox message, work items, case row.
   Their relative order does not matter, because two transactions can only reach them
   together while both hold lock 1, which is impossible;
3. the audit chain, last of all (``audit.services.audit_record``), then commit.

The one exception: claim, unclaim and assign touch a single work item and nothing else of the
case; they lock that row alone (level 2 without level 1). Holding no other lock of the case
while they wait for it, and taking only the audit chain after it, they cannot close a cycle.

Callers read the ids they need without locks, lock in the order above, then re-check what
they read (a work item may have been completed, a case cancelled, a timer fired by then).

A deadlock (40P01) or serialization failure (40001) that still happens, or a stale revision
(``StaleInstance``), is retried by ``run_in_transaction`` a few times with a jittered backoff,
but only when that call opened the outermost transaction: a transaction someone else began
cannot be replayed from here, so inside one the error propagates to the owner.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError, connection, transaction
from django.db.models import Expression
from django.utils.translation import gettext as _

from common.errors import Conflict, NotFound

from .lock_objects import instance_qs_select_for_update
from .models import WorkflowInstance
from .types import StaleInstance

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 0.02

# Set on an instance object fetched by lock_instance: proof for the runtime that the row is locked.
_LOCKED_ATTR = "_procedo_row_locked"


def lock_instance(
    instance_id: int | Expression, *, skip_locked: bool = False, filters: dict[str, Any] | None = None
) -> WorkflowInstance | None:
    """Lock one instance row (level 1) and return it, or None when no row matches.

    `instance_id` may be a subquery (e.g. "the instance of this work item"), so a caller that
    knows only a child row locks the instance first in one statement. `filters` re-check the
    state read before the lock (status, due timer); `skip_locked` skips a row another
    transaction holds (the timer sweep).
    """
    qs = instance_qs_select_for_update()
    if skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    instance = qs.filter(pk=instance_id, **(filters or {})).first()
    if instance is not None:
        setattr(instance, _LOCKED_ATTR, True)
    return instance


def lock_instance_or_404(instance_id: int | Expression, *, message: str | None = None) -> WorkflowInstance:
    instance = lock_instance(instance_id)
    if instance is None:
        raise NotFound(message or _("Istanza di processo non trovata."))
    return instance


def mark_locked(instance: WorkflowInstance) -> WorkflowInstance:
    """An instance row this transaction locked by its own statement: inserted it, or read it
    with ``SELECT ... FOR UPDATE OF`` that row alone in a query that joins it (a completion reads
    its work item, case and instance in one statement and locks only the instance: level 1)."""
    setattr(instance, _LOCKED_ATTR, True)
    return instance


def require_locked(instance: WorkflowInstance) -> None:
    if not getattr(instance, _LOCKED_ATTR, False):
        raise RuntimeError(f"instance {instance.pk} must be locked with engine.locks.lock_instance first")


def is_transient(exc: BaseException) -> bool:
    """A failure that a fresh attempt of the same transaction may not meet again."""
    if isinstance(exc, StaleInstance):
        return True
    cause: BaseException | None = exc
    while cause is not None:
        if getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES or getattr(cause, "pgcode", None) in TRANSIENT_SQLSTATES:
            return True
        cause = cause.__cause__
    return False


def run_in_transaction(fn: Callable[[], T], *, what: str) -> T:
    """Run `fn` in a transaction; replay it on a transient failure when the transaction is ours.

    `fn` must be safe to run again from the start: it re-reads and re-locks everything it uses
    (rolled back on_commit callbacks are dropped by Django, so nothing leaks from a failed try).
    """
    if connection.in_atomic_block:  # someone else's transaction: a savepoint, no replay
        with transaction.atomic():
            return fn()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return fn()
        except (DatabaseError, StaleInstance) as exc:
            if not is_transient(exc):
                raise
            if attempt == MAX_ATTEMPTS:
                logger.error("%s: transient failure on the last of %s attempts: %s", what, attempt, exc)
                raise Conflict(
                    _("La pratica è occupata da un'altra operazione in questo momento: riprova."), code="busy"
                ) from exc
            delay = random.uniform(0.5, 1.5) * BACKOFF_SECONDS * (2 ** (attempt - 1))
            logger.warning("%s: transient failure (attempt %s of %s), retrying in %.0f ms: %s",
                           what, attempt, MAX_ATTEMPTS, delay * 1000, exc)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def transactional(what: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator form of run_in_transaction for a whole service function."""
    import functools

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            return run_in_transaction(lambda: fn(*args, **kwargs), what=what)

        return wrapper

    return decorate
