"""A test-only stand-in for the studio's server side (the JSON contract of the process studio:
file/, valida/, tavolozza/, espressione/, anteprima-modulo/), so the modeler and form editor pages
are driven in a real browser against real parts of the product: the engine's BPMN parser and
user_task_metas, the sandbox's expression check, the roles and operations registries and the
server-side form renderer. The drafts live in memory (STORE); the real studio app keeps them in the
database. Used with @pytest.mark.urls("tests.e2e.studio_stub")."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import include, path

from accounts.roles import ROLE_CODES, Role
from common.operations import all_operations
from engine import bundles
from engine.sandbox import SandboxViolation, check_expression
from forms.rendering import build_fields
from forms.validation import validate_data

ROOT = Path(__file__).resolve().parents[2]
STORE: dict[int, dict[str, str]] = {}
BPMN = "residence_change.bpmn"
PROCESS = "residence_change"


def load_draft(draft: int, process_id: str = PROCESS) -> dict[str, str]:
    STORE[draft] = dict(bundles.read_bundle(ROOT / "processes" / process_id).files)
    return STORE[draft]


def _error(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def problems(files: dict[str, str]) -> list[dict]:
    try:
        spec, subprocess_specs = bundles._parse(files, PROCESS)
    except Exception as exc:  # noqa: BLE001 - a stub reports any parse failure as a problem
        return [{"file": BPMN, "element_id": None, "code": "parse_error", "message": str(exc)[:300], "severity": "error"}]
    found = []
    for meta in bundles.user_task_metas(spec, subprocess_specs).values():
        if meta.lane not in ROLE_CODES:
            found.append({"file": BPMN, "element_id": meta.bpmn_id, "code": "unknown_role",
                          "message": f"Il ruolo «{meta.lane}» non esiste", "severity": "error"})
        if not meta.due_expression:
            found.append({"file": BPMN, "element_id": meta.bpmn_id, "code": "missing_due_date",
                          "message": f"Il compito «{meta.name}» non ha una scadenza", "severity": "error"})
        if meta.form and f"forms/{meta.form}" not in files:
            found.append({"file": BPMN, "element_id": meta.bpmn_id, "code": "missing_form",
                          "message": f"Il modulo {meta.form} non esiste", "severity": "error"})
    return found


def editor(request: HttpRequest, draft: int) -> HttpResponse:
    return render(request, "studio/editor.html", {"draft": SimpleNamespace(pk=draft), "main_file": BPMN})


def form_editor(request: HttpRequest, draft: int) -> HttpResponse:
    return render(request, "studio/form_editor.html", {
        "draft": SimpleNamespace(pk=draft), "form_path": request.GET.get("path", ""),
        "back_url": f"/studio/bozze/{draft}/modello/"})


def file(request: HttpRequest, draft: int) -> HttpResponse:
    files = STORE[draft]
    if request.method == "GET":
        name = request.GET.get("path", "")
        if name not in files:
            return _error("not_found", "File non trovato", 404)
        return HttpResponse(files[name], content_type="text/plain; charset=utf-8")
    body = json.loads(request.body)
    if not re.fullmatch(r"[a-z0-9_./-]+", body.get("path", "")) or ".." in body["path"]:
        return _error("bad_path", "Percorso non valido")
    files[body["path"]] = body["content"]
    return JsonResponse({"ok": True, "problems": problems(files)})


def validate(request: HttpRequest, draft: int) -> JsonResponse:
    return JsonResponse({"problems": problems(STORE[draft])})


def palette(request: HttpRequest, draft: int) -> JsonResponse:
    files = STORE[draft]
    used: dict[str, list[str]] = {}
    for text in (files[name] for name in files if name.endswith(".bpmn")):
        for op, params in re.findall(r'serviceTaskOperator id="([^"]+)"[^>]*>(.*?)</spiffworkflow:serviceTaskOperator>', text):
            used.setdefault(op, re.findall(r'parameter id="([^"]+)"', params))
    forms = [{"path": name, "title": json.loads(files[name]).get("title", "")}
             for name in sorted(files) if name.startswith("forms/") and name.endswith(".schema.json")]
    return JsonResponse({
        "roles": [{"id": value, "label": str(label)} for value, label in Role.choices],
        "forms": forms,
        "operations": [{"name": op.name, "label": op.description,
                        "params": [{"name": p, "required": True} for p in used.get(op.name, [])]} for op in all_operations()],
        "tasks": [], "messages": [{"name": "citizen_reply"}, {"name": "notice_delivered"}],
        "milestones": {}, "helpers": ["add_working_days", "term_end"],
    })


def expression(request: HttpRequest, draft: int) -> JsonResponse:
    body = json.loads(request.body)
    try:
        check_expression(body["expression"], "exec" if body.get("kind") == "script" else "eval")
    except SandboxViolation as exc:
        return JsonResponse({"ok": False, "message": f"Espressione non ammessa: {exc}"})
    except SyntaxError as exc:
        return JsonResponse({"ok": False, "message": f"Errore di sintassi alla riga {exc.lineno}"})
    return JsonResponse({"ok": True, "message": "Espressione ammessa."})


def form_preview(request: HttpRequest, draft: int) -> JsonResponse:
    body = json.loads(request.body)
    errors = validate_data(json.dumps(body["schema"]), body.get("data") or {})
    fields = build_fields(body["schema"], body.get("ui_schema") or {}, body.get("data") or {}, errors)
    html = "".join(render_to_string("cases/_field.html", {"f": f, "can_act": True}, request=request) for f in fields)
    return JsonResponse({"html": html, "errors": [{"field": k, "message": " ".join(v)} for k, v in errors.items()]})


studio = [
    path("modello/", editor),
    path("modulo/", form_editor),
    path("file/", file),
    path("valida/", validate),
    path("tavolozza/", palette),
    path("espressione/", expression),
    path("anteprima-modulo/", form_preview),
]

urlpatterns = [path("studio/bozze/<int:draft>/", include(studio)), path("", include("config.urls"))]
