"""Remember completed operation results so a repeated outbox delivery does not repeat the call.

Operations declare it with `@operation(name, description=..., remember=True)`
(common.operations); this module is the store behind it, the `OperationResult` table,
handed to common.operations by `ConnectorsConfig.ready()`.

This covers "the platform answered, we crashed before recording it". It cannot
cover "the platform acted but its answer was lost": for platforms without an
idempotency key of their own (App IO) a retry after a lost answer may repeat
the action; connectors that can look the result up (GPD by IUPD, SEND by
paProtocolNumber/idempotenceToken) do so instead.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction


class OperationResultStore:
    """common.operations.ResultStore on the connectors' OperationResult table."""

    def get(self, *, tenant_id: int, operation: str, idempotency_key: str) -> dict[str, Any] | None:
        from ..models import OperationResult  # noqa: PLC0415 - importable before apps load

        row = OperationResult.objects.filter(
            tenant_id=tenant_id, operation=operation, idempotency_key=idempotency_key
        ).values_list("result", flat=True).first()
        return row

    def put(self, *, tenant_id: int, operation: str, idempotency_key: str, result: dict[str, Any]) -> None:
        from ..models import OperationResult  # noqa: PLC0415

        try:
            with transaction.atomic():
                OperationResult.objects.create(
                    tenant_id=tenant_id, operation=operation, idempotency_key=idempotency_key, result=result
                )
        except IntegrityError:
            pass  # a concurrent delivery stored it first; both results describe the same call
