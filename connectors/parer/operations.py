"""PARER engine operation."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.utils.translation import gettext as _

from common.operations import OperationContext, OperationParam, operation

from ..base.errors import InvalidRequest
from .client import ParerClient, ParerFile


@operation("parer.send_sip", description="Versa in conservazione a PARER un'unità documentaria (SIP e file)",
           remember=True, params=(OperationParam("sip_xml", required=True), "files"))
def send_sip(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: sip_xml (the UnitaDocumentaria index, string), files [{id (component ID), filename,
    content_base64, content_type}]. result: outcome (POSITIVO|WARNING), urn_sip, deposited_at,
    key {number, year, registry}, warnings, already_preserved."""
    sip_xml = params.get("sip_xml")
    if not isinstance(sip_xml, str) or not sip_xml.strip():
        raise InvalidRequest(_("Manca l'indice SIP da versare."), details={"sip_xml": ["required"]})
    files = []
    for index, item in enumerate(params.get("files") or []):
        try:
            content = base64.b64decode(item["content_base64"], validate=True)
            files.append(ParerFile(component_id=str(item["id"]), filename=str(item.get("filename") or item["id"]),
                                   content=content,
                                   content_type=str(item.get("content_type") or "application/octet-stream")))
        except (KeyError, TypeError, binascii.Error) as exc:
            raise InvalidRequest(_("File %(n)s del versamento non leggibile.") % {"n": index + 1},
                                 details={f"files.{index}": ["id", "content_base64"]}) from exc
    return ParerClient.from_config(ctx.tenant_id).send_sip(sip_xml.encode("utf-8"), files).as_dict()
