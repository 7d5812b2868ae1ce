"""Audit events of the studio, one function per kind, called by the services that do the thing."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from audit.services import audit_record


def draft_created_event(*, draft, actor, ip: str | None, source: str) -> None:
    audit_record(
        tenant=draft.tenant, actor=actor, action="create", object_type="process_draft", object_id=str(draft.pk),
        object_repr=draft.title,
        summary=_("Creata la bozza \"%(t)s\" di %(p)s (%(s)s)") % {"t": draft.title, "p": draft.process_id, "s": source},
        after={"process": draft.process_id, "base_version": draft.base_version.version, "files": len(draft.files)},
        ip=ip,
    )


def draft_file_event(*, draft, actor, ip: str | None, path: str, action: str, before_hash: str | None,
                     after_hash: str | None) -> None:
    summary = (_("Modificato il file %(f)s della bozza \"%(t)s\"") if action == "update"
               else _("Eliminato il file %(f)s della bozza \"%(t)s\""))
    audit_record(
        tenant=draft.tenant, actor=actor, action=action, object_type="process_draft", object_id=str(draft.pk),
        object_repr=draft.title, summary=summary % {"f": path, "t": draft.title},
        before={"path": path, "sha256": before_hash}, after={"path": path, "sha256": after_hash,
                                                             "revision": draft.revision},
        ip=ip,
    )


def draft_changed_event(*, draft, actor, ip: str | None, summary: str, after: Any = None) -> None:
    audit_record(
        tenant=draft.tenant, actor=actor, action="update", object_type="process_draft", object_id=str(draft.pk),
        object_repr=draft.title, summary=summary, after=after, ip=ip,
    )


def publish_requested_event(*, request, actor, ip: str | None, scenarios: dict[str, Any] | None = None) -> None:
    audit_record(
        tenant=request.tenant, actor=actor, action="create", object_type="publish_request",
        object_id=str(request.pk), object_repr=request.draft.title,
        summary=_("Chiesta l'approvazione della bozza \"%(t)s\" (revisione %(r)d)")
        % {"t": request.draft.title, "r": request.draft_revision},
        after={"draft": request.draft_id, "revision": request.draft_revision, "content_hash": request.content_hash,
               "diff": request.diff_summary, "scenarios": scenarios},
        ip=ip,
    )


def publish_decided_event(*, request, actor, ip: str | None, scenarios: dict[str, Any] | None = None) -> None:
    audit_record(
        tenant=request.tenant, actor=actor, action="update", object_type="publish_request",
        object_id=str(request.pk), object_repr=request.draft.title,
        summary=_("Richiesta di pubblicazione della bozza \"%(t)s\": %(s)s")
        % {"t": request.draft.title, "s": request.get_status_display()},
        after={"status": request.status, "note": request.decision_note,
               **({"scenarios": scenarios} if scenarios is not None else {})}, ip=ip,
    )


def publish_refused_event(*, request, actor, ip: str | None, reason: str, scenarios: dict[str, Any]) -> None:
    """An approval refused because the scenarios did not pass on the requested content (the request
    stays pending: the requester runs them again, or withdraws it)."""
    audit_record(
        tenant=request.tenant, actor=actor, action="update", object_type="publish_request",
        object_id=str(request.pk), object_repr=request.draft.title,
        summary=_("Approvazione della bozza \"%(t)s\" rifiutata: %(r)s") % {"t": request.draft.title, "r": reason},
        after={"status": request.status, "refused": scenarios.get("code"), "scenarios": scenarios}, ip=ip,
    )


def version_published_event(*, request, version, actor, ip: str | None) -> None:
    """The publication itself: who asked, who approved, what changed (the diff summary) and the hash."""
    audit_record(
        tenant=request.tenant, actor=actor, action="create", object_type="process_version",
        object_id=str(version.pk), object_repr=f"{version.definition.process_id} v{version.version}",
        summary=_("Pubblicata la versione %(v)d di %(p)s per l'ente (approvata da %(a)s, chiesta da %(r)s)")
        % {"v": version.version, "p": version.definition.name, "a": actor.get_username(),
           "r": request.requested_by.get_username()},
        after={"process": version.definition.process_id, "version": version.version,
               "content_hash": version.content_hash, "based_on": version.based_on.version if version.based_on else None,
               "requested_by": request.requested_by.get_username(), "approved_by": actor.get_username(),
               "diff": request.diff_summary},
        ip=ip,
    )
