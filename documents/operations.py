"""Engine operation: render a template with case data, sign it, store it, file it."""

from __future__ import annotations

import logging
from typing import Any

from common import clock
from common.errors import ConfigurationError, NotFound, ProcedoError, ValidationFailed
from common.operations import OperationContext, OperationParam, PermanentError, RetryableError, operation

from .errors import ConversionFailed, RenderFailed, SigningFailed, TemplateRejected, TimestampUnavailable

logger = logging.getLogger(__name__)


@operation(
    "documents.render_and_sign",
    description="Fill a DOCX template with case data, convert to PDF/A-2b, sign (PAdES), store, "
    "link to the case and to each subject's dossier. Params: template, data, signer_role, kind.",
    # data: the deed's mapping (manifest deeds) fills it in when the model does not
    params=(OperationParam("template", required=True), "data", "kind", "title", "signer_role", "signer_role_label",
            "subjects"),
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
        template = services.template_load(name=template_name, process_id=case.process_id if case else None,
                                          tenant=tenant, version=case.process_version if case else None)
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


@operation(
    "documents.preserve",
    description="Send a signed document to long-term preservation (PARER): build its SIP, deposit it "
    "with parer.send_sip, record the outcome on the document. Params: document_id.",
    params=(OperationParam("document_id", required=True),),
)
def preserve(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    import base64

    from common.operations import get_operation
    from connectors.base.config import credentials  # the tenant's PARER account (versatore)

    from . import storage
    from .models import Document
    from .sip import build_sip, component_id

    try:
        document = Document.objects.select_related("case").get(tenant_id=ctx.tenant_id, pk=int(params["document_id"]))
    except (KeyError, TypeError, ValueError, Document.DoesNotExist) as exc:
        raise PermanentError("params 'document_id' must name a document of this tenant") from exc
    if document.preservation_status:  # already deposited: a repeated delivery changes nothing
        return {"outcome": document.preservation_status, "urn_sip": document.preservation_urn,
                "already_preserved": True}
    if not document.signed:
        raise PermanentError("only signed documents are sent to preservation")
    sip_xml = build_sip(document, credentials=credentials("parer", ctx.tenant_id))
    content = storage.get(document.sha256)
    result = get_operation("parer.send_sip")({
        "sip_xml": sip_xml.decode("utf-8"),
        "files": [{"id": component_id(document), "filename": document.filename,
                   "content_base64": base64.b64encode(content).decode("ascii"), "content_type": document.mime}],
    }, ctx)
    Document.objects.filter(pk=document.pk).update(
        preservation_status=result.get("outcome", ""), preservation_urn=result.get("urn_sip", "")[:500],
        preserved_at=clock.now())
    return {"outcome": result.get("outcome"), "urn_sip": result.get("urn_sip"),
            "already_preserved": bool(result.get("already_preserved"))}


@operation(
    "documents.protocol",
    description="Register a case document in the municipality's protocol (protocol.register, segnatura "
    "validated) and file its number and date on the document and its dossier entries. Params: direction "
    "in|out, subject, correspondent, document_id, or declaration (the data as received, stored and filed "
    "in each subject's dossier, for a declaration keyed in from the counter, PEC or post), received_on, "
    "classification {name, code}. Result: direction, protocol_number, protocol_date, document_id.",
    # document_id or declaration: one of the two
    params=(OperationParam("direction", required=True), OperationParam("subject", required=True),
            OperationParam("correspondent", required=True), "document_id", "declaration", "received_on",
            "classification"),
)
def protocol(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    from accounts.models import Tenant
    from cases.models import Case

    from .models import Document
    from .protocol import declaration_store, document_protocol

    direction = params.get("direction")
    if direction not in ("in", "out"):
        raise PermanentError("params 'direction' must be 'in' or 'out'")
    tenant = Tenant.objects.get(pk=ctx.tenant_id)
    case = Case.objects.filter(tenant=tenant, pk=ctx.case_id).first() if ctx.case_id else None
    if params.get("document_id") not in (None, ""):
        try:
            document = Document.objects.get(tenant=tenant, pk=int(params["document_id"]))
        except (TypeError, ValueError, Document.DoesNotExist) as exc:
            raise PermanentError("params 'document_id' must name a document of this tenant") from exc
    elif isinstance(params.get("declaration"), dict):
        subjects = [s.get("fiscal_code") for s in (case.subjects if case else []) if isinstance(s, dict)]
        document = declaration_store(tenant=tenant, case=case, declaration=params["declaration"],
                                     subjects=[s for s in subjects if s], title=str(params.get("subject") or ""),
                                     idempotency_key=f"{ctx.idempotency_key}:declaration")
    else:
        raise PermanentError("params 'document_id' or 'declaration' are required")
    try:
        return document_protocol(tenant=tenant, document=document, direction=direction,
                                 subject=str(params.get("subject") or ""), correspondent=params.get("correspondent"),
                                 classification=params.get("classification"),
                                 received_on=str(params.get("received_on") or "") or None, ctx=ctx)
    except ProcedoError:
        raise
    except (KeyError, ValueError) as exc:
        raise PermanentError(f"protocol answer not usable: {exc}") from exc
