"""Writes of the studio: drafts, their files, publish requests and their four-eyes approval.

Who may do what (in the current tenant only):
- process administrators create drafts, edit them, import bundles, ask for publication;
- a *different* process administrator or a supervisor approves or rejects a request;
- nobody else gets in.
A request is made, and approved, only when the draft validates and its scenarios were run on exactly
the content being published and all passed (studio.scenario_gate); a refused approval is audited.
Every change is audited explicitly (studio.events).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from accounts.roles import Role
from accounts.selectors import roles_for
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from engine.bundles import Bundle, BundleError
from engine.models import ProcessDefinition, ProcessVersion
from engine.registry import tenant_version_publish
from engine.selectors import process_latest_version, process_versions_visible

from . import events
from .bundle_zip import import_zip
from .diff import diff_summary
from .models import Draft, DraftStatus, PublishRequest, RequestStatus
from .paths import check_totals, clean_path, stored_content
from .scenario_gate import ScenarioGate, scenario_gate
from .validation import draft_bundle, has_errors, validate_draft

EDITOR_ROLES = frozenset({Role.PROCESS_ADMIN})
APPROVER_ROLES = frozenset({Role.PROCESS_ADMIN, Role.SUPERVISOR})
READER_ROLES = APPROVER_ROLES


def can_edit(*, user: User, tenant: Tenant) -> bool:
    return bool(roles_for(user=user, tenant=tenant) & EDITOR_ROLES)


def can_approve(*, user: User, tenant: Tenant) -> bool:
    return bool(roles_for(user=user, tenant=tenant) & APPROVER_ROLES)


def require_editor(*, user: User, tenant: Tenant) -> None:
    if not can_edit(user=user, tenant=tenant):
        raise PermissionRefused(_("Solo gli amministratori dei procedimenti modificano i procedimenti."),
                                code="studio_edit_not_allowed")


def require_reader(*, user: User, tenant: Tenant) -> None:
    if not roles_for(user=user, tenant=tenant) & READER_ROLES:
        raise PermissionRefused(_("Lo studio dei procedimenti è riservato agli amministratori dei procedimenti "
                                  "e ai responsabili."), code="studio_not_allowed")


def _sha(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else None


def content_hash(files: dict[str, str]) -> str:
    """The hash the published version will carry (engine.bundles.Bundle.content_hash)."""
    return Bundle(process_id="", files=files).content_hash


def _shipped_base(version: ProcessVersion) -> ProcessVersion:
    if version.tenant_id is None:
        return version
    if version.based_on_id is not None:
        return version.based_on  # type: ignore[return-value]
    return process_latest_version(process_id=version.definition.process_id)


def _locked_open_draft(*, tenant: Tenant, draft_id: int) -> Draft:
    draft = Draft.objects.for_tenant(tenant).select_for_update().select_related("definition").filter(
        pk=draft_id).first()
    if draft is None:
        raise NotFound(_("Bozza non trovata."), code="draft_not_found")
    if draft.status != DraftStatus.OPEN:
        raise Conflict(_("La bozza non è più modificabile (%(s)s).") % {"s": draft.get_status_display()},
                       code="draft_closed")
    return draft


# --------------------------------------------------------------------------- drafts


def draft_create(*, tenant: Tenant, actor: User, version_id: int, title: str = "", ip: str | None = None) -> Draft:
    """Fork a version the tenant sees (shipped, or its own variant) into a new draft."""
    require_editor(user=actor, tenant=tenant)
    version = process_versions_visible(tenant=tenant).filter(pk=version_id).first()
    if version is None:
        raise NotFound(_("Versione non trovata."), code="version_not_found")
    title = (title or "").strip()[:200] or _("Variante di %(p)s") % {"p": version.definition.name}
    now = clock.now()
    with transaction.atomic():
        draft = Draft.objects.create(
            tenant=tenant, definition=version.definition, base_version=version, shipped_base=_shipped_base(version),
            title=title, files=dict(version.files), created_by=actor, created_at=now, updated_at=now,
            updated_by=actor,
        )
        events.draft_created_event(draft=draft, actor=actor, ip=ip,
                                   source=_("dalla versione %(v)d") % {"v": version.version})
    return draft


def draft_import(*, tenant: Tenant, actor: User, data: bytes, draft_id: int | None = None,
                 ip: str | None = None) -> Draft:
    """A bundle zip into a new draft (its procedure told by the archive) or into an existing draft
    (replacing its files). The archive is read defensively (studio.bundle_zip)."""
    require_editor(user=actor, tenant=tenant)
    top, files = import_zip(data)
    if draft_id is not None:
        with transaction.atomic():
            draft = _locked_open_draft(tenant=tenant, draft_id=draft_id)
            if f"{draft.process_id}.bpmn" not in files:
                raise ValidationFailed(
                    _("L'archivio non contiene il modello %(f)s di questo procedimento.")
                    % {"f": f"{draft.process_id}.bpmn"}, code="zip_wrong_process")
            draft.files = files
            _touch(draft, actor)
            events.draft_changed_event(draft=draft, actor=actor, ip=ip,
                                       summary=_("Importato un archivio nella bozza \"%(t)s\"") % {"t": draft.title},
                                       after={"files": len(files), "revision": draft.revision})
        return draft
    candidates = [top] if top else [p.removesuffix(".bpmn") for p in files if p.endswith(".bpmn") and "/" not in p]
    definition = ProcessDefinition.objects.filter(process_id__in=[c for c in candidates if c]).first()
    if definition is None or f"{definition.process_id}.bpmn" not in files:
        raise ValidationFailed(_("L'archivio non contiene un procedimento noto: la cartella o il modello BPMN deve "
                                 "chiamarsi come un procedimento pubblicato."), code="zip_unknown_process")
    base = process_latest_version(process_id=definition.process_id, tenant=tenant)
    now = clock.now()
    with transaction.atomic():
        draft = Draft.objects.create(
            tenant=tenant, definition=definition, base_version=base, shipped_base=_shipped_base(base),
            title=_("Importazione di %(p)s") % {"p": definition.name}, files=files, created_by=actor,
            created_at=now, updated_at=now, updated_by=actor,
        )
        events.draft_created_event(draft=draft, actor=actor, ip=ip, source=_("da un archivio zip"))
    return draft


def _touch(draft: Draft, actor: User) -> None:
    draft.revision += 1
    draft.updated_at = clock.now()
    draft.updated_by = actor
    draft.save(update_fields=["files", "revision", "updated_at", "updated_by", "shipped_base"])


def draft_file_save(*, tenant: Tenant, actor: User, draft_id: int, path: Any, content: Any,
                    ip: str | None = None) -> Draft:
    """Create or replace one file of an open draft (path and size checked)."""
    require_editor(user=actor, tenant=tenant)
    path = clean_path(path)
    content = stored_content(path, content)
    with transaction.atomic():
        draft = _locked_open_draft(tenant=tenant, draft_id=draft_id)
        before = draft.files.get(path)
        if before == content:
            return draft
        files = {**draft.files, path: content}
        check_totals(files)
        draft.files = files
        _touch(draft, actor)
        events.draft_file_event(draft=draft, actor=actor, ip=ip, path=path, action="update",
                                before_hash=_sha(before), after_hash=_sha(content))
    return draft


def draft_file_delete(*, tenant: Tenant, actor: User, draft_id: int, path: Any, ip: str | None = None) -> Draft:
    require_editor(user=actor, tenant=tenant)
    path = clean_path(path)
    with transaction.atomic():
        draft = _locked_open_draft(tenant=tenant, draft_id=draft_id)
        if path not in draft.files:
            raise NotFound(_("Il file %(p)s non esiste nella bozza.") % {"p": path}, code="file_not_found")
        if path == f"{draft.process_id}.bpmn":
            raise ValidationFailed(_("Il modello principale non si può eliminare."), code="main_model")
        before = draft.files[path]
        draft.files = {k: v for k, v in draft.files.items() if k != path}
        _touch(draft, actor)
        events.draft_file_event(draft=draft, actor=actor, ip=ip, path=path, action="delete",
                                before_hash=_sha(before), after_hash=None)
    return draft


def draft_discard(*, tenant: Tenant, actor: User, draft_id: int, ip: str | None = None) -> Draft:
    require_editor(user=actor, tenant=tenant)
    with transaction.atomic():
        draft = _locked_open_draft(tenant=tenant, draft_id=draft_id)
        draft.status = DraftStatus.DISCARDED
        draft.updated_at = clock.now()
        draft.save(update_fields=["status", "updated_at"])
        PublishRequest.objects.filter(draft=draft, status=RequestStatus.PENDING).update(
            status=RequestStatus.WITHDRAWN, decided_by=actor, decided_at=clock.now())
        events.draft_changed_event(draft=draft, actor=actor, ip=ip,
                                   summary=_("Scartata la bozza \"%(t)s\"") % {"t": draft.title})
    return draft


def draft_take_shipped_update(*, tenant: Tenant, actor: User, draft_id: int, paths: list[str],
                              finish: bool = False, ip: str | None = None) -> Draft:
    """Take files of the newest shipped version into the draft (merge per file). With `finish`,
    the newest shipped version becomes the draft's base: the update is no longer offered."""
    require_editor(user=actor, tenant=tenant)
    with transaction.atomic():
        draft = _locked_open_draft(tenant=tenant, draft_id=draft_id)
        newest = process_latest_version(process_id=draft.process_id)
        if newest.pk == draft.shipped_base_id:
            raise Conflict(_("Non ci sono aggiornamenti della versione distribuita."), code="no_update")
        taken = []
        files = dict(draft.files)
        for path in paths:
            path = clean_path(path)
            if newest.files.get(path) == draft.shipped_base.files.get(path):
                continue  # not changed by the update
            if path in newest.files:
                files[path] = newest.files[path]
            else:
                files.pop(path, None)
            taken.append(path)
        draft.files = files
        if finish:
            draft.shipped_base = newest
        if not taken and not finish:
            return draft
        _touch(draft, actor)
        events.draft_changed_event(
            draft=draft, actor=actor, ip=ip,
            summary=_("Recepito l'aggiornamento della versione distribuita %(v)d nella bozza \"%(t)s\"")
            % {"v": newest.version, "t": draft.title},
            after={"taken": taken, "base_updated": finish, "revision": draft.revision})
    return draft


# --------------------------------------------------------------------------- publish, four eyes


def publish_request_create(*, tenant: Tenant, actor: User, draft_id: int, note: str = "",
                           ip: str | None = None) -> PublishRequest:
    """Ask a second person to publish the draft as it is now (validated first)."""
    require_editor(user=actor, tenant=tenant)
    with transaction.atomic():
        draft = _locked_open_draft(tenant=tenant, draft_id=draft_id)
        if PublishRequest.objects.filter(draft=draft, status=RequestStatus.PENDING).exists():
            raise Conflict(_("Per questa bozza c'è già una richiesta in attesa."), code="request_pending")
        problems = validate_draft(draft.process_id, draft.files)
        if has_errors(problems):
            raise ValidationFailed(_("La bozza ha errori da correggere prima della pubblicazione."),
                                   code="draft_invalid", details={"problems": [p.as_dict() for p in problems]})
        digest = content_hash(draft.files)
        if digest == draft.base_version.content_hash:
            raise ValidationFailed(_("La bozza è identica alla versione da cui è partita: non c'è nulla da pubblicare."),
                                   code="no_changes")
        gate = draft_scenario_gate(draft=draft)
        if not gate.passed:
            raise ValidationFailed(gate.reason, code=gate.code, details={"scenarios": gate.as_audit()})
        request = PublishRequest.objects.create(
            tenant=tenant, draft=draft, draft_revision=draft.revision, content_hash=digest,
            diff_summary=diff_summary(draft.base_version.files, draft.files), note=(note or "").strip()[:2000],
            requested_by=actor, requested_at=clock.now(), scenario_run=gate.run,
        )
        events.publish_requested_event(request=request, actor=actor, ip=ip, scenarios=gate.as_audit())
    return request


def draft_scenario_gate(*, draft: Draft) -> ScenarioGate:
    """Whether the draft's scenarios passed on its current content (and which the draft dropped)."""
    return scenario_gate(tenant=draft.tenant_id, draft_id=draft.pk, files=draft.files,
                         base_files=draft.base_version.files)


def _locked_pending_request(*, tenant: Tenant, request_id: int) -> PublishRequest:
    request = (PublishRequest.objects.for_tenant(tenant).select_for_update()
               .select_related("draft", "draft__definition", "requested_by").filter(pk=request_id).first())
    if request is None:
        raise NotFound(_("Richiesta non trovata."), code="request_not_found")
    if request.status != RequestStatus.PENDING:
        raise Conflict(_("La richiesta è già stata decisa (%(s)s).") % {"s": request.get_status_display()},
                       code="request_decided")
    return request


def _require_second_person(*, tenant: Tenant, actor: User, request: PublishRequest) -> None:
    if not can_approve(user=actor, tenant=tenant):
        raise PermissionRefused(_("Approva solo un responsabile o un altro amministratore dei procedimenti."),
                                code="approve_not_allowed")
    if actor.pk == request.requested_by_id:
        raise PermissionRefused(_("Chi chiede la pubblicazione non può approvarla: serve una seconda persona."),
                                code="four_eyes")


def publish_request_approve(*, tenant: Tenant, actor: User, request_id: int, note: str = "",
                            ip: str | None = None) -> ProcessVersion:
    """Publish the draft as a new immutable version of the tenant (four eyes, audited with the diff).

    Refused, and the refusal audited, unless the scenarios passed on exactly the requested content."""
    refused: tuple[PublishRequest, ScenarioGate] | None = None
    with transaction.atomic():
        version = _approve(tenant=tenant, actor=actor, request_id=request_id, note=note, ip=ip)
        if isinstance(version, tuple):
            refused = version
    if refused is not None:
        request, gate = refused
        events.publish_refused_event(request=request, actor=actor, ip=ip, reason=gate.reason,
                                     scenarios=gate.as_audit())
        raise ValidationFailed(gate.reason, code=gate.code, details={"scenarios": gate.as_audit()})
    return version  # type: ignore[return-value]


def _approve(*, tenant: Tenant, actor: User, request_id: int, note: str,
             ip: str | None) -> ProcessVersion | tuple[PublishRequest, ScenarioGate]:
    request = _locked_pending_request(tenant=tenant, request_id=request_id)
    _require_second_person(tenant=tenant, actor=actor, request=request)
    draft = Draft.objects.select_for_update().select_related("definition", "shipped_base").get(pk=request.draft_id)
    if draft.status != DraftStatus.OPEN or draft.revision != request.draft_revision \
            or content_hash(draft.files) != request.content_hash:
        raise Conflict(_("La bozza è cambiata dopo la richiesta: chi l'ha modificata deve chiedere di nuovo "
                         "l'approvazione."), code="draft_changed")
    problems = validate_draft(draft.process_id, draft.files)
    if has_errors(problems):
        raise ValidationFailed(_("La bozza non supera la validazione: non si può pubblicare."),
                               code="draft_invalid", details={"problems": [p.as_dict() for p in problems]})
    gate = draft_scenario_gate(draft=draft)
    if not gate.passed:
        return request, gate  # nothing written: the caller audits the refusal outside the transaction
    bundle, _problems = draft_bundle(draft.process_id, draft.files)
    try:
        version = tenant_version_publish(tenant=tenant, bundle=bundle, based_on=draft.shipped_base)
    except BundleError as exc:
        raise ValidationFailed(_("La bozza non supera i controlli di pubblicazione."), code="draft_invalid",
                               details={"problems": [{"file": "", "element_id": None, "code": "bundle_invalid",
                                                      "message": p, "severity": "error"} for p in exc.problems]}
                               ) from exc
    now = clock.now()
    request.status = RequestStatus.APPROVED
    request.decided_by = actor
    request.decided_at = now
    request.decision_note = (note or "").strip()[:2000]
    request.version = version
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "version"])
    draft.status = DraftStatus.PUBLISHED
    draft.updated_at = now
    draft.save(update_fields=["status", "updated_at"])
    events.publish_decided_event(request=request, actor=actor, ip=ip, scenarios=gate.as_audit())
    events.version_published_event(request=request, version=version, actor=actor, ip=ip)
    return version


def publish_request_reject(*, tenant: Tenant, actor: User, request_id: int, note: str = "",
                           ip: str | None = None) -> PublishRequest:
    with transaction.atomic():
        request = _locked_pending_request(tenant=tenant, request_id=request_id)
        _require_second_person(tenant=tenant, actor=actor, request=request)
        request.status = RequestStatus.REJECTED
        request.decided_by = actor
        request.decided_at = clock.now()
        request.decision_note = (note or "").strip()[:2000]
        request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        events.publish_decided_event(request=request, actor=actor, ip=ip)
    return request


def publish_request_withdraw(*, tenant: Tenant, actor: User, request_id: int, ip: str | None = None) -> PublishRequest:
    require_editor(user=actor, tenant=tenant)
    with transaction.atomic():
        request = _locked_pending_request(tenant=tenant, request_id=request_id)
        request.status = RequestStatus.WITHDRAWN
        request.decided_by = actor
        request.decided_at = clock.now()
        request.save(update_fields=["status", "decided_by", "decided_at"])
        events.publish_decided_event(request=request, actor=actor, ip=ip)
    return request
