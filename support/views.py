"""The SLA report page (per month and level, with a server-rendered chart) and its export."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.roles import Role
from common import clock
from common.errors import PermissionRefused
from common.pages import page_tenant
from documents.exports import export_rows

from .report import REPORT_COLUMNS, chart_svg, sla_report

# Who reads the SLA report: the municipality's responsabile, the process administrator, and the
# supplier's support team (it is the basis of the penalties both sides check).
REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.PROCESS_ADMIN, Role.SUPPORT})
EXPORT_FORMATS = ("csv", "ods")


def _month(request: HttpRequest) -> tuple[int, int]:
    today = clock.today()
    text = (request.GET.get("month") or "").strip()
    try:
        year, month = (int(part) for part in text.split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month
    except ValueError:
        pass
    return today.year, today.month


def _report_tenant(request: HttpRequest):
    from accounts.selectors import roles_for

    tenant = page_tenant(request)
    if not roles_for(user=request.user, tenant=tenant) & REPORT_ROLES:  # type: ignore[arg-type]
        raise PermissionRefused(_("Il report SLA è riservato al responsabile e al gruppo di assistenza."))
    return tenant


@login_required
@never_cache
@require_GET
def report_page(request: HttpRequest) -> HttpResponse:
    tenant = _report_tenant(request)
    year, month = _month(request)
    report = sla_report(tenant=tenant, year=year, month=month)
    return render(request, "support/report.html", {
        "nav": "support", "report": report, "month_value": f"{year:04d}-{month:02d}",
        "chart": mark_safe(chart_svg(report)),  # noqa: S308 - built from numbers and escaped text only
        "formats": EXPORT_FORMATS,
    })


@login_required
@never_cache
@require_GET
def report_export(request: HttpRequest, fmt: str) -> HttpResponse:
    tenant = _report_tenant(request)
    if fmt not in EXPORT_FORMATS:
        return HttpResponse(status=404)
    year, month = _month(request)
    report = sla_report(tenant=tenant, year=year, month=month)
    rows = [row.as_dict() for row in report["levels"]] + [report["total"].as_dict()]
    body, content_type, ext = export_rows(fmt, REPORT_COLUMNS, rows, title=f"SLA {year:04d}-{month:02d}")
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="sla-{year:04d}-{month:02d}.{ext}"'
    return response
