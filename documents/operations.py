"""Engine operation: render a template with case data, sign it, store it, file it."""

from __future__ import annotations

import logging
from typing import Any

from common.errors import ConfigurationError, NotFound, ProcedoError, ValidationFailed
from common.operations import OperationContext, PermanentError, RetryableError, operation

from .errors import ConversionFailed, RenderFailed, SigningFailed, TemplateRejected, TimestampUnavailable

logger = logging.getLogger(__name__)


@operation(
    "documents.render_and_sign",
    description="Fill a DOCX template with case data, convert to PDF/A-2b, sign (PAdES), store, "
    "link to the case and to each subject's dossier. Params: template, data, signer_role, kind.",
)
def render_and_sign(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    from accounts.models import Tenant
    from cases.models import Case

    from . import services

    template_name = params.get("template")
    if not template_name or not isinstance(params.get("data", {}), dict):
        raise PermanentError("params 'template' (name) and 'data' (mapping) are required")
    tenant = Tenant.objects.get(pk=ctx.tenant_id)
    case = Case.objects.filter(tenant=tenant, pk=ctx.case_id).first() if ctx.case_id else None
    subjects = params.get("subjects")
    if subjects is None and case is not None:
        subjects = [s.get("fiscal_code") for s in case.subjects if isinstance(s, dict)]
    try:
        template = services.template_load(name=template_name, process_id=case.process_id if case else None)
        data = dict(params.get("data") or {})
        data.setdefault("ente", {"nome": tenant.name, "indirizzo": ""})  # the letterhead
        doc = services.document_issue(
            tenant=tenant, case=case, template=template, data=data,
            kind=params.get("kind") or template_name, title=params.get("title", ""),
            signer_role=params.get("signer_role") or "default", signer_role_label=params.get("signer_role_label", ""),
            idempotency_key=ctx.idempotency_key, subjects=subjects or [],
        )
    except (TimestampUnavailable, ConversionFailed) as exc:
        raise RetryableError(exc.message, platform_code=exc.code) from exc
    except (TemplateRejected, RenderFailed, SigningFailed, NotFound, ValidationFailed, ConfigurationError) as exc:
        raise PermanentError(exc.message, platform_code=exc.code) from exc
    except ProcedoError as exc:
        raise RetryableError(exc.message, platform_code=exc.code) from exc
    return {"document_id": doc.pk, "sha256": doc.sha256, "verification_code": doc.verification_code}
