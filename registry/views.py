"""Pages of the population register (/anagrafe/): search, person and household sheets, the street
register and its civici, and the legacy import runs.

Who: the tenant's registrars, supervisors and viewers (import runs: supervisors). Anybody else, and
any id of another municipality, gets 404 (the `registry_page` decorator). Every page showing
personal data writes a read event to the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.roles import Role
from accounts.selectors import roles_for
from audit.events import record_read
from audit.services import client_ip
from common.pages import int_or_404, page_tenant

from . import selectors
from .legacy.format import ENTITY_LABELS
from .models import ImportPhase, ImportStatus, IssueSeverity
from .text import parse_date

# The civil registrar reads the register too: drawing up a birth, marriage or death act means
# identifying its parties and their household in the population register, and a closed act acts on
# it (a death closes the residence, a marriage changes the civil status: artt. 12-13 D.P.R. 396/2000,
# art. 20 D.P.R. 223/1989 on the communications between the two offices). Every read of a person,
# household, civico or act is audited as for the registrar. Imports and the ANPR alignment stay
# with the supervisor.
READER_ROLES = frozenset({Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.SUPERVISOR, Role.VIEWER})
IMPORT_ROLES = frozenset({Role.SUPERVISOR})


def registry_page(roles: frozenset[str]) -> Callable:
    """Login, a tenant, and one of `roles` in it; otherwise the page does not exist (404)."""

    def decorate(view: Callable) -> Callable:
        @login_required
        @require_GET
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            tenant = page_tenant(request)
            if not roles_for(user=request.user, tenant=tenant) & roles:
                raise Http404
            return view(request, tenant, *args, **kwargs)

        return wrapper

    return decorate


def _read(request: HttpRequest, tenant, object_type: str, object_id, object_repr: str) -> None:
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type=object_type,
                object_id=str(object_id), object_repr=object_repr)


@registry_page(READER_ROLES)
def person_search(request: HttpRequest, tenant) -> HttpResponse:
    form = {k: (request.GET.get(k) or "").strip()[:100] for k in ("name", "cf", "birth_date", "address")}
    errors: dict[str, str] = {}
    birth_date = parse_date(form["birth_date"]) if form["birth_date"] else None
    if form["birth_date"] and birth_date is None:
        errors["birth_date"] = _("Data non valida: usa il formato GG/MM/AAAA.")
    searched = any(form.values())
    page = None
    if searched and not errors:
        qs = selectors.person_search(tenant=tenant, name=form["name"], fiscal_code=form["cf"], birth_date=birth_date,
                                     address=form["address"])
        page = Paginator(qs, 25).get_page(request.GET.get("page"))
        if page.object_list:
            # The result list shows names, birth dates and codes: personal data read in bulk.
            _read(request, tenant, "registry_search", "search", " ".join(f"{k}={v}" for k, v in form.items() if v)[:200])
    return render(request, "registry/person_search.html", {
        "nav": "registry", "form": form, "errors": errors, "page": page, "searched": searched,
    }, status=400 if errors else 200)


@registry_page(READER_ROLES)
def person_detail(request: HttpRequest, tenant, person_id) -> HttpResponse:
    sheet = selectors.person_sheet(tenant=tenant, person_id=int_or_404(person_id))
    if sheet is None:
        raise Http404
    person = sheet["person"]
    _read(request, tenant, "registry_person", person.pk, f"{person} {person.fiscal_code}".strip())
    return render(request, "registry/person_detail.html", {"nav": "registry", **sheet})


@registry_page(READER_ROLES)
def household_detail(request: HttpRequest, tenant, household_id) -> HttpResponse:
    sheet = selectors.household_sheet(tenant=tenant, household_id=int_or_404(household_id))
    if sheet is None:
        raise Http404
    _read(request, tenant, "registry_household", sheet["household"].pk, str(sheet["household"]))
    return render(request, "registry/household_detail.html", {"nav": "registry", **sheet})


@registry_page(READER_ROLES)
def street_list(request: HttpRequest, tenant) -> HttpResponse:
    query = (request.GET.get("q") or "").strip()[:100]
    page = Paginator(selectors.street_list(tenant=tenant, query=query), 50).get_page(request.GET.get("page"))
    return render(request, "registry/street_list.html", {"nav": "registry", "page": page, "query": query})


@registry_page(READER_ROLES)
def street_detail(request: HttpRequest, tenant, street_id) -> HttpResponse:
    street = selectors.street_get(tenant=tenant, street_id=int_or_404(street_id))
    if street is None:
        raise Http404
    return render(request, "registry/street_detail.html", {"nav": "registry", "street": street})


@registry_page(READER_ROLES)
def house_number_detail(request: HttpRequest, tenant, house_number_id) -> HttpResponse:
    sheet = selectors.house_number_sheet(tenant=tenant, house_number_id=int_or_404(house_number_id))
    if sheet is None:
        raise Http404
    _read(request, tenant, "registry_house_number", sheet["civico"].pk, str(sheet["civico"]))
    return render(request, "registry/house_number_detail.html", {"nav": "registry", **sheet})


@registry_page(IMPORT_ROLES)
def import_run_list(request: HttpRequest, tenant) -> HttpResponse:
    page = Paginator(selectors.import_run_list(tenant=tenant), 25).get_page(request.GET.get("page"))
    return render(request, "registry/import_run_list.html", {"nav": "registry", "page": page})


@registry_page(IMPORT_ROLES)
def import_run_detail(request: HttpRequest, tenant, run_id) -> HttpResponse:
    run = selectors.import_run_get(tenant=tenant, run_id=int_or_404(run_id))
    if run is None:
        raise Http404
    severity = request.GET.get("esito") or ""
    issues = run.issues.all()
    if severity in IssueSeverity.values:
        issues = issues.filter(severity=severity)
    page = Paginator(issues, 100).get_page(request.GET.get("page"))
    rows = [{"entity": entity, "label": ENTITY_LABELS.get(entity, entity), "pending": "not_imported" in counts, **counts}
            for entity, counts in (run.counts or {}).items()]
    # Rejected rows quote names and codes of people: reading them is a read of personal data.
    _read(request, tenant, "registry_import", run.pk, run.source)
    return render(request, "registry/import_run_detail.html", {
        "nav": "registry", "run": run, "rows": rows, "page": page, "severity": severity,
        "severities": IssueSeverity.choices, "progress": _progress(run), "polling": True,
    })


def _progress(run) -> dict:
    """Where a run is: its phase, the batches written, the people checked with ANPR (percent of the phase)."""
    sample = run.anpr_sample or {}
    if run.phase == ImportPhase.ANPR_CHECK:
        done, total = sample.get("checked", 0), sample.get("size", 0)
    elif run.phase == ImportPhase.COMMIT:
        done, total = run.last_batch, run.total_batches
    else:
        done, total = (1, 1) if run.status != ImportStatus.RUNNING else (0, 0)
    return {"done": done, "total": total, "percent": int(100 * done / total) if total else 0,
            "running": run.status == ImportStatus.RUNNING}


@registry_page(IMPORT_ROLES)
def import_run_progress(request: HttpRequest, tenant, run_id) -> HttpResponse:
    """The progress block of a run, polled by the page (htmx) every 2 seconds while the run goes on;
    no personal data in it (counts and phase only)."""
    run = selectors.import_run_get(tenant=tenant, run_id=int_or_404(run_id))
    if run is None:
        raise Http404
    return render(request, "registry/_import_progress.html", {"run": run, "progress": _progress(run), "polling": True})
