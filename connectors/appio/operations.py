"""App IO engine operations."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from common.operations import OperationContext, OperationParam, operation

from ..base.errors import InvalidRequest
from .client import AppIoClient


def _client(ctx: OperationContext) -> AppIoClient:
    return AppIoClient.from_config(ctx.tenant_id)


def _fiscal_code(params: dict[str, Any]) -> str:
    value = str(params.get("fiscal_code") or "").strip().upper()
    if len(value) != 16:
        raise InvalidRequest(_("Codice fiscale del destinatario mancante o non valido."),
                             details={"fiscal_code": [value]})
    return value


@operation("appio.get_profile", description="Verifica se il cittadino è su App IO e accetta messaggi dal servizio",
           params=(OperationParam("fiscal_code", required=True),))
def get_profile(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: fiscal_code. result: on_io, sender_allowed."""
    profile = _client(ctx).get_profile(_fiscal_code(params))
    return {"on_io": profile.on_io, "sender_allowed": profile.sender_allowed}


@operation("appio.send_message", description="Invia un messaggio al cittadino su App IO", remember=True,
           params=(OperationParam("fiscal_code", required=True), OperationParam("subject", required=True), OperationParam("markdown", required=True), "payment_data", "due_date"))
def send_message(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: fiscal_code, subject (10-120), markdown (80-10000), optional payment_data
    {amount (cents), notice_number, invalid_after_due_date, payee_fiscal_code}, optional due_date.
    result: {"sent": true, "message_id"} or {"sent": false, "reason": "not_on_io"|"sender_not_allowed"}."""
    from .client import validate_content

    fiscal_code = _fiscal_code(params)
    subject = str(params.get("subject") or "")
    markdown = str(params.get("markdown") or "")
    validate_content(subject, markdown)  # refuse before any call: no retry would fix it
    client = _client(ctx)
    profile = client.get_profile(fiscal_code)
    if not profile.on_io:
        return {"sent": False, "reason": "not_on_io"}
    if not profile.sender_allowed:
        return {"sent": False, "reason": "sender_not_allowed"}
    payment = params.get("payment_data")
    payment_data = None
    if payment:
        payment_data = {"amount": int(payment["amount"]), "notice_number": str(payment["notice_number"])}
        if "invalid_after_due_date" in payment:
            payment_data["invalid_after_due_date"] = bool(payment["invalid_after_due_date"])
        if payment.get("payee_fiscal_code"):
            payment_data["payee"] = {"fiscal_code": str(payment["payee_fiscal_code"])}
    message_id = client.submit_message(fiscal_code, subject=subject, markdown=markdown, payment_data=payment_data,
                                       due_date=params.get("due_date"))
    return {"sent": True, "message_id": message_id}
