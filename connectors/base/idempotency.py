"""Remember completed operation results so a repeated outbox delivery does not repeat the call.

This covers "the platform answered, we crashed before recording it". It cannot
cover "the platform acted but its answer was lost": for platforms without an
idempotency key of their own (App IO) a retry after a lost answer may repeat
the action; connectors that can look the result up (GPD by IUPD, SEND by
paProtocolNumber/idempotenceToken) do so instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from common.operations import OperationContext

Fn = Callable[[dict[str, Any], OperationContext], dict[str, Any]]


def stored_result(*, tenant_id: int, operation: str, idempotency_key: str) -> dict[str, Any] | None:
    from ..models import OperationResult  # noqa: PLC0415

    row = OperationResult.objects.filter(
        tenant_id=tenant_id, operation=operation, idempotency_key=idempotency_key
    ).first()
    return row.result if row is not None else None


def store_result(*, tenant_id: int, operation: str, idempotency_key: str, result: dict[str, Any]) -> None:
    from ..models import OperationResult  # noqa: PLC0415

    try:
        with transaction.atomic():
            OperationResult.objects.create(
                tenant_id=tenant_id, operation=operation, idempotency_key=idempotency_key, result=result
            )
    except IntegrityError:
        pass  # a concurrent delivery stored it first; both results describe the same call


def remembered(operation: str) -> Callable[[Fn], Fn]:
    """Decorator for an operation function: return the stored result of an earlier completed run."""

    def decorator(fn: Fn) -> Fn:
        @functools.wraps(fn)
        def wrapper(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
            previous = stored_result(tenant_id=ctx.tenant_id, operation=operation, idempotency_key=ctx.idempotency_key)
            if previous is not None:
                return previous
            result = fn(params, ctx)
            store_result(tenant_id=ctx.tenant_id, operation=operation, idempotency_key=ctx.idempotency_key,
                         result=result)
            return result

        return wrapper

    return decorator
