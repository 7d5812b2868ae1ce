"""Engine operation: the SLA terms a malfunction ticket is measured with (support.terms)."""

from __future__ import annotations

from typing import Any

from common.errors import ValidationFailed
from common.operations import OperationContext, PermanentError, operation


@operation("support.sla_terms",
           description="The tenant's SLA terms for malfunction tickets: calendar (service hours, closing days) "
           "and per level (1-4) label, target minutes and penalties. No params.",
           params=())
def sla_terms(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    from accounts.models import Tenant

    from .terms import terms_of

    try:
        return terms_of(Tenant.objects.get(pk=ctx.tenant_id))
    except ValidationFailed as exc:
        raise PermanentError(exc.message) from exc
