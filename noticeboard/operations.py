"""Engine operation: a BPMN service task posts a publication to the tenant's notice board.

    <spiffworkflow:serviceTaskOperator id="noticeboard.publish" resultVariable="albo">
      parameters: title, body, category, document_id, days (default 8: banns), start_date
      (ISO date, default today), office, responsible

Returns the register number and the dates, so the process can wait for the end of the
publication (a timer on `end_date`). Idempotent per outbox message: a second delivery returns
the publication made by the first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from common.errors import Conflict, NotFound, ValidationFailed
from common.operations import OperationContext, OperationParam, PermanentError, operation


def _int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"param {name!r} must be an integer") from exc


@operation(
    "noticeboard.publish",
    description="Post a signed PDF (document_id) on the tenant's online notice board for `days` consecutive "
    "days (default 8, banns). Params: title, body, category, document_id, days, start_date, office, "
    "responsible. Returns publication_id, number, year, register_number, start_date, end_date.",
    params=(OperationParam("title", required=True), OperationParam("document_id", required=True), "body", "category",
            "days", "start_date", "office", "responsible"),
)
def publish(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    from accounts.models import Tenant
    from cases.models import Case
    from documents.models import Document

    from . import services

    tenant = Tenant.objects.get(pk=ctx.tenant_id)
    document = Document.objects.filter(tenant=tenant, pk=_int(params, "document_id")).first()
    case = Case.objects.filter(tenant=tenant, pk=ctx.case_id).first() if ctx.case_id else None
    start = params.get("start_date")
    try:
        start_date = dt.date.fromisoformat(str(start)) if start else None
    except ValueError as exc:
        raise PermanentError("param 'start_date' must be an ISO date") from exc
    try:
        publication = services.publication_create(
            tenant=tenant, actor=None, title=str(params.get("title") or ""), body=str(params.get("body") or ""),
            category=str(params.get("category") or "altro"), document=document,
            days=_int(params, "days", services.BANNS_DAYS), start_date=start_date,
            office=str(params.get("office") or ""), responsible=str(params.get("responsible") or ""),
            case=case, idempotency_key=f"engine:{ctx.idempotency_key}")
    except (ValidationFailed, NotFound, Conflict) as exc:
        raise PermanentError(exc.message, platform_code=exc.code, details=exc.details) from exc
    return {
        "publication_id": publication.pk, "number": publication.number, "year": publication.year,
        "register_number": publication.register_number, "start_date": publication.start_date.isoformat(),
        "end_date": publication.end_date.isoformat(),
    }
