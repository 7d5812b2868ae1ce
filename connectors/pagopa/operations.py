"""pagoPA engine operations."""

from __future__ import annotations

from typing import Any

from common.operations import OperationContext, OperationParam, operation

from .service import debt_position_create, debt_position_invalidate, payment_status_get


@operation("pagopa.create_debt_position",
           description="Crea e pubblica su pagoPA (GPD) una posizione debitoria per diritti o imposta di bollo",
           # amount_cents or amount: one of the two (the operation refuses neither)
           params=(OperationParam("description", required=True), OperationParam("debtor_fiscal_code", required=True), OperationParam("debtor_name", required=True),
                   "amount_cents", "amount", "due_date", "kind", "iban", "category", "debtor_email",
                   "document_sha256", "document_hash", "provincial_residence", "extra_stamp_documents"))
def create_debt_position(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: amount_cents (or amount in euro), description, debtor_fiscal_code, debtor_name,
    due_date (YYYY-MM-DD, optional), kind "fee"|"stamp_duty", iban/category (optional),
    for a marca da bollo digitale (kind "stamp_duty", 16.00 euro): document_sha256 (hex, the signed
    deed's digest) or document_hash (base64) and provincial_residence (the payer's province);
    extra_stamp_documents (hex SHA-256 digests of further documents to stamp, 16.00 euro each: the
    amount is 16.00 times the number of documents, one transfer per stamp in the same notice).
    result: iupd, iuv, notice_number, organization_fiscal_code, amount_cents, status."""
    if params.get("kind") == "stamp_duty" and not str(params.get("provincial_residence") or "").strip():
        # A payer with no Italian province on record (resident abroad, not found in ANPR): @e.bollo
        # still wants one; the municipality's own province is the fallback (to be checked with pagoPA).
        params = {**params, "fallback_province": _tenant_province(ctx.tenant_istat)}
    return debt_position_create(tenant_id=ctx.tenant_id, idempotency_key=ctx.idempotency_key, params=params,
                                case_id=ctx.case_id, case_number=ctx.case_number)


def _tenant_province(istat_code: str) -> str:
    from forms.models import Municipality

    return (Municipality.objects.filter(istat_code=istat_code).order_by("-current")
            .values_list("province", flat=True).first()) or ""


@operation("pagopa.get_payment_status", description="Legge su pagoPA lo stato di pagamento di una posizione debitoria",
           params=("iupd", "notice_number"))  # one of the two
def get_payment_status(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: iupd or notice_number. result: iupd, status, paid, payment_date, notice_number."""
    return payment_status_get(tenant_id=ctx.tenant_id, iupd=params.get("iupd"),
                              notice_number=params.get("notice_number"))


@operation("pagopa.invalidate_debt_position",
           description="Annulla su pagoPA (GPD) una posizione debitoria non pagata della pratica conclusa",
           params=(OperationParam("iupd", required=True),))
def invalidate_debt_position(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: iupd. result: iupd, status, invalidated, paid (paid meanwhile: reported, not invalidated)."""
    return debt_position_invalidate(tenant_id=ctx.tenant_id, iupd=str(params.get("iupd") or ""))
