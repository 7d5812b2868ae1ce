"""The tenant's pagoPA positions as the payments page lists them (queries only).

Every position the tenant created on GPD, with its case, payer, notice number/IUV, amount, due
date, status and receipt; and the two lists the office must act on: notices still payable although
their case has ended (to invalidate on pagoPA) and payments that arrived for an ended case (to
check: refund, or a new request).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import Case, CaseStatus
from common import clock
from connectors.pagopa.models import DebtPosition

# The filter values of the page (and of the export), with their Italian labels.
STATES = {
    "to_pay": _("Da pagare"),
    "overdue": _("Scaduto, non pagato"),
    "paid": _("Pagato"),
    "invalidated": _("Annullato su pagoPA"),
    "to_invalidate": _("Da annullare: pratica chiusa"),
    "unmatched": _("Pagato dopo la chiusura: da verificare"),
}
KINDS = {"fee": _("Diritti"), "stamp_duty": _("Marca da bollo digitale")}
OPEN_GPD = ("NEW", "DRAFT", "VALID", "PUBLISHED", "PARTIALLY_PAID")


@dataclass(frozen=True)
class PaymentFilters:
    state: str = ""
    kind: str = ""
    search: str = ""
    created_from: dt.date | None = None
    created_to: dt.date | None = None

    @classmethod
    def from_query(cls, query: Any) -> PaymentFilters:
        """From the page's query string; anything unknown or malformed is ignored, never an error."""
        def day(name: str) -> dt.date | None:
            try:
                return dt.date.fromisoformat(str(query.get(name) or "").strip())
            except ValueError:
                return None

        state = str(query.get("stato") or "")
        kind = str(query.get("tipo") or "")
        return cls(state=state if state in STATES else "", kind=kind if kind in KINDS else "",
                   search=str(query.get("q") or "").strip()[:100], created_from=day("dal"), created_to=day("al"))


def _ended_case(case_status: str | None) -> bool:
    return case_status in (CaseStatus.CLOSED, CaseStatus.CANCELLED)


def positions_for_office(*, tenant, filters: PaymentFilters | None = None) -> QuerySet[DebtPosition]:
    filters = filters or PaymentFilters()
    cases = Case.objects.filter(tenant=tenant, pk=OuterRef("case_id"))
    qs = (DebtPosition.objects.filter(tenant=tenant)
          .annotate(case_status=Subquery(cases.values("status")[:1]), case_pk=Subquery(cases.values("pk")[:1]))
          .order_by("-created_at", "-pk"))
    today = clock.today()
    ended = Q(case_status__in=(CaseStatus.CLOSED, CaseStatus.CANCELLED))
    unpaid_open = Q(paid_at__isnull=True, invalidated_at__isnull=True, status__in=OPEN_GPD)
    by_state = {
        "to_pay": unpaid_open & ~ended & (Q(due_date__isnull=True) | Q(due_date__gte=today)),
        "overdue": unpaid_open & ~ended & Q(due_date__lt=today),
        "paid": Q(paid_at__isnull=False, unmatched_at__isnull=True),
        "invalidated": Q(invalidated_at__isnull=False) | Q(status__in=("INVALID", "EXPIRED")),
        "to_invalidate": unpaid_open & ended,
        "unmatched": Q(unmatched_at__isnull=False),
    }
    if filters.state:
        qs = qs.filter(by_state[filters.state])
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.search:
        term = filters.search
        digits = term.replace(" ", "")
        qs = qs.filter(Q(case_number__icontains=term) | Q(notice_number__startswith=digits)
                       | Q(iuv__startswith=digits) | Q(debtor_fiscal_code__iexact=term)
                       | Q(debtor_name__icontains=term) | Q(description__icontains=term))
    if filters.created_from:
        qs = qs.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        qs = qs.filter(created_at__date__lte=filters.created_to)
    return qs


def state_of(position: DebtPosition) -> str:
    """One of STATES for a position annotated by positions_for_office."""
    ended = _ended_case(getattr(position, "case_status", None))
    if position.unmatched_at is not None:
        return "unmatched"
    if position.paid_at is not None:
        return "paid"
    if position.invalidated_at is not None or position.status in ("INVALID", "EXPIRED"):
        return "invalidated"
    if ended:
        return "to_invalidate"
    if position.due_date and position.due_date < clock.today():
        return "overdue"
    return "to_pay"


def attention_counts(*, tenant) -> dict[str, int]:
    """How many positions are in the two lists the office must act on."""
    qs = positions_for_office(tenant=tenant)
    ended = Q(case_status__in=(CaseStatus.CLOSED, CaseStatus.CANCELLED))
    return {
        "to_invalidate": qs.filter(ended, paid_at__isnull=True, invalidated_at__isnull=True,
                                   status__in=OPEN_GPD).count(),
        "unmatched": qs.filter(unmatched_at__isnull=False).count(),
    }


EXPORT_COLUMNS = [
    ("case_number", "Pratica"),
    ("kind", "Tipo"),
    ("description", "Causale"),
    ("debtor_name", "Pagatore"),
    ("debtor_fiscal_code", "Codice fiscale del pagatore"),
    ("notice_number", "Numero avviso"),
    ("iuv", "IUV"),
    ("amount", "Importo (EUR)"),
    ("due_date", "Scadenza"),
    ("state", "Stato"),
    ("gpd_status", "Stato su pagoPA"),
    ("paid_at", "Pagato il"),
    ("receipt_id", "Ricevuta"),
    ("psp_name", "Prestatore (PSP)"),
    ("payment_method", "Metodo"),
    ("invalidated_at", "Annullato il"),
    ("created_at", "Creato il"),
]


def _local(value: dt.datetime | None) -> dt.datetime | None:
    """A naive local time (Europe/Rome): what a spreadsheet cell shows and an office reads."""
    return timezone.localtime(value).replace(tzinfo=None, microsecond=0) if value else None


def export_row(position: DebtPosition) -> dict[str, Any]:
    return {
        "case_number": position.case_number,
        "kind": str(KINDS.get(position.kind, position.kind)),
        "description": position.description,
        "debtor_name": position.debtor_name,
        "debtor_fiscal_code": position.debtor_fiscal_code,
        "notice_number": position.notice_number,
        "iuv": position.iuv,
        "amount": Decimal(position.amount_cents) / 100,
        "due_date": position.due_date,
        "state": str(STATES[state_of(position)]),
        "gpd_status": position.status,
        "paid_at": _local(position.paid_at),
        "receipt_id": position.receipt_id,
        "psp_name": position.psp_name,
        "payment_method": position.payment_method,
        "invalidated_at": _local(position.invalidated_at),
        "created_at": _local(position.created_at),
    }


def live_refunds_by_position(*, tenant, position_ids: list[int]) -> dict[int, Any]:
    """{position id: its refund that is not rejected} for the positions of a page."""
    from .models import Refund, RefundStatus

    return {r.position_id: r for r in Refund.objects.filter(tenant=tenant, position_id__in=position_ids)
            .exclude(status=RefundStatus.REJECTED)}


def refunds_in_progress(*, tenant) -> QuerySet:
    """Refunds proposed or approved and not yet transferred: what the supervisor must act on."""
    from .models import Refund, RefundStatus

    return (Refund.objects.filter(tenant=tenant, status__in=(RefundStatus.REQUESTED, RefundStatus.APPROVED))
            .select_related("position", "requested_by").order_by("requested_at", "pk"))


def refundable_positions(*, tenant) -> QuerySet[DebtPosition]:
    """Payments that arrived after their case ended and have no refund under way: to propose one."""
    from .models import RefundStatus

    return (DebtPosition.objects.filter(tenant=tenant, unmatched_at__isnull=False, paid_at__isnull=False)
            .exclude(refunds__status__in=(RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.PAID))
            .order_by("paid_at", "pk"))
