"""Creating and following pagoPA debt positions for a tenant (the logic behind the operations)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from common import clock

from ..base import config
from ..base.errors import InvalidRequest, PlatformRefused
from .client import GpdClient
from .models import DebtPosition
from .notice import build_iuv, iuv_base_for

logger = logging.getLogger(__name__)

PAID_STATUSES = {"PAID", "REPORTED"}
# Positions a citizen can still pay (GPD statuses).
PAYABLE_STATUSES = {"VALID", "PUBLISHED"}
# Taxonomy of pagoPA incomes (tassonomia dei servizi di incasso); override per tenant.
DEFAULT_CATEGORY = "9/0101108TS/"
# The transfer category of a marca da bollo digitale: "a taxonomy code referable to the digital
# stamp" (pagoPA, servizio @e.bollo). Placeholder until the tenant joins @e.bollo 2.0 and sets
# its own code (credential `stamp_category`): to be checked against pagoPA's taxonomy table.
DEFAULT_STAMP_CATEGORY = "9/0101108TS/"
# pagoPA issues the digital stamp in one cut only: 16.00 euro (D.P.R. 642/1972, tariffa art. 1).
STAMP_AMOUNT_CENTS = 1600


def gpd_client(tenant: Any) -> tuple[GpdClient, dict[str, Any]]:
    """The tenant's GPD client and its pagoPA credentials (IBAN, segregation code, ...), one configuration read."""
    cfg = config.platform_config("pagopa", tenant)
    return GpdClient.from_config(cfg), dict(cfg.credentials)


def _amount_cents(params: dict[str, Any]) -> int:
    if "amount_cents" in params:
        value = params["amount_cents"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequest(_("Importo non valido."), details={"amount_cents": [_("Intero positivo, in centesimi.")]})
        return value
    try:
        euros = Decimal(str(params["amount"]))
    except (KeyError, InvalidOperation) as exc:
        raise InvalidRequest(_("Importo mancante o non valido."), details={"amount": [_("Obbligatorio.")]}) from exc
    cents = euros * 100
    if cents != cents.to_integral_value() or cents < 1:
        raise InvalidRequest(_("Importo non valido."), details={"amount": [_("Al massimo due decimali, positivo.")]})
    return int(cents)


def _due_day(value: str | None) -> dt.date:
    return dt.date.fromisoformat(_due_datetime(value)[:10])


def _due_datetime(value: str | None) -> str:
    if not value:
        day = clock.today() + dt.timedelta(days=30)
    else:
        try:
            day = dt.date.fromisoformat(str(value)[:10])
        except ValueError as exc:
            raise InvalidRequest(_("Data di scadenza non valida."), details={"due_date": [str(value)]}) from exc
    return f"{day.isoformat()}T23:59:59"


def stamp_document_hash(params: dict[str, Any]) -> str:
    """The stamped document's digest as @e.bollo wants it: SHA-256, base64 (44 characters).

    `document_sha256` is the hex digest the documents app records for every signed deed;
    `document_hash` the base64 form already. Anything else is refused: a stamp bound to a
    wrong digest would not discharge the duty on the deed."""
    hex_digest = str(params.get("document_sha256") or "").strip().lower()
    if hex_digest:
        if not re.fullmatch(r"[0-9a-f]{64}", hex_digest):
            raise InvalidRequest(_("Impronta SHA-256 del documento non valida."),
                                 details={"document_sha256": [hex_digest[:80]]})
        return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
    value = str(params.get("document_hash") or "").strip()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidRequest(_("Manca l'impronta SHA-256 del documento per la marca da bollo."),
                             details={"document_sha256": [_("Obbligatorio.")]})
    return value


def _transfer(params: dict[str, Any], creds: dict[str, Any], amount: int, description: str, org: str) -> dict:
    transfer: dict[str, Any] = {
        "idTransfer": "1",
        "amount": amount,
        "organizationFiscalCode": org,
        "remittanceInformation": description,
        "category": params.get("category") or creds.get("category") or DEFAULT_CATEGORY,
    }
    if params.get("kind", "fee") == "stamp_duty":
        # Marca da bollo digitale: the stamp replaces the IBAN (GPD TransferModel: mutually exclusive).
        province = str(params.get("provincial_residence") or creds.get("province")
                       or params.get("fallback_province") or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", province):
            raise InvalidRequest(_("Provincia di residenza non valida per la marca da bollo."),
                                   details={"provincial_residence": [province[:10]]})
        if amount != STAMP_AMOUNT_CENTS:
            raise InvalidRequest(_("La marca da bollo digitale è di 16,00 euro."),
                                 details={"amount": [str(amount)]})
        transfer["category"] = params.get("category") or creds.get("stamp_category") or DEFAULT_STAMP_CATEGORY
        transfer["stamp"] = {
            "hashDocument": stamp_document_hash(params),
            "stampType": "01",  # imposta di bollo
            "provincialResidence": province,
        }
    else:
        iban = params.get("iban") or creds.get("iban") or "IT60X0542811101000000123456"
        transfer["iban"] = iban
    return transfer


def debt_position_create(*, tenant_id: int, idempotency_key: str, params: dict[str, Any],
                         case_id: int | None = None, case_number: str | None = None) -> dict[str, Any]:
    client, creds = gpd_client(tenant_id)
    org = creds.get("organization_fiscal_code", "")
    amount = _amount_cents(params)
    description = str(params.get("description") or "").strip()[:140]
    debtor_cf = str(params.get("debtor_fiscal_code") or "").strip().upper()
    debtor_name = str(params.get("debtor_name") or "").strip()
    if not description or not debtor_cf or not debtor_name:
        raise InvalidRequest(
            _("Causale, codice fiscale e nominativo del debitore sono obbligatori."),
            details={k: [_("Obbligatorio.")] for k, v in
                     (("description", description), ("debtor_fiscal_code", debtor_cf), ("debtor_name", debtor_name))
                     if not v},
        )
    kind = params.get("kind", "fee")
    if kind not in ("fee", "stamp_duty"):
        raise InvalidRequest(_("Tipo di pagamento non valido."), details={"kind": [str(kind)]})

    due = _due_datetime(params.get("due_date"))
    extra_documents = params.get("extra_stamp_documents") or []
    if not isinstance(extra_documents, list) or len(extra_documents) > 4 or (extra_documents and kind != "stamp_duty"):
        # GPD takes at most 5 transfers in a payment option: one stamp each.
        raise InvalidRequest(_("Al massimo quattro marche da bollo aggiuntive, solo per l'imposta di bollo."),
                             details={"extra_stamp_documents": [str(len(extra_documents))]
                                      if isinstance(extra_documents, list) else ["not_a_list"]})
    if extra_documents:
        # More than one document to stamp (the banns: the deed and the request to the other
        # municipality): one notice, one payment, one marca da bollo digitale per document.
        if amount != STAMP_AMOUNT_CENTS * (1 + len(extra_documents)):
            raise InvalidRequest(_("L'importo deve essere di 16,00 euro per ogni marca da bollo."),
                                 details={"amount": [str(amount)]})
        transfers = [_transfer(params, creds, STAMP_AMOUNT_CENTS, description, org)]
        for index, digest in enumerate(extra_documents, start=2):
            extra = _transfer({**params, "document_sha256": digest, "document_hash": ""}, creds, STAMP_AMOUNT_CENTS,
                              description, org)
            transfers.append({**extra, "idTransfer": str(index)})
    else:
        transfers = [_transfer(params, creds, amount, description, org)]
    transfer = transfers[0]
    position = _reserve(tenant_id=tenant_id, idempotency_key=idempotency_key, org=org, amount=amount,
                        description=description, debtor_cf=debtor_cf, kind=kind, case_id=case_id,
                        case_number=case_number, segregation_code=str(creds.get("segregation_code", "47")),
                        extra={"debtor_name": debtor_name[:140], "due_date": dt.date.fromisoformat(due[:10]),
                               "document_hash": (transfer.get("stamp") or {}).get("hashDocument", "")})
    if position.status in ("VALID", "PUBLISHED", "PAID", "PARTIALLY_PAID", "REPORTED", "INVALID", "EXPIRED"):
        return _result(position)  # a repeated delivery: already done

    body = {
        "iupd": position.iupd,
        "type": "F" if len(debtor_cf) == 16 else "G",
        "fiscalCode": debtor_cf,
        "fullName": debtor_name,
        "companyName": str(creds.get("company_name") or creds.get("setting:company_name") or "Comune")[:140],
        "switchToExpired": False,
        "paymentOption": [{
            "iuv": position.iuv,
            "amount": amount,
            "description": description,
            "isPartialPayment": False,
            "dueDate": due,
            "transfer": transfers,
        }],
    }
    if params.get("debtor_email"):
        body["email"] = str(params["debtor_email"])
    try:
        created = client.create_position(body, publish=True)
        status = created.get("status", "VALID")
    except PlatformRefused as exc:
        if exc.http_status != 409:
            raise
        # A previous attempt created it but its answer was lost: read it back and finish.
        existing = client.get_position(position.iupd)
        if existing is None:
            raise
        status = existing.get("status", "DRAFT")
        if status == "DRAFT":
            status = client.publish_position(position.iupd).get("status", "VALID")
    except InvalidRequest:
        raise
    DebtPosition.objects.filter(pk=position.pk).update(status=status, due_date=_due_day(params.get("due_date")))
    position.status = status
    return _result(position)


def _reserve(*, tenant_id: int, idempotency_key: str, org: str, amount: int, description: str, debtor_cf: str,
             kind: str, case_id: int | None, case_number: str | None, segregation_code: str,
             extra: dict[str, Any] | None = None) -> DebtPosition:
    existing = DebtPosition.objects.filter(tenant_id=tenant_id, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            position = DebtPosition.objects.create(
                tenant_id=tenant_id, idempotency_key=idempotency_key, case_id=case_id,
                case_number=case_number or "", iupd="pending", iuv="pending", notice_number="pending",
                organization_fiscal_code=org, amount_cents=amount, description=description,
                debtor_fiscal_code=debtor_cf, kind=kind, **(extra or {}),
            )
            iuv = build_iuv(segregation_code=segregation_code,
                            iuv_base=iuv_base_for(year=clock.today().year, sequence=position.pk % 10**9))
            position.iuv = iuv
            position.notice_number = "3" + iuv
            position.iupd = f"PROCEDO-{tenant_id}-{iuv}"
            position.save(update_fields=["iuv", "notice_number", "iupd"])
            return position
    except IntegrityError:
        return DebtPosition.objects.get(tenant_id=tenant_id, idempotency_key=idempotency_key)


def _result(position: DebtPosition) -> dict[str, Any]:
    return {
        "iupd": position.iupd,
        "iuv": position.iuv,
        "notice_number": position.notice_number,
        "organization_fiscal_code": position.organization_fiscal_code,
        "amount_cents": position.amount_cents,
        "status": position.status,
        "kind": position.kind,
        "due_date": position.due_date.isoformat() if position.due_date else None,
        **({"document_hash": position.document_hash} if position.document_hash else {}),
    }


def payment_status_get(*, tenant_id: int, iupd: str | None = None, notice_number: str | None = None) -> dict[str, Any]:
    qs = DebtPosition.objects.filter(tenant_id=tenant_id)
    position = qs.filter(iupd=iupd).first() if iupd else qs.filter(notice_number=notice_number).first()
    target = iupd or (position.iupd if position else None)
    if not target:
        raise InvalidRequest(_("Posizione debitoria sconosciuta."), details={"iupd": [str(iupd or notice_number)]})
    client, _creds = gpd_client(tenant_id)
    remote = client.get_position(target)
    if remote is None:
        raise PlatformRefused(_("La posizione debitoria %(iupd)s non esiste su pagoPA.") % {"iupd": target},
                              platform_code="NOT_FOUND")
    status = remote.get("status", "")
    paid = status in PAID_STATUSES
    payment_date = remote.get("paymentDate")
    if position is not None:
        updates: dict[str, Any] = {"status": status}
        if paid and position.paid_at is None:
            updates["paid_at"] = _parse_ts(payment_date) or clock.now()
        DebtPosition.objects.filter(pk=position.pk).update(**updates)
    return {"iupd": target, "status": status, "paid": paid, "payment_date": payment_date,
            "notice_number": position.notice_number if position else None}


def _parse_ts(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def receipt_fields(remote: dict[str, Any]) -> dict[str, Any]:
    """What the paid payment option tells about the receipt (GPD PaymentOptionModelResponse)."""
    for option in remote.get("paymentOption") or []:
        if option.get("status") in ("PO_PAID", "PO_PARTIALLY_REPORTED", "PO_REPORTED"):
            return {
                "receipt_id": str(option.get("idReceipt") or "")[:64],
                "psp_name": str(option.get("pspCompany") or "")[:140],
                "payment_method": str(option.get("paymentMethod") or "")[:40],
            }
    return {}


def stamp_hashes(remote: dict[str, Any]) -> list[str]:
    """The document digests the position's digital stamps are bound to, as GPD holds them."""
    return [str((t.get("stamp") or {}).get("hashDocument") or "")
            for o in remote.get("paymentOption") or [] for t in o.get("transfer") or [] if t.get("stamp")]


def debt_position_invalidate(*, tenant_id: int, iupd: str) -> dict[str, Any]:
    """Make a position unpayable on GPD because its case ended (cancelled, lapsed, expired).

    Idempotent: a position already invalid (or never created on GPD) is done; one paid meanwhile
    is not invalidated but recorded as paid, so the payments poller reports it for its closed
    case instead of losing it. Result: iupd, status, invalidated (bool), paid (bool)."""
    position = DebtPosition.objects.filter(tenant_id=tenant_id, iupd=iupd).first()
    if position is None:
        raise InvalidRequest(_("Posizione debitoria sconosciuta."), details={"iupd": [str(iupd)[:80]]})
    if position.invalidated_at is not None or position.paid_at is not None:
        return _closing_result(position)
    client, _creds = gpd_client(tenant_id)
    now = clock.now()
    try:
        answer = client.invalidate_position(position.iupd)
        updates: dict[str, Any] = {"status": answer.get("status", "INVALID"), "invalidated_at": now}
    except PlatformRefused as exc:
        if exc.http_status not in (404, 409):
            raise
        remote = client.get_position(position.iupd)
        if remote is None:
            # Never reached GPD (the case ended before the creation call): nothing can be paid.
            updates = {"status": "INVALID", "invalidated_at": now}
        else:
            status = remote.get("status", position.status)
            updates = {"status": status}
            if status in PAID_STATUSES:
                updates["paid_at"] = _parse_ts(remote.get("paymentDate")) or now
                updates.update(receipt_fields(remote))
            elif status in ("INVALID", "EXPIRED"):
                updates["invalidated_at"] = now
            else:
                raise
    DebtPosition.objects.filter(pk=position.pk).update(**updates)
    position.refresh_from_db()
    logger.info("pagoPA position %s closed: %s", position.iupd, position.status)
    return _closing_result(position)


def _closing_result(position: DebtPosition) -> dict[str, Any]:
    return {"iupd": position.iupd, "status": position.status, "invalidated": position.invalidated_at is not None,
            "paid": position.paid_at is not None}
