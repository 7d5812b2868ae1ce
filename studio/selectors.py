"""Reads of the studio, always through the tenant: another tenant's drafts, requests and variants are
simply not found."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import Tenant
from accounts.roles import Role
from common.errors import NotFound
from common.operations import all_operations
from engine.bundles import Problem, parse_bundle_files
from engine.models import ProcessDefinition, ProcessVersion
from engine.script_helpers import HELPER_NAMES
from engine.selectors import process_latest_version_id, process_versions_visible

from .diff import text_diff
from .models import Draft, DraftStatus, PublishRequest, RequestStatus
from .validation import draft_bundle, user_task_ids, validate_draft


@dataclass(frozen=True)
class ProcedureRow:
    definition: ProcessDefinition
    shipped: ProcessVersion | None
    own: ProcessVersion | None  # the tenant's newest variant
    current: ProcessVersion | None  # what new cases start on
    drafts: list[Draft]


def procedure_list(*, tenant: Tenant) -> list[ProcedureRow]:
    versions = list(process_versions_visible(tenant=tenant).defer("files").order_by("-version"))
    drafts = list(draft_list(tenant=tenant))
    rows = []
    for definition in ProcessDefinition.objects.order_by("name"):
        mine = [v for v in versions if v.definition_id == definition.pk]
        shipped = next((v for v in mine if v.tenant_id is None), None)
        own = next((v for v in mine if v.tenant_id == tenant.pk), None)
        if shipped is None and own is None:
            continue
        rows.append(ProcedureRow(definition=definition, shipped=shipped, own=own, current=own or shipped,
                                 drafts=[d for d in drafts if d.definition_id == definition.pk]))
    return rows


def draft_list(*, tenant: Tenant, status: str = DraftStatus.OPEN) -> QuerySet[Draft]:
    return (Draft.objects.for_tenant(tenant).filter(status=status)
            .select_related("definition", "base_version", "created_by", "updated_by").defer("files"))


def draft_get(*, tenant: Tenant, draft_id: int) -> Draft:
    draft = Draft.objects.for_tenant(tenant).select_related(
        "definition", "base_version", "shipped_base", "created_by").filter(pk=draft_id).first()
    if draft is None:
        raise NotFound(_("Bozza non trovata."), code="draft_not_found")
    return draft


def draft_problems(*, draft: Draft) -> list[Problem]:
    return validate_draft(draft.process_id, draft.files)


def version_list(*, tenant: Tenant, process_id: str) -> list[ProcessVersion]:
    return list(process_versions_visible(tenant=tenant).filter(definition__process_id=process_id)
                .select_related("tenant", "based_on").defer("files").order_by("-version"))


def version_get(*, tenant: Tenant, version_id: int) -> ProcessVersion:
    version = process_versions_visible(tenant=tenant).filter(pk=version_id).first()
    if version is None:
        raise NotFound(_("Versione non trovata."), code="version_not_found")
    return version


def current_version_id(*, tenant: Tenant, process_id: str) -> int | None:
    return process_latest_version_id(process_id=process_id, tenant=tenant)


def publish_request_list(*, tenant: Tenant, pending_only: bool = True) -> QuerySet[PublishRequest]:
    qs = PublishRequest.objects.for_tenant(tenant).select_related(
        "draft", "draft__definition", "requested_by", "decided_by", "version")
    if pending_only:
        qs = qs.filter(status=RequestStatus.PENDING)
    return qs


def publish_request_get(*, tenant: Tenant, request_id: int) -> PublishRequest:
    request = publish_request_list(tenant=tenant, pending_only=False).filter(pk=request_id).first()
    if request is None:
        raise NotFound(_("Richiesta non trovata."), code="request_not_found")
    return request


def shipped_update(*, draft: Draft) -> dict[str, Any] | None:
    """A newer shipped version than the draft's base: what it changed, file by file, and whether the
    draft changed the same file too (then taking the update overwrites the tenant's change)."""
    newest_id = process_latest_version_id(process_id=draft.process_id)
    if newest_id is None or newest_id == draft.shipped_base_id:
        return None
    newest = ProcessVersion.objects.get(pk=newest_id)
    if newest.version < draft.shipped_base.version:
        return None
    base, theirs, ours = draft.shipped_base.files, newest.files, draft.files
    files = []
    for path in sorted(set(base) | set(theirs)):
        if base.get(path) == theirs.get(path):
            continue
        status = "added" if path not in base else "removed" if path not in theirs else "changed"
        files.append({
            "path": path, "status": status,
            "draft_modified": ours.get(path) != base.get(path),
            "already_taken": ours.get(path) == theirs.get(path),
            "diff_text": "\n".join(text_diff(base.get(path), theirs.get(path), path=path)),
        })
    return {"base": draft.shipped_base, "newest": newest, "files": files}


# --------------------------------------------------------------------------- the editor's palette


def palette(*, draft: Draft) -> dict[str, Any]:
    """What the editor offers: roles for lanes, forms, operations with parameters, tasks for the
    four-eyes picker, message names, the manifest's public milestones, sandbox helpers."""
    files = draft.files
    forms = []
    for path in sorted(p for p in files if p.startswith("forms/") and p.endswith(".schema.json")):
        title = path.removeprefix("forms/")
        try:
            schema = json.loads(files[path])
            if isinstance(schema, dict) and isinstance(schema.get("title"), str):
                title = schema["title"]
        except ValueError:
            pass
        forms.append({"path": path.removeprefix("forms/"), "title": title})
    operations = []
    for op in all_operations():
        params = [{"name": p.name, "required": p.required} for p in op.params]
        operations.append({"name": op.name, "label": op.description.split(". ")[0][:200], "params": params})
    tasks: list[dict[str, str]] = []
    messages: list[dict[str, str]] = []
    bundle, _problems = draft_bundle(draft.process_id, files)
    try:
        spec, subprocess_specs = parse_bundle_files(files, draft.process_id)
    except Exception:  # a draft being edited may not parse: the palette is still useful without tasks
        spec = None
    if spec is not None:
        tasks = [{"id": task_id, "name": name} for task_id, name in user_task_ids(spec, subprocess_specs)]
        from engine.manifest import model_messages

        messages = [{"name": name} for name in sorted(model_messages((spec, subprocess_specs)))]
    milestones = bundle.manifest.get("public_milestones") if isinstance(bundle.manifest, dict) else {}
    return {
        "roles": [{"id": value, "label": str(label)} for value, label in Role.choices],
        "forms": forms,
        "operations": operations,
        "tasks": tasks,
        "messages": messages,
        "milestones": milestones if isinstance(milestones, dict) else {},
        "helpers": sorted(HELPER_NAMES),
    }

