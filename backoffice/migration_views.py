"""Pages for migrating running cases to another version of their process (issue 15).

Who may do what (decided here, once):
- the **process administrator** of the current tenant writes plans, runs dry runs and batches and
  reverts a migrated case: moving cases between models is the job of whoever maintains the models;
- the **supervisor** (responsabile) reads everything (plans, batches, per-case results) but changes
  nothing: they answer for the office's cases and must see what moved them, while the four-eyes
  rule of the studio already makes them approve the version a plan moves cases to;
- everybody else gets 403; another tenant's plans, batches and results are 404 (every lookup
  goes through the tenant).

Thin: parse the form, call engine.migration, render. Progress polls with htmx; without
JavaScript the batch page refreshes itself while the batch runs.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Role
from accounts.selectors import roles_for
from audit.services import client_ip
from common.errors import Conflict, ValidationFailed
from common.pages import int_or_404 as _int
from common.pages import page_tenant
from engine import migration
from engine.models import BatchMode, CaseOutcome, MigrationCaseResult

READ_ROLES = frozenset({Role.PROCESS_ADMIN, Role.SUPERVISOR})
MAX_FIELD = 20000  # characters of any text field of the plan form


def _tenant_and_write(request: HttpRequest) -> tuple[Any, bool]:
    """The tenant and whether the user may change anything (process admin); 403 for others."""
    tenant = page_tenant(request)
    roles = roles_for(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    if not roles & READ_ROLES:
        raise PermissionDenied(_("Pagina riservata agli amministratori dei procedimenti e ai responsabili."))
    return tenant, Role.PROCESS_ADMIN in roles


def _writer(request: HttpRequest):
    tenant, can_write = _tenant_and_write(request)
    if not can_write:
        raise PermissionDenied(_("Solo l'amministratore dei procedimenti può migrare le pratiche."))
    return tenant


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"nav": "admin", "admin_tab": "migrations", **extra}


# --------------------------------------------------------------------------- plans


@login_required
@never_cache
def migration_plans(request: HttpRequest) -> HttpResponse:
    tenant, can_write = _tenant_and_write(request)
    page = Paginator(migration.plan_list(tenant=tenant), 25).get_page(request.GET.get("page"))
    return render(request, "backoffice/migration_plans.html", _context(request, page=page, can_write=can_write))


def _lines(text: str, what: str, errors: dict[str, list[str]]) -> dict[str, str]:
    """"a = b" lines (blank lines and # comments ignored) as a dict."""
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or not value.strip():
            errors.setdefault(what, []).append(_("Riga %(n)s: scrivi «elemento = valore».") % {"n": number})
            continue
        result[key.strip()] = value.strip()
    return result


def _document_from_form(post: Any, errors: dict[str, list[str]]) -> Any:
    raw = (post.get("document") or "").strip()
    if raw:
        try:
            document = migration.parse_document_text(raw)
        except ValueError:
            errors.setdefault("document", []).append(_("Il documento non è JSON valido."))
            return {}
        return document  # not an object: the service refuses it with its own message
    variables: Any = {}
    if (post.get("variables") or "").strip():
        try:
            variables = migration.parse_document_text(post["variables"])
        except ValueError:
            errors.setdefault("variables", []).append(_("Le variabili devono essere un oggetto JSON."))
    accept = [a.strip() for a in (post.get("accept_changed") or "").replace("\n", ",").split(",") if a.strip()]
    return {
        "overrides": _lines(post.get("overrides") or "", "overrides", errors),
        "timers": _lines(post.get("timers") or "", "timers", errors),
        "variables": variables,
        "accept_changed": accept,
    }


def _form_values(plan) -> dict[str, str]:
    """The form filled from an existing plan (\"Nuovo piano da questo\")."""
    doc = plan.document
    return {
        "source": str(plan.source_version_id), "target": str(plan.target_version_id), "title": plan.title,
        "overrides": "\n".join(f"{k} = {v}" for k, v in doc.get("overrides", {}).items()),
        "timers": "\n".join(f"{k} = {v}" for k, v in doc.get("timers", {}).items()),
        "variables": json.dumps(doc.get("variables") or {}, ensure_ascii=False, indent=2) if doc.get("variables") else "",
        "accept_changed": ", ".join(doc.get("accept_changed", [])),
        "document": "",
    }


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def migration_plan_create(request: HttpRequest) -> HttpResponse:
    tenant = _writer(request)
    versions = migration.versions_for_tenant(tenant=tenant)
    counts = migration.running_counts(tenant=tenant)
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {k: "" for k in ("source", "target", "title", "overrides", "timers", "variables",
                                               "accept_changed", "document")}
    if request.method == "GET" and request.GET.get("da"):
        values = _form_values(migration.plan_get(tenant=tenant, plan_id=_int(request.GET["da"])))
    if request.method == "POST":
        values = {k: str(request.POST.get(k, ""))[:MAX_FIELD] for k in values}
        document = _document_from_form(request.POST, errors)
        source, target = values["source"], values["target"]
        if not source.isdigit():
            errors.setdefault("source", []).append(_("Scegli la versione di partenza."))
        if not target.isdigit():
            errors.setdefault("target", []).append(_("Scegli la versione di arrivo."))
        allowed = {v.pk for v in versions}
        for key in ("source", "target"):
            if values[key].isdigit() and int(values[key]) not in allowed:
                errors.setdefault(key, []).append(_("Versione non disponibile per questo ente."))
        if not errors:
            try:
                plan = migration.plan_create(
                    tenant=tenant, user=request.user, source_version_id=int(source), target_version_id=int(target),
                    document=document, title=values["title"], ip=client_ip(request),
                )
            except ValidationFailed as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                for key, problems in details.items():
                    errors.setdefault(key if key in values else "document", []).extend(problems)
                if not details:
                    errors.setdefault("document", []).append(exc.message)
            else:
                messages.success(request, _("Piano di migrazione salvato: controlla la corrispondenza e fai una prova."))
                return redirect("migration_plan", pk=plan.pk)
        messages.error(request, _("Il piano non è stato salvato: correggi gli errori indicati."))
    return render(request, "backoffice/migration_plan_form.html", _context(
        request, versions=[(v, counts.get(v.pk, 0)) for v in versions], values=values, errors=errors,
    ))


@login_required
@never_cache
def migration_plan(request: HttpRequest, pk: str) -> HttpResponse:
    tenant, can_write = _tenant_and_write(request)
    plan = migration.plan_get(tenant=tenant, plan_id=_int(pk))
    rows = migration.mapping_rows(plan)
    source_elements = sorted({(r["id"], r["label"]) for r in rows if r["id"] and r["kind"] in ("user", "event", "call", "multi")})
    return render(request, "backoffice/migration_plan.html", _context(
        request, plan=plan, rows=rows, can_write=can_write, batches=plan.batches.select_related("created_by")[:20],
        document=json.dumps(plan.document, ensure_ascii=False, indent=2), tasks=source_elements,
        running=migration.running_counts(tenant=tenant).get(plan.source_version_id, 0),
    ))


@login_required
@require_POST
def migration_batch_launch(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _writer(request)
    plan = migration.plan_get(tenant=tenant, plan_id=_int(pk))
    mode = BatchMode.EXECUTE if request.POST.get("mode") == BatchMode.EXECUTE else BatchMode.DRY_RUN
    filters = {
        "statuses": [s for s in request.POST.getlist("statuses") if s in ("running", "error")],
        "current_task": str(request.POST.get("current_task") or "")[:200],
    }
    try:
        batch = migration.batch_create(plan=plan, user=request.user, mode=mode, filters=filters, ip=client_ip(request))
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("migration_plan", pk=plan.pk)
    if mode == BatchMode.EXECUTE:
        messages.success(request, _("Migrazione avviata: le pratiche vengono spostate una alla volta."))
    else:
        messages.success(request, _("Prova avviata: nessuna pratica viene modificata."))
    return redirect("migration_batch", pk=batch.pk)


# --------------------------------------------------------------------------- batches and results


OUTCOME_FILTERS = [o for o in CaseOutcome.values]


def _batch_page(request: HttpRequest, pk: str) -> tuple[Any, bool, Any]:
    tenant, can_write = _tenant_and_write(request)
    return tenant, can_write, migration.batch_get(tenant=tenant, batch_id=_int(pk))


@login_required
@never_cache
def migration_batch(request: HttpRequest, pk: str) -> HttpResponse:
    tenant, can_write, batch = _batch_page(request, pk)
    outcome = request.GET.get("esito") or ""
    results = MigrationCaseResult.objects.filter(batch=batch).defer("previous_state")
    if outcome in OUTCOME_FILTERS:
        results = results.filter(outcome=outcome)
    else:
        outcome = ""
    page = Paginator(results.order_by("pk"), 50).get_page(request.GET.get("page"))
    return render(request, "backoffice/migration_batch.html", _context(
        request, batch=batch, page=page, can_write=can_write, outcome=outcome,
        outcomes=[(o, CaseOutcome(o).label) for o in OUTCOME_FILTERS],
    ))


@login_required
@never_cache
def migration_batch_progress(request: HttpRequest, pk: str) -> HttpResponse:
    """The progress fragment the batch page polls (htmx); a finished batch stops the polling."""
    _tenant, _can_write, batch = _batch_page(request, pk)
    return render(request, "backoffice/migration_progress.html", {"batch": batch, "polling": True})


@login_required
@require_POST
def migration_result_revert(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _writer(request)
    result_id = _int(pk)
    batch_id = MigrationCaseResult.objects.filter(tenant=tenant, pk=result_id).values_list("batch_id", flat=True).first()
    try:
        result = migration.migration_revert(tenant=tenant, user=request.user, result_id=result_id,
                                            ip=client_ip(request))
    except Conflict as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, _("Pratica %(n)s riportata alla versione precedente.") % {"n": result.case_number})
    return redirect("migration_batch", pk=batch_id)
