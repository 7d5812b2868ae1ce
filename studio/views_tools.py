"""The studio's tools around a draft: form preview and widget palette (JSON, for the form editor),
the deed templates check, scenario runs in the sandbox and the recording of a walk-through.

Thin: parse, call studio.forms_preview / templates_check / scenarios / recording, render. Every
draft is reached through h1's `studio.selectors.draft_for(user, tenant, draft_id)` (tenant and
role checks live there: another tenant's draft is a 404). JSON answers errors as
{"error": "<code>", "message": "<italiano>"}; pages show them as messages.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ADMIN_ROLES
from accounts.selectors import roles_for
from common.errors import NotFound, PermissionRefused, ValidationFailed
from common.pages import int_or_404, page_tenant

from . import forms_preview, recording, scenarios, templates_check

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- the studio core's drafts


def draft_for(user: Any, tenant: Any, draft_id: str) -> Any:
    """The tenant's draft for a process admin (supervisors may read): 403 for other roles, 404 for
    another tenant's or an unknown draft."""
    from studio.selectors import draft_get
    from studio.services import require_reader

    require_reader(user=user, tenant=tenant)
    return draft_get(tenant=tenant, draft_id=int_or_404(draft_id))


def draft_process_id(draft: Any) -> str:
    return str(draft.process_id)


def draft_files(draft: Any) -> dict[str, str]:
    """relative path -> text (binary files as "base64:..."), the shape of engine.bundles.Bundle.files."""
    return dict(draft.files)


def draft_file_save(*, draft: Any, user: Any, path: str, content: str) -> None:
    """Write one file of the draft (the studio's service checks the editor's role, validates the path
    and audits it)."""
    from studio.services import draft_file_save as save

    save(tenant=draft.tenant, actor=user, draft_id=draft.pk, path=path, content=content)


# ---------------------------------------------------------------- helpers


def _draft(request: HttpRequest, draft: str) -> tuple[Any, Any]:
    tenant = page_tenant(request)
    return tenant, draft_for(request.user, tenant, draft)


def _json_error(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def _json_draft(request: HttpRequest, draft: str) -> tuple[Any, Any] | JsonResponse:
    if not request.user.is_authenticated:
        return _json_error("not_authenticated", _("Accedi per usare lo studio."), 401)
    try:
        return _draft(request, draft)
    except (PermissionDenied, PermissionRefused):
        return _json_error("permission_denied", _("Non puoi modificare questa bozza."), 403)
    except (Http404, NotFound):
        return _json_error("not_found", _("Bozza non trovata."), 404)


# ---------------------------------------------------------------- form preview and palette


@require_POST
def form_preview(request: HttpRequest, draft: str) -> JsonResponse:
    found = _json_draft(request, draft)
    if isinstance(found, JsonResponse):
        return found
    payload, problem = forms_preview.parse_request(request.body)
    if payload is None:
        return _json_error("invalid_request", problem or "", 400)
    preview = forms_preview.form_preview(payload.get("schema"), payload.get("ui_schema"), payload.get("data"))
    return JsonResponse(preview.as_json())


@require_GET
def widget_palette(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return _json_error("not_authenticated", _("Accedi per usare lo studio."), 401)
    tenant = getattr(request, "tenant", None)
    if not tenant or not roles_for(user=request.user, tenant=tenant) & ADMIN_ROLES:
        return _json_error("permission_denied", _("Riservato agli amministratori dei procedimenti."), 403)
    return JsonResponse(forms_preview.palette())


# ---------------------------------------------------------------- deed templates


@login_required
@never_cache
@require_GET
def templates_page(request: HttpRequest, draft: str) -> HttpResponse:
    _tenant, found = _draft(request, draft)
    reports, general = templates_check.deeds_check(draft_process_id(found), draft_files(found))
    return render(request, "studio/tools_templates.html", {
        "nav": "studio", "draft": found, "draft_id": draft, "reports": reports, "general": general,
    })


# ---------------------------------------------------------------- scenario runs


def _scenario_list(process_id: str, files: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    """The draft's scenarios as the runner would check them (name, problem)."""
    import yaml

    text = files.get("tests.yaml")
    if not text:
        return [], _("La bozza non ha ancora scenari (tests.yaml).")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [], _("tests.yaml non è YAML valido: %(e)s") % {"e": str(exc)[:300]}
    if not isinstance(raw, dict) or not isinstance(raw.get("scenarios"), list):
        return [], _("tests.yaml deve avere «scenarios:», una lista.")
    try:
        model = scenarios.model_from_files(process_id, files)
    except Exception as exc:  # noqa: BLE001 - shown, the page still opens
        return [], _("La procedura della bozza non si carica: %(e)s") % {"e": str(exc)[:300]}
    out = []
    for index, spec in enumerate(raw["scenarios"], start=1):
        name = spec.get("name") if isinstance(spec, dict) else None
        checker = scenarios._Checker(f"scenario '{name or index}'", model)
        if isinstance(spec, dict):
            scenarios._check_scenario(spec, checker)
        else:
            checker.problem(_("deve essere una mappa"))
        out.append({"name": str(name or f"#{index}"), "problems": checker.problems})
    return out, ""


def _runs(tenant: Any, draft: str, kind: str) -> Any:
    from studio.models_tools import ScenarioRun

    return ScenarioRun.objects.filter(tenant=tenant, draft_id=str(draft), kind=kind)


def _run(tenant: Any, draft: str, run: str) -> Any:
    from studio.models_tools import ScenarioRun

    found = ScenarioRun.objects.filter(tenant=tenant, draft_id=str(draft), pk=int_or_404(run)).first()
    if found is None:
        raise Http404
    return found


@login_required
@never_cache
@require_GET
def scenarios_page(request: HttpRequest, draft: str) -> HttpResponse:
    tenant, found = _draft(request, draft)
    process_id, files = draft_process_id(found), draft_files(found)
    listed, problem = _scenario_list(process_id, files)
    runs = list(_runs(tenant, draft, "scenarios")[:10])
    recordings = list(_runs(tenant, draft, "recording")[:10])
    starters = _starter_roles(files)
    return render(request, "studio/tools_scenarios.html", {
        "nav": "studio", "draft": found, "draft_id": draft, "scenarios": listed, "problem": problem,
        "last": runs[0] if runs else None, "runs": runs[1:], "recordings": recordings, "starters": starters,
    })


@login_required
@require_POST
def scenarios_launch(request: HttpRequest, draft: str) -> HttpResponse:
    tenant, found = _draft(request, draft)
    import datetime as dt

    from common import clock

    # A run older than twice the sandbox's limit was lost with its worker: it no longer blocks.
    recent = clock.now() - dt.timedelta(seconds=2 * scenarios.SANDBOX_TIMEOUT_SECONDS)
    if _runs(tenant, draft, "scenarios").filter(status__in=["queued", "running"], created_at__gte=recent).exists():
        messages.info(request, _("Gli scenari di questa bozza sono già in esecuzione."))
        return redirect("studio_scenarios", draft=draft)
    scenarios.scenario_run_start(tenant=tenant, user=request.user, draft_id=draft,
                                 process_id=draft_process_id(found), files=draft_files(found))
    messages.success(request, _("Esecuzione degli scenari avviata."))
    return redirect("studio_scenarios", draft=draft)


@login_required
@never_cache
@require_GET
def scenario_run(request: HttpRequest, draft: str, run: str) -> HttpResponse:
    """A run's report: JSON (?format=json) or the HTML fragment htmx polls until it is finished."""
    tenant, _found = _draft(request, draft)
    found = _run(tenant, draft, run)
    if request.GET.get("format") == "json":
        return JsonResponse({"id": found.pk, "status": found.status, "finished": found.finished,
                             "results": found.results, "error": found.error})
    return render(request, "studio/tools_run.html", {"run": found, "draft_id": draft})


# ---------------------------------------------------------------- recording a walk-through


def _starter_roles(files: dict[str, str]) -> list[str]:
    import yaml

    try:
        manifest = yaml.safe_load(files.get("manifest.yaml", "")) or {}
    except yaml.YAMLError:
        return []
    starters = manifest.get("starters") if isinstance(manifest, dict) else None
    return [str(s) for s in starters] if isinstance(starters, list) else []


def _json_field(raw: str | None, what: str) -> Any:
    from common import jsondepth

    try:
        return jsondepth.loads(raw or "{}")
    except ValueError as exc:
        raise ValidationFailed(_("%(what)s: JSON non valido.") % {"what": what}, code="json_invalid") from exc


def _replay(run: Any, files: dict[str, str]) -> None:
    from django.db import transaction

    from studio.models_tools import ScenarioRun

    ScenarioRun.objects.filter(pk=run.pk).update(status="queued", spec=run.spec, results=[], error="",
                                                 started_at=None, finished_at=None)
    transaction.on_commit(lambda: scenarios.scenario_run_task.delay(run.pk, files))


@login_required
@require_POST
def recording_new(request: HttpRequest, draft: str) -> HttpResponse:
    tenant, found = _draft(request, draft)
    process_id, files = draft_process_id(found), draft_files(found)
    try:
        spec = recording.recording_spec(process_id=process_id, files=files, name=request.POST.get("name", ""),
                                        start_as=request.POST.get("as") or None,
                                        data=_json_field(request.POST.get("data"), _("Dati di avvio")),
                                        at=(request.POST.get("at") or "").strip() or None)
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("studio_scenarios", draft=draft)
    run = scenarios.scenario_run_start(tenant=tenant, user=request.user, draft_id=draft, process_id=process_id,
                                       files=files, kind="recording", spec=spec)
    return redirect("studio_recording", draft=draft, run=run.pk)


@login_required
@never_cache
@require_GET
def recording_page(request: HttpRequest, draft: str, run: str) -> HttpResponse:
    from forms.rendering import build_fields

    tenant, found = _draft(request, draft)
    rec = _run(tenant, draft, run)
    if rec.kind != "recording":
        raise Http404
    files = draft_files(found)
    state = (rec.results[0].get("state") if rec.results else None) or {}
    forms = _task_forms(draft_process_id(found), files)
    tasks = []
    for item in state.get("ready") or []:
        schema = forms.get(item["bpmn_id"], {})
        # Inputs named "<task>.<field>": several open tasks on one page never share a name or an id.
        tasks.append({**item, "fields": build_fields(schema.get("schema") or {}, schema.get("ui") or {},
                                                     prefix=f"{item['bpmn_id']}.")})
    model_messages = []
    try:
        model_messages = sorted(scenarios.model_from_files(draft_process_id(found), files).messages)
    except Exception:  # noqa: BLE001 - the page shows the rest
        logger.info("recording: the draft's model does not load", exc_info=True)
    return render(request, "studio/tools_recording.html", {
        "nav": "studio", "draft": found, "draft_id": draft, "rec": rec, "state": state, "tasks": tasks,
        "result": rec.results[0] if rec.results else None, "model_messages": model_messages,
        "roles": sorted(ADMIN_ROLES | {"registrar", "civil_registrar", "police", "citizen"}),
        "steps_yaml": _yaml(rec.spec.get("steps") or []), "can_act": True,
    })


def _yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=110) if value else ""


def _task_forms(process_id: str, files: dict[str, str]) -> dict[str, dict[str, Any]]:
    from engine.bundles import user_task_metas
    from engine.manifest import model_specs

    try:
        spec, subprocess_specs = model_specs(process_id, files)
    except Exception:  # noqa: BLE001
        return {}
    out = {}
    for meta in user_task_metas(spec, subprocess_specs).values():
        def load(name: str | None) -> dict[str, Any]:
            try:
                value = json.loads(files.get(f"forms/{name}", "")) if name else {}
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
        out[meta.bpmn_id] = {"schema": load(meta.form), "ui": load(meta.ui_form)}
    return out


@login_required
@require_POST
def recording_action(request: HttpRequest, draft: str, run: str) -> HttpResponse:
    from forms.rendering import parse_post

    tenant, found = _draft(request, draft)
    rec = _run(tenant, draft, run)
    if rec.kind != "recording":
        raise Http404
    if not rec.finished:
        messages.info(request, _("Attendi la fine della riesecuzione prima del passo successivo."))
        return redirect("studio_recording", draft=draft, run=run)
    process_id, files = draft_process_id(found), draft_files(found)
    kind = request.POST.get("kind")
    action: dict[str, Any] = {"kind": kind}
    try:
        if kind == "complete":
            task = request.POST.get("task", "")
            schema = _task_forms(process_id, files).get(task, {}).get("schema") or {}
            action.update(task=task, data=parse_post(schema, request.POST, prefix=f"{task}."),
                          **{"as": request.POST.get("as")})
        elif kind == "message":
            action.update(message=request.POST.get("message"), payload=_json_field(request.POST.get("payload"), "payload"),
                          **{"as": request.POST.get("as")})
        elif kind == "advance_days":
            action.update(days=request.POST.get("days"))
        rec.spec = recording.spec_with_step(process_id=process_id, files=files, spec=rec.spec,
                                            step=recording.step_from_action(action))
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("studio_recording", draft=draft, run=run)
    _replay(rec, files)
    return redirect("studio_recording", draft=draft, run=run)


@login_required
@require_POST
def recording_undo(request: HttpRequest, draft: str, run: str) -> HttpResponse:
    tenant, found = _draft(request, draft)
    rec = _run(tenant, draft, run)
    if rec.kind != "recording" or not rec.finished:
        raise Http404
    rec.spec = recording.spec_without_last_step(rec.spec)
    _replay(rec, draft_files(found))
    return redirect("studio_recording", draft=draft, run=run)


@login_required
@require_POST
def recording_save(request: HttpRequest, draft: str, run: str) -> HttpResponse:
    tenant, found = _draft(request, draft)
    rec = _run(tenant, draft, run)
    if rec.kind != "recording" or not rec.finished:
        raise Http404
    result = rec.results[0] if rec.results else None
    if not result or not result.get("passed"):
        messages.error(request, _("L'ultima riesecuzione non è riuscita: annulla il passo rifiutato prima di salvare."))
        return redirect("studio_recording", draft=draft, run=run)
    scenario = recording.finished_scenario(rec.spec, result.get("state"))
    files = draft_files(found)
    try:
        text = recording.tests_yaml_with(files.get("tests.yaml"), scenario)
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("studio_recording", draft=draft, run=run)
    draft_file_save(draft=found, user=request.user, path="tests.yaml", content=text)
    messages.success(request, _("Scenario «%(n)s» aggiunto a tests.yaml.") % {"n": scenario["name"]})
    return redirect("studio_scenarios", draft=draft)
