"""Engine operations of the cases app (registered by CasesConfig.ready)."""

from __future__ import annotations

from typing import Any

from common.operations import OperationContext, OperationParam, operation


@operation(
    "notify.citizen",
    description="Protocol a case's deed (out) and deliver it to the citizen: App IO when the municipality's "
    "service is active for them, otherwise SEND (to the PEC they declared, their digital domicile or by "
    "registered post); the delivery date comes back to the case (delivery_message), an undeliverable "
    "notice too (failure_message). Params: recipient {fiscal_code, given_name, family_name, pec, address} "
    "or recipients (every adult among them, each their own notice; pec and address for those without), "
    "kind, title, markdown, document_id, protocol, delivery_message, failure_message. Result: notice_id, "
    "channel, status, fiscal_code, protocol_number, protocol_date, sent_on (and notices, one per recipient).",
    remember=True,
    # recipient (one person) or recipients (several, each their own notice): one of the two
    params=("recipient", "recipients", "pec", "address", OperationParam("title", required=True), "kind", "markdown",
            "document_id", "protocol", "delivery_message", "failure_message"),
)
def notify_citizen(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    from .notices import notify_citizen as run

    return run(params, ctx)


@operation(
    "cases.open_linked",
    description="Open the case of another procedure for this case's request (a residence declaration filed on "
    "the ANPR portal opens a residence change), once: the business key names it, a retry gives back the "
    "same case. Params: process_id, data (its start data), business_key, received_on, channel. Result: "
    "case_id, case_number, process_id, business_key, created.",
    params=(OperationParam("process_id", required=True), OperationParam("business_key", required=True),
            OperationParam("data", required=True), "received_on", "channel"),
)
def open_linked(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    from accounts.models import Tenant
    from common.errors import ValidationFailed

    from .services import case_start_from_platform

    process_id, key = str(params.get("process_id") or ""), str(params.get("business_key") or "")[:100]
    data = params.get("data")
    if not process_id or not key or not isinstance(data, dict):
        raise ValidationFailed("process_id, business_key and data are required", code="invalid_params")
    tenant = Tenant.objects.get(pk=ctx.tenant_id)
    case, created = case_start_from_platform(
        tenant=tenant, process_id=process_id, data=data, business_key=key,
        source=f"pratica {ctx.case_number}" if ctx.case_number else "Procedo",
        received_on=params.get("received_on") or None, channel=params.get("channel") or None)
    return {"case_id": case.pk, "case_number": case.number, "process_id": process_id, "business_key": key,
            "created": created}
