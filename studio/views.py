"""Pages and JSON endpoints of the process studio (/studio/).

Thin: parse, call a service or selector, render. Process administrators and supervisors of the
current tenant get in (others 403); only process administrators edit; drafts, requests and
versions of other tenants are 404 because every lookup goes through the tenant. The JSON endpoints
the editor page calls answer `{"error": "<code>", "message": "<italiano>"}` on every refusal
(`json_endpoint`); the pages turn NotFound/PermissionRefused into 404/403 through
common.middleware.DomainErrorPagesMiddleware and show ValidationFailed/Conflict as messages.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import client_ip
from common.errors import Conflict, NotFound, PermissionRefused, ProcedoError, ValidationFailed
from common.pages import int_or_404 as _int
from common.pages import page_tenant
from engine.bundles import expression_problem

from . import selectors, services
from .bundle_zip import MAX_UPLOAD_BYTES, export_zip
from .diff import bundle_diff
from .models import DraftStatus
from .paths import clean_path
from .validation import has_errors

logger = logging.getLogger(__name__)


def _reader(request: HttpRequest):
    tenant = page_tenant(request)
    services.require_reader(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    return tenant


def _editor(request: HttpRequest):
    tenant = page_tenant(request)
    services.require_editor(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    return tenant


def _context(request: HttpRequest, tenant, **extra: Any) -> dict[str, Any]:
    return {"nav": "studio", "can_edit": services.can_edit(user=request.user, tenant=tenant),  # type: ignore[arg-type]
            "can_approve": services.can_approve(user=request.user, tenant=tenant), **extra}  # type: ignore[arg-type]


def _refusal(request: HttpRequest, exc: ProcedoError) -> None:
    logger.info("studio refused %s: %s", request.path[:200], exc.code)
    messages.error(request, exc.message)


# --------------------------------------------------------------------------- JSON endpoints

_STATUS = {ValidationFailed: 400, PermissionRefused: 403, NotFound: 404, Conflict: 409}


def _json_error(code: str, message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, **extra}, status=status)


def json_endpoint(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
    """The one place that turns the studio's domain errors into JSON answers (never a 500 page)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _json_error("not_authenticated", _("Accedi di nuovo."), 401)
        try:
            answer = view(request, *args, **kwargs)
            return answer if isinstance(answer, HttpResponse) else JsonResponse(answer)
        except ProcedoError as exc:
            status = next((s for kind, s in _STATUS.items() if isinstance(exc, kind)), 400)
            logger.info("studio json refused %s: %s", request.path[:200], exc.code)
            extra = {"problems": exc.details["problems"]} if isinstance(exc.details, dict) and \
                "problems" in exc.details else {}
            return _json_error(exc.code, exc.message, status, **extra)

    return never_cache(wrapped)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(_("Il corpo della richiesta non è JSON valido."), code="invalid_json") from exc
    if not isinstance(body, dict):
        raise ValidationFailed(_("Il corpo della richiesta deve essere un oggetto JSON."), code="invalid_json")
    return body


@require_http_methods(["GET", "POST"])
@json_endpoint
def draft_file(request: HttpRequest, pk: str) -> Any:
    """GET ?path= → the file's text; POST {"path", "content"} → saved, with the draft's problems."""
    tenant = page_tenant(request)
    services.require_editor(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    draft = selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    if request.method == "GET":
        path = request.GET.get("path") or ""
        if path not in draft.files:
            raise NotFound(_("Il file %(p)s non esiste nella bozza.") % {"p": path[:200]}, code="file_not_found")
        content = draft.files[path]
        if content.startswith("base64:"):
            raise ValidationFailed(_("Il file %(p)s è binario: si scarica con l'esportazione.") % {"p": path},
                                   code="binary_file")
        response = HttpResponse(content, content_type="text/plain; charset=utf-8")
        response["X-Content-Type-Options"] = "nosniff"
        return response
    body = _json_body(request)
    draft = services.draft_file_save(tenant=tenant, actor=request.user, draft_id=draft.pk,  # type: ignore[arg-type]
                                     path=body.get("path"), content=body.get("content"), ip=client_ip(request))
    problems = selectors.draft_problems(draft=draft)
    return {"ok": True, "revision": draft.revision, "problems": [p.as_dict() for p in problems]}


@require_POST
@json_endpoint
def draft_validate(request: HttpRequest, pk: str) -> dict[str, Any]:
    tenant = page_tenant(request)
    services.require_reader(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    draft = selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    return {"problems": [p.as_dict() for p in selectors.draft_problems(draft=draft)]}


@require_GET
@json_endpoint
def draft_palette(request: HttpRequest, pk: str) -> dict[str, Any]:
    tenant = page_tenant(request)
    services.require_editor(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    return selectors.palette(draft=selectors.draft_get(tenant=tenant, draft_id=_int(pk)))


EXPRESSION_KINDS = {"condition": "eval", "script": "exec", "timer": "eval", "due_date": "eval"}


@require_POST
@json_endpoint
def draft_expression(request: HttpRequest, pk: str) -> dict[str, Any]:
    """{"expression", "kind"} → {"ok", "message"}: the engine's sandbox check, as at publication."""
    tenant = page_tenant(request)
    services.require_editor(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    body = _json_body(request)
    kind = body.get("kind") or "condition"
    if kind not in EXPRESSION_KINDS:
        raise ValidationFailed(_("Tipo di espressione sconosciuto."), code="unknown_kind")
    expression = body.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        return {"ok": False, "message": _("Scrivi un'espressione.")}
    problem = expression_problem(expression, EXPRESSION_KINDS[kind])
    if problem is None and kind == "timer":
        from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition

        from .validation import timer_problem

        problem = timer_problem(TimeDateEventDefinition("timer", expression))
    return {"ok": problem is None, "message": problem or _("Espressione valida.")}


# --------------------------------------------------------------------------- pages


@login_required
@never_cache
def studio_home(request: HttpRequest) -> HttpResponse:
    tenant = _reader(request)
    return render(request, "studio/home.html", _context(
        request, tenant, procedures=selectors.procedure_list(tenant=tenant),
        pending=selectors.publish_request_list(tenant=tenant).count(), max_upload_mb=MAX_UPLOAD_BYTES // 1_000_000,
    ))


@login_required
@require_POST
def draft_new(request: HttpRequest) -> HttpResponse:
    tenant = _editor(request)
    try:
        draft = services.draft_create(tenant=tenant, actor=request.user,  # type: ignore[arg-type]
                                      version_id=_int(request.POST.get("version")),
                                      title=request.POST.get("title", ""), ip=client_ip(request))
    except ValidationFailed as exc:
        _refusal(request, exc)
        return redirect("studio_home")
    messages.success(request, _("Bozza creata: ora puoi modificarla."))
    return redirect("studio_draft", pk=draft.pk)


@login_required
@require_POST
def draft_import(request: HttpRequest) -> HttpResponse:
    tenant = _editor(request)
    upload = request.FILES.get("file")
    target = request.POST.get("draft")
    back = redirect("studio_draft", pk=_int(target)) if target else redirect("studio_home")
    if upload is None:
        messages.error(request, _("Scegli un archivio zip da importare."))
        return back
    if upload.size > MAX_UPLOAD_BYTES:
        messages.error(request, _("L'archivio supera i %(mb)d MB.") % {"mb": MAX_UPLOAD_BYTES // 1_000_000})
        return back
    try:
        draft = services.draft_import(tenant=tenant, actor=request.user, data=upload.read(),  # type: ignore[arg-type]
                                      draft_id=_int(target) if target else None, ip=client_ip(request))
    except (ValidationFailed, Conflict) as exc:
        _refusal(request, exc)
        return back
    messages.success(request, _("Archivio importato: controlla i problemi segnalati prima di chiedere la pubblicazione."))
    return redirect("studio_draft", pk=draft.pk)


@login_required
@never_cache
def draft_detail(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _reader(request)
    draft = selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    problems = selectors.draft_problems(draft=draft)
    diff = bundle_diff(draft.base_version.files, draft.files)
    requests = list(selectors.publish_request_list(tenant=tenant, pending_only=False).filter(draft=draft))
    pending = next((r for r in requests if r.status == "pending"), None)
    main = f"{draft.process_id}.bpmn"
    return render(request, "studio/draft.html", _context(
        request, tenant, draft=draft, problems=problems, has_errors=has_errors(problems),
        error_ids=sorted({p.element_id for p in problems if p.element_id and p.severity == "error"}),
        warning_ids=sorted({p.element_id for p in problems if p.element_id and p.severity == "warning"}),
        files=sorted(draft.files), main_file=main, diff=diff,
        form_files={f for f in draft.files if f.startswith("forms/") and f.endswith(".schema.json")}, requests=requests, pending=pending,
        update=selectors.shipped_update(draft=draft) if draft.status == DraftStatus.OPEN else None,
        is_open=draft.status == DraftStatus.OPEN, user_pk=request.user.pk,
        gate=services.draft_scenario_gate(draft=draft) if draft.status == DraftStatus.OPEN else None,
    ))


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def draft_file_page(request: HttpRequest, pk: str) -> HttpResponse:
    """A file of the draft as text, editable without JavaScript (forms, manifest, scenarios, BPMN XML)."""
    tenant = _editor(request)
    draft = selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    path = (request.POST.get("path") if request.method == "POST" else request.GET.get("path")) or ""
    content = draft.files.get(path, "")
    if request.method == "POST":
        content = request.POST.get("content", "")
        try:
            if request.POST.get("action") == "delete":
                services.draft_file_delete(tenant=tenant, actor=request.user, draft_id=draft.pk,  # type: ignore[arg-type]
                                           path=path, ip=client_ip(request))
                messages.success(request, _("File %(p)s eliminato.") % {"p": path})
                return redirect("studio_draft", pk=draft.pk)
            services.draft_file_save(tenant=tenant, actor=request.user, draft_id=draft.pk,  # type: ignore[arg-type]
                                     path=path, content=content.replace("\r\n", "\n"), ip=client_ip(request))
        except (ValidationFailed, Conflict) as exc:
            _refusal(request, exc)
        else:
            messages.success(request, _("File %(p)s salvato.") % {"p": path})
            return redirect(f"{reverse('studio_draft', args=[draft.pk])}#problemi")
    elif path and path not in draft.files:
        raise NotFound(_("Il file %(p)s non esiste nella bozza.") % {"p": path[:200]})
    binary = content.startswith("base64:")
    return render(request, "studio/draft_file.html", _context(
        request, tenant, draft=draft, path=path, content="" if binary else content, binary=binary,
        is_new=path not in draft.files,
    ))


@login_required
@never_cache
def draft_editor(request: HttpRequest, pk: str) -> HttpResponse:
    """The modeler page (templates/studio/editor.html, the front end's), with the JSON contract's URLs."""
    tenant = _editor(request)
    draft = selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    urls = {name: reverse(f"studio_draft_{name}", args=[draft.pk])
            for name in ("file", "validate", "palette", "expression")}
    return render(request, "studio/editor.html", _context(
        request, tenant, draft=draft, main_file=f"{draft.process_id}.bpmn",
        file_url=urls["file"], save_url=urls["file"], validate_url=urls["validate"], palette_url=urls["palette"],
        expression_url=urls["expression"],
        # h4's preview endpoint (studio/urls_tools.py); the page works without it until it is merged.
        form_preview_url=reverse("studio_form_preview", args=[draft.pk]),
        forms_url=reverse("studio_draft_form_editor", args=[draft.pk]),
    ))


@login_required
@never_cache
@require_GET
def draft_form_editor(request: HttpRequest, pk: str) -> HttpResponse:
    """The form editor page (templates/studio/form_editor.html) for ?path=forms/<name>.schema.json.

    The page loads and saves through the JSON file endpoint and previews through anteprima-modulo;
    here only the path is checked (a JSON schema of the draft, under forms/) so the page never
    points its scripts at something else.
    """
    tenant = _editor(request)
    draft = selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    path = request.GET.get("path") or ""
    try:
        path = clean_path(path)
    except ValidationFailed as exc:
        raise NotFound(exc.message, code="form_not_found") from exc
    if not (path.startswith("forms/") and path.endswith(".schema.json")) or path not in draft.files:
        raise NotFound(_("Il modulo %(p)s non esiste nella bozza.") % {"p": path[:200]}, code="form_not_found")
    return render(request, "studio/form_editor.html", _context(
        request, tenant, draft=draft, form_path=path,
        file_url=reverse("studio_draft_file", args=[draft.pk]),
        save_url=reverse("studio_draft_file", args=[draft.pk]),
        form_preview_url=reverse("studio_form_preview", args=[draft.pk]),
        back_url=reverse("studio_draft", args=[draft.pk]) + "#file",
    ))


@login_required
@require_POST
def draft_request(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _editor(request)
    try:
        services.publish_request_create(tenant=tenant, actor=request.user, draft_id=_int(pk),  # type: ignore[arg-type]
                                        note=request.POST.get("note", ""), ip=client_ip(request))
    except (ValidationFailed, Conflict) as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("Richiesta di approvazione inviata: la pubblicazione la approva un responsabile "
                                    "o un altro amministratore dei procedimenti."))
    return redirect("studio_draft", pk=_int(pk))


@login_required
@require_POST
def draft_discard(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _editor(request)
    try:
        services.draft_discard(tenant=tenant, actor=request.user, draft_id=_int(pk), ip=client_ip(request))  # type: ignore[arg-type]
    except Conflict as exc:
        _refusal(request, exc)
        return redirect("studio_draft", pk=_int(pk))
    messages.success(request, _("Bozza scartata."))
    return redirect("studio_home")


@login_required
@require_POST
def draft_take_update(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _editor(request)
    try:
        services.draft_take_shipped_update(
            tenant=tenant, actor=request.user, draft_id=_int(pk),  # type: ignore[arg-type]
            paths=request.POST.getlist("path")[:500], finish=request.POST.get("finish") == "1", ip=client_ip(request))
    except (ValidationFailed, Conflict) as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("Aggiornamento recepito nella bozza."))
    return redirect(f"{reverse('studio_draft', args=[_int(pk)])}#aggiornamento")


@login_required
@require_GET
def draft_export(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _reader(request)
    draft = selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    return _zip_response(draft.process_id, draft.files, f"{draft.process_id}-bozza-{draft.pk}-r{draft.revision}.zip")


@login_required
@require_GET
def version_export(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _reader(request)
    version = selectors.version_get(tenant=tenant, version_id=_int(pk))
    return _zip_response(version.definition.process_id, version.files,
                         f"{version.definition.process_id}-v{version.version}.zip")


def _zip_response(process_id: str, files: dict[str, str], filename: str) -> HttpResponse:
    response = HttpResponse(export_zip(process_id, files), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def draft_diagram(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _reader(request)
    draft = selectors.draft_get(tenant=tenant, draft_id=_int(pk))
    return _xml(draft.files.get(f"{draft.process_id}.bpmn", ""))


@login_required
@require_GET
def version_diagram(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _reader(request)
    version = selectors.version_get(tenant=tenant, version_id=_int(pk))
    return _xml(version.files.get(f"{version.definition.process_id}.bpmn", ""))


def _xml(text: str) -> HttpResponse:
    response = HttpResponse(text, content_type="application/xml; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


@login_required
@never_cache
def approvals(request: HttpRequest) -> HttpResponse:
    tenant = _reader(request)
    return render(request, "studio/approvals.html", _context(
        request, tenant, pending=list(selectors.publish_request_list(tenant=tenant)),
        decided=list(selectors.publish_request_list(tenant=tenant, pending_only=False)
                     .exclude(status="pending")[:20]),
        user_pk=request.user.pk,
    ))


@login_required
@never_cache
def approval_detail(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _reader(request)
    publish_request = selectors.publish_request_get(tenant=tenant, request_id=_int(pk))
    draft = selectors.draft_get(tenant=tenant, draft_id=publish_request.draft_id)
    pending = publish_request.status == "pending"
    return render(request, "studio/approval.html", _context(
        request, tenant, req=publish_request, draft=draft, diff=bundle_diff(draft.base_version.files, draft.files),
        changed_since=draft.revision != publish_request.draft_revision, user_pk=request.user.pk,
        gate=services.draft_scenario_gate(draft=draft) if pending else None,
    ))


@login_required
@require_POST
def approval_decide(request: HttpRequest, pk: str, decision: str) -> HttpResponse:
    tenant = _reader(request)
    note = request.POST.get("note", "")
    try:
        if decision == "approva":
            version = services.publish_request_approve(tenant=tenant, actor=request.user,  # type: ignore[arg-type]
                                                       request_id=_int(pk), note=note, ip=client_ip(request))
            messages.success(request, _("Pubblicata la versione %(v)d: le nuove pratiche dell'ente la usano da ora.")
                             % {"v": version.version})
        elif decision == "respingi":
            services.publish_request_reject(tenant=tenant, actor=request.user, request_id=_int(pk),  # type: ignore[arg-type]
                                            note=note, ip=client_ip(request))
            messages.success(request, _("Richiesta respinta."))
        elif decision == "ritira":
            services.publish_request_withdraw(tenant=tenant, actor=request.user, request_id=_int(pk),  # type: ignore[arg-type]
                                              ip=client_ip(request))
            messages.success(request, _("Richiesta ritirata."))
        else:
            raise NotFound(_("Azione sconosciuta."))
    except (ValidationFailed, Conflict) as exc:
        _refusal(request, exc)
        return redirect("studio_approval", pk=_int(pk))
    return redirect("studio_approvals")


@login_required
@never_cache
def version_history(request: HttpRequest, process_id: str) -> HttpResponse:
    tenant = _reader(request)
    versions = selectors.version_list(tenant=tenant, process_id=process_id[:100])
    if not versions:
        raise NotFound(_("Procedimento non trovato."))
    return render(request, "studio/versions.html", _context(
        request, tenant, versions=versions, definition=versions[0].definition,
        current_id=selectors.current_version_id(tenant=tenant, process_id=versions[0].definition.process_id),
    ))


@login_required
@never_cache
def version_diff(request: HttpRequest) -> HttpResponse:
    """Diff between any two versions the tenant sees (?da=<id>&a=<id>), or a draft against its base
    (?bozza=<id>)."""
    tenant = _reader(request)
    draft_id = request.GET.get("bozza")
    if draft_id:
        draft = selectors.draft_get(tenant=tenant, draft_id=_int(draft_id))
        old_label = _("versione %(v)d") % {"v": draft.base_version.version}
        new_label = _("bozza \"%(t)s\" (revisione %(r)d)") % {"t": draft.title, "r": draft.revision}
        old_files, new_files = draft.base_version.files, draft.files
        old_src = reverse("studio_version_diagram", args=[draft.base_version_id])
        new_src = reverse("studio_draft_diagram", args=[draft.pk])
        definition = draft.definition
    else:
        old = selectors.version_get(tenant=tenant, version_id=_int(request.GET.get("da")))
        new = selectors.version_get(tenant=tenant, version_id=_int(request.GET.get("a")))
        if old.definition_id != new.definition_id:
            raise NotFound(_("Le due versioni sono di procedimenti diversi."))
        old_label, new_label = _version_label(old), _version_label(new)
        old_files, new_files = old.files, new.files
        old_src = reverse("studio_version_diagram", args=[old.pk])
        new_src = reverse("studio_version_diagram", args=[new.pk])
        definition = old.definition
    diff = bundle_diff(old_files, new_files)
    summary = diff["summary"]
    return render(request, "studio/diff.html", _context(
        request, tenant, diff=diff, definition=definition, old_label=old_label, new_label=new_label,
        old_src=old_src, new_src=new_src,
        added=",".join(summary["elements_added"]), changed=",".join(summary["elements_changed"]),
        removed=",".join(summary["elements_removed"]),
    ))


def _version_label(version) -> str:
    if version.tenant_id is None:
        return _("versione %(v)d (distribuita)") % {"v": version.version}
    return _("versione %(v)d (dell'ente)") % {"v": version.version}
