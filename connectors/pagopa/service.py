"""Creating and following pagoPA debt positions for a tenant (the logic behind the operations)."""

from __future__ import annotations

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
# Taxonomy of pagoPA incomes (tassonomia dei servizi di incasso); override per tenant.
DEFAULT_CATEGORY = "9/0101108TS/"


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
        province = str(params.get("provincial_residence") or creds.get("province") or "")
        if not re.fullmatch(r"[A-Z]{2}", province):
            raise InvalidRequest(_("Provincia di residenza non valida per la marca da bollo."),
                                   details={"provincial_residence": [province]})
        transfer["stamp"] = {
            "hashDocument": str(params.get("document_hash") or ""),
            "stampType": str(params.get("stamp_type") or "01"),
            "provincialResidence": province,
        }
        if not transfer["stamp"]["hashDocument"]:
            raise InvalidRequest(_("Manca l'impronta del documento per la marca da bollo."),
                                   details={"document_hash": [_("Obbligatorio.")]})
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

    position = _reserve(tenant_id=tenant_id, idempotency_key=idempotency_key, org=org, amount=amount,
                        description=description, debtor_cf=debtor_cf, kind=kind, case_id=case_id,
                        case_number=case_number, segregation_code=str(creds.get("segregation_code", "47")))
    if position.status in ("VALID", "PUBLISHED", "PAID", "PARTIALLY_PAID", "REPORTED"):
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
            "dueDate": _due_datetime(params.get("due_date")),
            "transfer": [_transfer(params, creds, amount, description, org)],
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
             kind: str, case_id: int | None, case_number: str | None, segregation_code: str) -> DebtPosition:
    existing = DebtPosition.objects.filter(tenant_id=tenant_id, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            position = DebtPosition.objects.create(
                tenant_id=tenant_id, idempotency_key=idempotency_key, case_id=case_id,
                case_number=case_number or "", iupd="pending", iuv="pending", notice_number="pending",
                organization_fiscal_code=org, amount_cents=amount, description=description,
                debtor_fiscal_code=debtor_cf, kind=kind,
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
