from __future__ import annotations

from django.db.models import QuerySet

from common.errors import NotFound

from .models import Incident, IncidentStatus, ProcessVersion


def process_latest_version(*, process_id: str) -> ProcessVersion:
    version = (
        ProcessVersion.objects.select_related("definition")
        .filter(definition__process_id=process_id)
        .order_by("-version")
        .first()
    )
    if version is None:
        raise NotFound(f"unknown process {process_id!r}", code="unknown_process")
    return version


def incident_list(*, tenant, open_only: bool = True) -> QuerySet[Incident]:
    qs = Incident.objects.for_tenant(tenant).select_related("instance").order_by("-created_at")
    if open_only:
        qs = qs.filter(status=IncidentStatus.OPEN)
    return qs
