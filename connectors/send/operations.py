"""SEND engine operations."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from django.utils.translation import gettext as _

from common.operations import OperationContext, OperationParam, operation

from ..base import config
from ..base.errors import InvalidRequest, PlatformRefused
from .client import SendClient


def _client(ctx: OperationContext) -> tuple[SendClient, dict[str, Any]]:
    cfg = config.platform_config("send", ctx.tenant_id)
    return SendClient.from_config(cfg), dict(cfg.credentials)


def _documents(params: dict[str, Any]) -> list[tuple[str, bytes]]:
    docs = params.get("documents") or []
    if not docs:
        raise InvalidRequest(_("La notifica deve avere almeno un documento."), details={"documents": ["required"]})
    out = []
    for index, doc in enumerate(docs):
        try:
            content = base64.b64decode(doc["content_base64"], validate=True)
        except (KeyError, TypeError, binascii.Error) as exc:
            raise InvalidRequest(_("Documento %(n)s non leggibile (atteso PDF in base64).") % {"n": index + 1},
                                 details={f"documents.{index}": ["content_base64"]}) from exc
        if not content.startswith(b"%PDF-"):
            raise InvalidRequest(_("Il documento %(n)s non è un PDF.") % {"n": index + 1},
                                 details={f"documents.{index}": ["not a PDF"]})
        out.append((str(doc.get("title") or f"Documento {index + 1}")[:512], content))
    return out


def _recipient(params: dict[str, Any]) -> dict[str, Any]:
    r = params.get("recipient") or {}
    tax_id = str(r.get("tax_id") or "").strip().upper()
    denomination = str(r.get("denomination") or "").strip()
    if not tax_id or not denomination:
        raise InvalidRequest(_("Destinatario della notifica incompleto (codice fiscale e nominativo)."),
                             details={"recipient": ["tax_id", "denomination"]})
    recipient: dict[str, Any] = {"recipientType": r.get("recipient_type") or ("PF" if len(tax_id) == 16 else "PG"),
                                 "taxId": tax_id, "denomination": denomination[:88]}
    if r.get("digital_domicile"):
        recipient["digitalDomicile"] = {"type": "PEC", "address": str(r["digital_domicile"])}
    address = r.get("physical_address")
    if address:
        recipient["physicalAddress"] = {k2: str(address[k1]) for k1, k2 in (
            ("address", "address"), ("zip", "zip"), ("municipality", "municipality"), ("province", "province"),
            ("at", "at"), ("address_details", "addressDetails"), ("foreign_state", "foreignState"),
        ) if address.get(k1)}
    return recipient


@operation("send.create_notification",
           description="Invia una notifica a valore legale su SEND (caricamento allegati e richiesta v2.6)",
           remember=True,
           params=(OperationParam("subject", required=True), OperationParam("recipient", required=True), OperationParam("documents", required=True), "abstract", "pa_protocol_number",
                   "taxonomy_code", "physical_communication_type", "notification_fee_policy"))
def create_notification(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: subject (<=134), abstract, pa_protocol_number (default: case number), recipient {tax_id,
    denomination, recipient_type PF|PG, digital_domicile, physical_address{address,zip,municipality,province}},
    documents [{title, content_base64 (PDF)}], optional taxonomy_code, physical_communication_type.
    result: notification_request_id, pa_protocol_number, idempotence_token, status ("WAITING")."""
    subject = str(params.get("subject") or "").strip()
    if not subject or len(subject) > 134:
        raise InvalidRequest(_("L'oggetto della notifica è obbligatorio e al massimo di 134 caratteri."),
                             details={"subject": [str(len(subject))]})
    protocol = str(params.get("pa_protocol_number") or ctx.case_number or "").strip()
    if not protocol:
        raise InvalidRequest(_("Manca il numero di protocollo della notifica."),
                             details={"pa_protocol_number": ["required"]})
    recipient = _recipient(params)
    documents = _documents(params)
    client, creds = _client(ctx)
    token = "procedo-" + hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:32]
    uploaded = [client.upload(content) for _title, content in documents]
    request: dict[str, Any] = {
        "idempotenceToken": token,
        "paProtocolNumber": protocol,
        "subject": subject,
        "recipients": [recipient],
        "documents": [u.as_notification_document(title=title, index=i)
                      for i, ((title, _c), u) in enumerate(zip(documents, uploaded, strict=True))],
        "notificationFeePolicy": params.get("notification_fee_policy") or "FLAT_RATE",
        "physicalCommunicationType": params.get("physical_communication_type") or "AR_REGISTERED_LETTER",
        "senderDenomination": str(creds.get("sender_denomination") or "Comune")[:88],
        "senderTaxId": str(creds.get("sender_tax_id") or ""),
        "taxonomyCode": str(params.get("taxonomy_code") or creds.get("taxonomy_code") or "010101P"),
        "pagoPaIntMode": "NONE",
    }
    if params.get("abstract"):
        request["abstract"] = str(params["abstract"])[:1024]
    try:
        response = client.send_notification(request)
        request_id = response["notificationRequestId"]
    except PlatformRefused as exc:
        if exc.http_status != 409:
            raise
        # Our earlier attempt got through but its answer was lost: find it by protocol number and token.
        existing = client.request_status(pa_protocol_number=protocol, idempotence_token=token)
        if existing is None:
            raise
        request_id = existing["notificationRequestId"]
    return {"notification_request_id": request_id, "pa_protocol_number": protocol, "idempotence_token": token,
            "status": "WAITING"}


@operation("send.get_status", description="Segue lo stato di una notifica SEND (richiesta, IUN, stato di consegna)",
           params=(OperationParam("notification_request_id", required=True),))
def get_status(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: notification_request_id. result: request_status (WAITING|ACCEPTED|REFUSED), iun,
    notification_status (e.g. DELIVERING, DELIVERED, EFFECTIVE_DATE), status_history, errors."""
    request_id = str(params.get("notification_request_id") or "")
    if not request_id:
        raise InvalidRequest(_("Manca l'identificativo della richiesta di notifica."),
                             details={"notification_request_id": ["required"]})
    client, _creds = _client(ctx)
    status = client.request_status(notification_request_id=request_id)
    if status is None:
        raise PlatformRefused(_("Richiesta di notifica %(id)s sconosciuta a SEND.") % {"id": request_id},
                              platform_code="PN_NOTIFICATION_NOT_FOUND")
    result: dict[str, Any] = {"request_status": status["notificationRequestStatus"], "iun": status.get("iun"),
                              "notification_status": None, "status_history": [],
                              "errors": [{"code": e.get("code"), "detail": e.get("detail")}
                                         for e in status.get("errors") or []]}
    if status.get("iun"):
        sent = client.notification(status["iun"])
        result["notification_status"] = sent["notificationStatus"]
        result["status_history"] = [h["status"] for h in sent["notificationStatusHistory"]]
    return result
