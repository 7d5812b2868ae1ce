"""Registry protocol of a case's documents (art. 53 DPR 445/2000) and their filing with it.

`document_protocol` registers one document in the municipality's protocol (through the
`protocol.register` operation of connectors/protocollo: the segnatura is built and validated
against AgID's XSD there), writes the number and date on the document and on every dossier entry
of it, and keeps the segnatura as a document of the case. `declaration_store` turns an incoming
declaration keyed in from the counter, PEC or post into the document that is protocolled: the
data as received, in canonical JSON, filed in each declarant's dossier.

Both are idempotent per key: the outbox may deliver the operation twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Tenant
from audit.services import audit_record
from common import clock
from common.operations import OperationContext, PermanentError, get_operation

from . import storage
from .models import Document, DossierEntry, Origin

logger = logging.getLogger(__name__)

DECLARATION_KIND = "dichiarazione"
SEGNATURA_KIND = "segnatura"


def _create_once(tenant: Tenant, idempotency_key: str, create) -> Document:
    existing = Document.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        existing = Document.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing


def declaration_store(*, tenant: Tenant, case, declaration: dict[str, Any], subjects: list[str], title: str,
                      idempotency_key: str) -> Document:
    """The declaration as received (canonical JSON), linked to the case and filed in each subject's
    dossier as coming from the citizen."""
    content = json.dumps(declaration, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    sha = storage.put(content)
    now = clock.now()

    def create() -> Document:
        doc = Document.objects.create(
            tenant=tenant, kind=DECLARATION_KIND, title=title[:300], sha256=sha, filename="dichiarazione.json",
            mime="application/json", size=len(content), signed=False, case=case,
            idempotency_key=idempotency_key, created_at=now,
        )
        for fiscal_code in sorted({s.strip().upper() for s in subjects if s}):
            DossierEntry.objects.create(tenant=tenant, fiscal_code=fiscal_code, document=doc,
                                        document_type=DECLARATION_KIND, date=now.date(), origin=Origin.CITIZEN,
                                        case=case, created_at=now)
        return doc

    return _create_once(tenant, idempotency_key, create)


def document_protocol(*, tenant: Tenant, document: Document, direction: str, subject: str, correspondent: Any,
                      classification: dict[str, Any] | None, received_on: str | None,
                      ctx: OperationContext) -> dict[str, Any]:
    """Register `document` in the protocol (once: a document already protocolled keeps its number)
    and file the number and date on it and on its dossier entries."""
    if document.protocol_number:
        return _summary(document, segnatura_id=None)
    register = get_operation("protocol.register")
    if register is None:  # pragma: no cover - the connectors app registers it at start
        raise PermanentError("operation protocol.register is not registered")
    params: dict[str, Any] = {
        "direction": direction, "subject": subject, "correspondent": correspondent,
        "document": {"filename": document.filename, "sha256": document.sha256, "mime_type": document.mime},
        "classification": classification or {"name": "Anagrafe e certificazioni", "code": "XI.2"},
    }
    if received_on:
        params["received_on"] = received_on
    answer = register(params, OperationContext(
        tenant_id=ctx.tenant_id, tenant_istat=ctx.tenant_istat, idempotency_key=f"{ctx.idempotency_key}:protocol",
        case_id=ctx.case_id, case_number=ctx.case_number, attempt=ctx.attempt))
    number = str(answer["protocol_number"])
    date = dt.date.fromisoformat(str(answer["protocol_date"]))
    segnatura = str(answer.get("segnatura_xml") or "").encode("utf-8")
    now = clock.now()

    def create_segnatura() -> Document:
        sha = storage.put(segnatura)
        return Document.objects.create(
            tenant=tenant, kind=SEGNATURA_KIND, title=f"Segnatura di protocollo n. {number} del {date:%d/%m/%Y}",
            sha256=sha, filename=f"segnatura-{number}.xml", mime="application/xml", size=len(segnatura),
            case=document.case, idempotency_key=f"{ctx.idempotency_key}:segnatura", created_at=now,
            protocol_direction=direction, protocol_number=number, protocol_date=date,
        )

    with transaction.atomic():
        seg = _create_once(tenant, f"{ctx.idempotency_key}:segnatura", create_segnatura) if segnatura else None
        Document.objects.filter(pk=document.pk, protocol_number="").update(
            protocol_direction=direction, protocol_number=number, protocol_date=date)
        DossierEntry.objects.filter(document=document).update(protocol_number=number, protocol_date=date)
        audit_record(tenant=tenant, actor=None, action="update", object_type="document", object_id=str(document.pk),
                     object_repr=document.filename,
                     summary=f"Protocollato ({'entrata' if direction == 'in' else 'uscita'}) n. {number} del {date:%d/%m/%Y}",
                     after={"protocol_number": number, "protocol_date": date.isoformat(), "direction": direction,
                            "case": document.case_id})
    document.refresh_from_db()
    logger.info("document %s protocolled %s n. %s", document.pk, direction, number)
    return _summary(document, segnatura_id=seg.pk if seg else None)


def _summary(document: Document, *, segnatura_id: int | None) -> dict[str, Any]:
    out = {"direction": document.protocol_direction, "protocol_number": document.protocol_number,
           "protocol_date": document.protocol_date.isoformat() if document.protocol_date else None,
           "document_id": document.pk}
    if segnatura_id is not None:
        out["segnatura_document_id"] = segnatura_id
    return out
