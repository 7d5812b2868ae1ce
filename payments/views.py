"""The tenant's payments page (every pagoPA position, filters, CSV/ODS export) for the office."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from common import clock
from common.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from common.pages import page_tenant
from documents.exports import export_rows

from . import selectors, services
from .services import ACTOR_ROLES

PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "ods")
# An export is a report for the office, not a dump: at most this many rows (the filters narrow it).
EXPORT_MAX_ROWS = 50_000


def _tenant_and_roles(request: HttpRequest):
    tenant = page_tenant(request)
    roles = services.require_reader(user=request.user, tenant=tenant)
    return tenant, roles


@login_required
@never_cache
@require_GET
def payments_page(request: HttpRequest) -> HttpResponse:
    tenant, roles = _tenant_and_roles(request)
    filters = selectors.PaymentFilters.from_query(request.GET)
    page = Paginator(selectors.positions_for_office(tenant=tenant, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page"))
    live_refunds = selectors.live_refunds_by_position(tenant=tenant, position_ids=[p.pk for p in page.object_list])
    rows = [{"p": p, "state": selectors.state_of(p), "state_label": selectors.STATES[selectors.state_of(p)],
             "kind_label": selectors.KINDS.get(p.kind, p.kind), "amount": f"{p.amount_cents / 100:.2f}".replace(".", ","),
             "refund": live_refunds.get(p.pk)}
            for p in page.object_list]
    refunds = list(selectors.refunds_in_progress(tenant=tenant))
    refundable = (list(selectors.refundable_positions(tenant=tenant)[:50])
                  if roles & services.REFUND_PROPOSER_ROLES else [])
    for refund in refunds:
        refund.amount = f"{refund.amount_cents / 100:.2f}".replace(".", ",")
    return render(request, "payments/payments.html", {
        "nav": "payments", "page": page, "rows": rows, "filters": filters, "states": selectors.STATES,
        "kinds": selectors.KINDS, "formats": EXPORT_FORMATS, "attention": selectors.attention_counts(tenant=tenant),
        "can_invalidate": bool(roles & ACTOR_ROLES), "query": request.GET.urlencode(), "refunds": refunds, "refundable": refundable,
        "can_propose_refund": bool(roles & services.REFUND_PROPOSER_ROLES),
        "can_decide_refund": bool(roles & services.REFUND_APPROVER_ROLES),
    })


@login_required
@never_cache
@require_GET
def payments_export(request: HttpRequest, fmt: str) -> HttpResponse:
    tenant, _roles = _tenant_and_roles(request)
    if fmt not in EXPORT_FORMATS:
        raise NotFound(_("Formato di esportazione non disponibile."))
    filters = selectors.PaymentFilters.from_query(request.GET)
    positions = selectors.positions_for_office(tenant=tenant, filters=filters)[:EXPORT_MAX_ROWS]
    body, content_type, ext = export_rows(fmt, selectors.EXPORT_COLUMNS,
                                          (selectors.export_row(p) for p in positions), title="Pagamenti pagoPA")
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="pagamenti-{clock.today().isoformat()}.{ext}"'
    return response


PAYABLE_STATES = ("to_pay", "overdue")


@login_required
@never_cache
@require_GET
def payment_notice(request: HttpRequest, pk: str) -> HttpResponse:
    """The notice (avviso) of a position still to pay, to print or send: e.g. the banns' stamp duty handed
    to the spouses at the counter."""
    from .notices import notice_pdf

    tenant, _roles = _tenant_and_roles(request)
    position = selectors.positions_for_office(tenant=tenant).filter(pk=int(pk)).first() if pk.isdigit() else None
    if position is None or selectors.state_of(position) not in PAYABLE_STATES:
        raise NotFound(_("Avviso di pagamento non trovato o non più da pagare."))
    response = HttpResponse(notice_pdf(tenant=tenant, position=position), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="avviso-{position.notice_number}.pdf"'
    return response


@login_required
@require_POST
def payment_invalidate(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = page_tenant(request)
    if not pk.isdigit():
        raise NotFound(_("Posizione debitoria non trovata."))
    try:
        position = services.request_invalidation(tenant=tenant, user=request.user, position_id=int(pk))
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Annullamento dell'avviso %(n)s chiesto a pagoPA.") % {"n": position.notice_number})
    return redirect(reverse("payments") + "?stato=to_invalidate")


def _refund_action(request: HttpRequest, pk: str, action, success: str) -> HttpResponse:
    """Run a refund action; a refusal is shown on the page (in Italian), never an error page."""
    tenant = page_tenant(request)
    if not pk.isdigit():
        raise NotFound(_("Rimborso non trovato."))
    try:
        action(tenant=tenant, user=request.user, pk=int(pk), ip=request.META.get("REMOTE_ADDR"))
    except (Conflict, ValidationFailed, PermissionRefused) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect(reverse("payments") + "?stato=unmatched")


@login_required
@require_POST
def payment_refund(request: HttpRequest, pk: str) -> HttpResponse:
    return _refund_action(request, pk, lambda *, tenant, user, pk, ip: services.refund_request(
        tenant=tenant, user=user, position_id=pk, iban=request.POST.get("iban", ""),
        reason=request.POST.get("reason", ""), ip=ip), _("Rimborso proposto: ora deve approvarlo un responsabile."))


@login_required
@require_POST
def refund_decide(request: HttpRequest, pk: str) -> HttpResponse:
    approve = request.POST.get("decision") == "approve"
    return _refund_action(request, pk, lambda *, tenant, user, pk, ip: services.refund_decide(
        tenant=tenant, user=user, refund_id=pk, approve=approve, note=request.POST.get("note", ""), ip=ip),
        _("Rimborso approvato: da bonificare.") if approve else _("Rimborso respinto."))


@login_required
@require_POST
def refund_paid(request: HttpRequest, pk: str) -> HttpResponse:
    return _refund_action(request, pk, lambda *, tenant, user, pk, ip: services.refund_mark_paid(
        tenant=tenant, user=user, refund_id=pk, transfer_reference=request.POST.get("transfer_reference", ""), ip=ip),
        _("Bonifico del rimborso registrato."))
