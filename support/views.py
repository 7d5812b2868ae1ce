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


@login_required
@never_cache
def report_problem(request: HttpRequest) -> HttpResponse:
    """"Segnala un problema": reached from the footer of any page (`?da=<that page>`)."""
    from django.contrib import messages
    from django.shortcuts import redirect

    from common.errors import ValidationFailed

    from .capture import MAX_SCREENSHOT_BYTES, clean_page
    from .capture import report_problem as open_ticket
    from .terms import terms_of

    tenant = page_tenant(request)
    page = clean_page(request.POST.get("page_url") if request.method == "POST" else request.GET.get("da"))
    values = {"level": "", "summary": "", "description": ""}
    errors: dict = {}
    if request.method == "POST":
        values = {k: (request.POST.get(k) or "").strip() for k in values}
        upload = request.FILES.get("screenshot")
        screenshot = None
        if upload is not None:
            if upload.size > MAX_SCREENSHOT_BYTES:
                errors = {"screenshot": [_("La schermata supera i 5 MB.")]}
            else:
                screenshot = (upload.read(), upload.name)
        if not errors:
            try:
                case = open_ticket(tenant=tenant, user=request.user, page=page,
                                   browser=request.META.get("HTTP_USER_AGENT", ""), screenshot=screenshot,
                                   ip=request.META.get("REMOTE_ADDR"), **values)
            except ValidationFailed as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                errors = details.get("data", details) or {"__all__": [exc.message]}
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Segnalazione %(n)s inviata al gruppo di assistenza.") % {"n": case.number})
                return redirect(page or "/")
    levels = terms_of(tenant)["levels"]
    return render(request, "support/report_problem.html", {
        "page_url": page, "values": values, "errors": errors,
        "levels": [(lv, levels[lv]["label"]) for lv in ("4", "3", "2", "1")],
    }, status=400 if errors else 200)
