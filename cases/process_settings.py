"""A municipality's settings for a procedure (manifest `settings`), read when a case opens.

The manifest declares each setting with its type, bounds and default; a supervisor (or the
process administrator) changes the tenant's value on the procedure's settings page. A case gets
the values as they are when it opens (`settings` in its data): a later change never moves the
terms of a case already running.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.roles import Role
from accounts.selectors import roles_for
from audit.services import audit_record
from common import clock
from common.errors import NotFound, PermissionRefused, ValidationFailed
from engine.manifest import Manifest, manifest_of
from engine.selectors import process_latest_version

from .models import ProcessSettings

logger = logging.getLogger(__name__)

EDITOR_ROLES = frozenset({Role.SUPERVISOR, Role.PROCESS_ADMIN})


def settings_for(tenant: Any, manifest: Manifest) -> dict[str, Any]:
    """The values a new case of the procedure gets: the tenant's, else the declared default.
    A stored value that no longer fits the declaration (bounds changed) falls back to the default."""
    values = manifest.setting_defaults()
    if not manifest.settings:
        return values
    stored = (ProcessSettings.objects.filter(tenant=tenant, process_id=manifest.process_id)
              .values_list("values", flat=True).first()) or {}
    for setting in manifest.settings:
        if setting.name in stored:
            try:
                values[setting.name] = setting.clean(stored[setting.name])
            except ValueError:
                logger.warning("setting %s of %s for tenant %s no longer valid: default used",
                               setting.name, manifest.process_id, getattr(tenant, "pk", tenant))
    return values


def _manifest(process_id: str) -> Manifest:
    try:
        version = process_latest_version(process_id=process_id)
    except NotFound as exc:
        raise NotFound(_("Procedimento sconosciuto."), code="unknown_process") from exc
    return manifest_of(version)


def settings_page_data(*, tenant: Any, user: Any, process_id: str) -> tuple[Manifest, dict[str, Any]]:
    require_editor(tenant=tenant, user=user)
    manifest = _manifest(process_id)
    return manifest, settings_for(tenant, manifest)


def require_editor(*, tenant: Any, user: Any) -> None:
    if not roles_for(user=user, tenant=tenant) & EDITOR_ROLES:
        raise PermissionRefused(_("Solo il responsabile o l'amministratore dei procedimenti modifica le impostazioni."))


def settings_update(*, tenant: Any, user: Any, process_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """Set the tenant's values (every declared setting; a missing boolean is "no"); audited."""
    require_editor(tenant=tenant, user=user)
    manifest = _manifest(process_id)
    if not manifest.settings:
        raise NotFound(_("Il procedimento non ha impostazioni."), code="no_settings")
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for setting in manifest.settings:
        raw = values.get(setting.name, False if setting.type == "boolean" else "")
        try:
            cleaned[setting.name] = setting.clean(raw)
        except ValueError as exc:
            errors[setting.name] = [_("%(title)s: %(error)s") % {"title": setting.title, "error": str(exc)}]
    if errors:
        raise ValidationFailed(_("Alcune impostazioni non sono valide."), details=errors)
    with transaction.atomic():
        row = ProcessSettings.objects.select_for_update().filter(tenant=tenant, process_id=process_id).first()
        before = dict(row.values) if row else {}
        if row is None:
            row = ProcessSettings(tenant=tenant, process_id=process_id, values={})
        row.values = cleaned
        row.updated_at = clock.now()
        row.updated_by = user
        row.save()
        audit_record(
            tenant=tenant, actor=user, action="process.settings", object_type="process",
            object_id=process_id, object_repr=manifest.name,
            summary=_("Impostazioni del procedimento «%(name)s» modificate") % {"name": manifest.name},
            before=before, after=cleaned,
        )
    return cleaned
