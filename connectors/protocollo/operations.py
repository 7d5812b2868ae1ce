"""Protocol registration engine operation."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.utils.translation import gettext as _

from common.operations import OperationContext, OperationParam, operation

from ..base import config
from ..base.errors import InvalidRequest
from .client import ProtocolClient
from .seal import demo_seal
from .segnatura import Administration, Correspondent, Document, Registration, SegnaturaData, build_segnatura

logger = logging.getLogger(__name__)


def _seal(creds: dict[str, Any], tenant_key: str) -> tuple[bytes, bytes]:
    if creds.get("seal_key_pem") and creds.get("seal_cert_pem"):
        return creds["seal_key_pem"].encode(), creds["seal_cert_pem"].encode()
    logger.warning("protocol: tenant %s has no seal configured, using a demo self-signed seal", tenant_key)
    return demo_seal(tenant_key)


@operation("protocol.register",
           description="Protocolla un documento in entrata o in uscita e ne produce la segnatura AgID 3.0.0",
           remember=True,
           params=(OperationParam("direction", required=True), OperationParam("subject", required=True), OperationParam("correspondent", required=True), OperationParam("document", required=True),
                   "attachments", "classification", "dossier", "received_on"))
def register(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: direction "in"|"out", subject, correspondent (string or {type person|organization|administration,
    first_name, last_name, name, fiscal_code, ipa_code, pec}), document {filename, sha256 (hex or base64),
    mime_type}, optional attachments [...], classification {name, code}, dossier {name, code}, received_on
    (ISO date the document reached the office, incoming only: the protocol's "data di arrivo").
    result: protocol_number, protocol_date, protocol_year, registry_code, segnatura_xml."""
    direction = params.get("direction")
    if direction not in ("in", "out"):
        raise InvalidRequest(_("Verso di protocollo non valido (in/out)."), details={"direction": [str(direction)]})
    subject = str(params.get("subject") or "").strip()
    if not subject:
        raise InvalidRequest(_("Manca l'oggetto da protocollare."), details={"subject": ["required"]})
    correspondent = Correspondent.from_params(params.get("correspondent"))
    primary = Document.from_params(params.get("document") or {})
    attachments = [Document.from_params(a, what="attachments") for a in params.get("attachments") or []]
    classification = params.get("classification") or {}
    cfg = config.platform_config("protocollo", ctx.tenant_id)
    creds = dict(cfg.credentials)
    client = ProtocolClient.from_config(cfg)
    administration = Administration(
        name=str(creds.get("administration_name") or f"Comune {ctx.tenant_istat}"),
        ipa_code=str(creds.get("ipa_code") or f"c_{ctx.tenant_istat}"),
        aoo_code=str(creds.get("aoo_code") or "AOO"),
        registry_code=str(creds.get("registry_code") or "PG"),
        fiscal_code=str(creds.get("fiscal_code") or ""),
        pec=str(creds.get("pec") or ""),
    )
    body = {
        "verso": "E" if direction == "in" else "U",
        "oggetto": subject,
        "corrispondente": {k: v for k, v in vars(correspondent).items() if v},
        "documento_primario": {"nome_file": primary.filename, "impronta_sha256": primary.sha256_b64,
                               "mime_type": primary.mime_type},
        "allegati": [{"nome_file": a.filename, "impronta_sha256": a.sha256_b64, "mime_type": a.mime_type}
                     for a in attachments],
        "classifica": classification.get("code") or "XI.2",
        "codice_aoo": administration.aoo_code,
        "codice_registro": administration.registry_code,
    }
    if direction == "in" and params.get("received_on"):
        try:
            body["data_arrivo"] = dt.date.fromisoformat(str(params["received_on"])[:10]).isoformat()
        except ValueError:
            raise InvalidRequest(_("Data di arrivo non valida."), details={"received_on": [str(params["received_on"])]}) from None
    answer = client.register(body, idempotency_key=ctx.idempotency_key)
    number = str(answer["numero"]).zfill(7)
    date = dt.date.fromisoformat(answer["data"])
    time = dt.time.fromisoformat(answer["ora"]) if answer.get("ora") else None
    key_pem, cert_pem = _seal(creds, ctx.tenant_istat)
    dossier = params.get("dossier")
    segnatura = build_segnatura(
        SegnaturaData(
            direction=direction, administration=administration,
            registration=Registration(number=number, date=date, time=time), subject=subject,
            correspondent=correspondent, primary=primary, attachments=attachments,
            classification=(classification.get("name") or "Anagrafe e certificazioni", classification.get("code") or "XI.2"),
            dossier=(dossier["name"], dossier["code"]) if dossier else None,
        ),
        key_pem=key_pem, cert_pem=cert_pem,
    )
    return {"direction": direction, "protocol_number": number, "protocol_date": date.isoformat(), "protocol_year": date.year,
            "registry_code": answer.get("codice_registro") or administration.registry_code,
            "segnatura_xml": segnatura.decode("utf-8")}
