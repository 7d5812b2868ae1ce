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
from common.errors import Conflict, NotFound
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
    rows = [{"p": p, "state": selectors.state_of(p), "state_label": selectors.STATES[selectors.state_of(p)],
             "kind_label": selectors.KINDS.get(p.kind, p.kind), "amount": f"{p.amount_cents / 100:.2f}".replace(".", ",")}
            for p in page.object_list]
    return render(request, "payments/payments.html", {
        "nav": "payments", "page": page, "rows": rows, "filters": filters, "states": selectors.STATES,
        "kinds": selectors.KINDS, "formats": EXPORT_FORMATS, "attention": selectors.attention_counts(tenant=tenant),
        "can_invalidate": bool(roles & ACTOR_ROLES), "query": request.GET.urlencode(),
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
