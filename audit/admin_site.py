"""The Django admin, with every change it makes written to the audit trail.

Django's admin keeps its own LogEntry table, outside the hash chain and editable by a
superuser. Every ModelAdmin registered on this site (ours, django.contrib.auth's, any
third party's) gets `AuditedModelAdminMixin`, so an addition, change or deletion made in
the admin is also an audit event with the row before and after.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core import serializers

# This module is loaded with the app registry (AuditedAdminConfig): models are imported late.

# Field names whose values never go into the audit trail (hashes, keys, credentials).
SECRET_MARKERS = ("password", "secret", "credential", "token", "pin", "key_pem")
LONG_VALUE = 500


def admin_change_event(**kwargs: Any) -> None:
    from .events import admin_change_event as event

    event(**kwargs)


def _snapshot(obj: Any) -> dict[str, Any] | None:
    if obj is None or obj.pk is None:
        return None
    fields = serializers.serialize("python", [obj])[0]["fields"]
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if any(marker in name.lower() for marker in SECRET_MARKERS):
            out[name] = "[omesso]" if value else value
        elif isinstance(value, str) and len(value) > LONG_VALUE:
            out[name] = f"[{len(value)} caratteri, sha256 {hashlib.sha256(value.encode()).hexdigest()}]"
        else:
            out[name] = value
    return out


class AuditedModelAdminMixin:
    """Hooks the admin's own logging points (log_addition, log_change, log_deletions)."""

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is not None and request.method == "POST":
            # The change form edits this instance in place: keep what it was before.
            request.__dict__.setdefault("_procedo_admin_before", {})[(obj._meta.label, obj.pk)] = _snapshot(obj)
        return obj

    def _before(self, request, obj) -> dict[str, Any] | None:
        return request.__dict__.get("_procedo_admin_before", {}).get((obj._meta.label, obj.pk))

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        admin_change_event(request=request, obj=obj, action="create", before=None, after=_snapshot(obj), message=message)
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        admin_change_event(
            request=request, obj=obj, action="update", before=self._before(request, obj), after=_snapshot(obj),
            message=message,
        )
        return entry

    def log_deletions(self, request, queryset):
        # Called before the rows are deleted, with the rows still readable.
        for obj in queryset:
            admin_change_event(request=request, obj=obj, action="delete", before=_snapshot(obj), after=None, message="")
        return super().log_deletions(request, queryset)  # type: ignore[misc]


class AuditedAdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedModelAdminMixin):
            admin_class = type(admin_class.__name__, (AuditedModelAdminMixin, admin_class), {
                "__module__": admin_class.__module__, "__doc__": admin_class.__doc__,
            })
        return super().register(model_or_iterable, admin_class, **options)


class AuditedAdminConfig(AdminConfig):
    default_site = "audit.admin_site.AuditedAdminSite"
