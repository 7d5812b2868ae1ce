"""Explicit audit helpers called by the services and views that do the thing."""

from __future__ import annotations

from .services import audit_record


def record_read(*, tenant, user, ip, object_type: str, object_id: str, object_repr: str = "") -> None:
    """Reads of case and personal data are logged (GDPR; tenders ask for it)."""
    audit_record(
        tenant=tenant, actor=user, action="read", object_type=object_type, object_id=object_id,
        object_repr=object_repr, summary=f"Consultazione {object_type} {object_repr}".strip(), ip=ip,
    )
