"""Pages of the civil-status registers and of the ANPR alignment check (/anagrafe/).

Acts: search and sheet (with annotations), for the tenant's registrars, supervisors and viewers;
every page with personal data writes a read event. Alignment: supervisors only; the page lists the
last check's differences, and a fix is applied (or a difference dismissed) by an explicit POST,
audited by registry.alignment.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.selectors import roles_for
from audit.services import client_ip
from common.errors import Conflict, ValidationFailed
from common.pages import int_or_404, page_tenant

from . import alignment
from .civil_status import selectors
from .models import ActKind, AlignmentRun, DifferenceStatus
from .views import IMPORT_ROLES, READER_ROLES, _read, registry_page

ALIGNMENT_ROLES = IMPORT_ROLES  # supervisors


def _int(value: str | None, low: int, high: int) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and low <= int(value) <= high else None


@registry_page(READER_ROLES)
def act_search(request: HttpRequest, tenant) -> HttpResponse:
    form = {k: (request.GET.get(k) or "").strip()[:100] for k in ("kind", "year", "number", "name", "cf", "person")}
    errors: dict[str, str] = {}
    year, number = _int(form["year"], 1800, 9999), _int(form["number"], 1, 9_999_999)
    person_id = _int(form["person"], 1, 2**62)
    if form["year"] and year is None:
        errors["year"] = _("Anno non valido.")
    if form["number"] and number is None:
        errors["number"] = _("Numero non valido.")
    searched = any(v for k, v in form.items() if k != "kind")
    page = None
    if searched and not errors:
        qs = selectors.act_search(tenant=tenant, kind=form["kind"], year=year, number=number, name=form["name"],
                                  fiscal_code=form["cf"], person_id=person_id)
        page = Paginator(qs, 25).get_page(request.GET.get("page"))
        if page.object_list:
            _read(request, tenant, "civil_act_search", "search",
                  " ".join(f"{k}={v}" for k, v in form.items() if v)[:200])
    return render(request, "registry/civil/act_search.html", {
        "nav": "registry", "form": form, "errors": errors, "page": page, "searched": searched,
        "kinds": ActKind.choices,
    }, status=400 if errors else 200)


@registry_page(READER_ROLES)
def act_detail(request: HttpRequest, tenant, act_id) -> HttpResponse:
    sheet = selectors.act_sheet(tenant=tenant, act_id=int_or_404(act_id))
    if sheet is None:
        raise Http404
    _read(request, tenant, "civil_act", sheet["act"].pk, str(sheet["act"]))
    return render(request, "registry/civil/act_detail.html", {"nav": "registry", **sheet})


@registry_page(ALIGNMENT_ROLES)
def alignment_page(request: HttpRequest, tenant) -> HttpResponse:
    run = AlignmentRun.objects.for_tenant(tenant).order_by("-started_at", "-pk").first()
    differences = None
    if run is not None:
        status = request.GET.get("stato") or DifferenceStatus.OPEN
        qs = run.differences.select_related("person").order_by("person__search_name", "id")
        if status in DifferenceStatus.values:
            qs = qs.filter(status=status)
        differences = Paginator(qs, 50).get_page(request.GET.get("page"))
        if differences.object_list:
            _read(request, tenant, "anpr_alignment", run.pk, _("Differenze con ANPR"))
    return render(request, "registry/civil/alignment.html", {
        "nav": "registry", "run": run, "differences": differences, "fixes": alignment.FIXES,
        "statuses": DifferenceStatus.choices, "status": request.GET.get("stato") or DifferenceStatus.OPEN,
    })


@login_required
@require_POST
def alignment_decide(request: HttpRequest, difference_id) -> HttpResponse:
    tenant = page_tenant(request)
    if not roles_for(user=request.user, tenant=tenant) & ALIGNMENT_ROLES:
        raise Http404
    action = request.POST.get("action")
    service = {"apply": alignment.alignment_apply_fix, "dismiss": alignment.alignment_dismiss}.get(action)
    if service is None:
        raise Http404
    try:
        service(tenant=tenant, actor=request.user, difference_id=int_or_404(difference_id), ip=client_ip(request))
    except (ValidationFailed, Conflict) as exc:
        if getattr(exc, "code", "") == "difference_not_found":
            raise Http404 from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Correzione applicata.") if action == "apply" else _("Differenza archiviata."))
    return redirect("registry_alignment")
