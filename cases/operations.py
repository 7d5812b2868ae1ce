"""Engine operations of the cases app (registered by CasesConfig.ready)."""

from __future__ import annotations

from typing import Any

from common.operations import OperationContext, operation


@operation(
    "notify.citizen",
    description="Protocol a case's deed (out) and deliver it to the citizen: App IO when the municipality's "
    "service is active for them, otherwise SEND (to the PEC they declared, their digital domicile or by "
    "registered post); the delivery date comes back to the case (delivery_message). Params: recipient "
    "{fiscal_code, given_name, family_name, pec, address}, kind, title, markdown, document_id, protocol, "
    "delivery_message. Result: notice_id, channel, status, protocol_number, protocol_date.",
    remember=True,
)
def notify_citizen(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    from .notices import notify_citizen as run

    return run(params, ctx)
