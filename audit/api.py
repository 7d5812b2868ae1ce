"""GET /api/v1/audit/: the tenant's audit trail for supervisors and process admins, JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt

from django.http import StreamingHttpResponse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers, viewsets

from accounts.api import TenantScopedMixin
from accounts.roles import AUDIT_READER_ROLES
from common.errors import ValidationFailed
from documents.exports import csv_safe

from .events import audit_trail_read_event
from .models import AuditEvent
from .services import audit_record, client_ip


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username")

    class Meta:
        model = AuditEvent
        fields = [
            "id", "seq", "created_at", "actor", "ip", "action", "object_type", "object_id", "object_repr",
            "summary", "before", "after", "hash",
        ]


class CSVRenderer(renderers.BaseRenderer):
    """Lets `?format=csv` and `Accept: text/csv` reach the view, which streams the rows."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else str(data).encode()


class _Echo:
    def write(self, value):
        return value


def _when(value: str | None, field: str) -> dt.datetime | None:
    if not value:
        return None
    parsed = None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationFailed(_("Filtro non valido."), details={field: [_("Data e ora non valide (ISO 8601).")]})
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class AuditViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, CSVRenderer]

    def filtered(self, request):
        self.require_role(*AUDIT_READER_ROLES)
        q = request.query_params
        qs = self.get_queryset().order_by("-created_at", "-id")
        if q.get("actor"):
            qs = qs.filter(actor_username=q["actor"])
        if q.get("action"):
            qs = qs.filter(action=q["action"])
        if q.get("object_type"):
            qs = qs.filter(object_type=q["object_type"])
        if q.get("object_id"):
            qs = qs.filter(object_id=q["object_id"])
        since, until = _when(q.get("since"), "since"), _when(q.get("until"), "until")
        if since:
            qs = qs.filter(created_at__gte=since)
        if until:
            qs = qs.filter(created_at__lte=until)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("actor", str), OpenApiParameter("action", str), OpenApiParameter("object_type", str),
            OpenApiParameter("object_id", str), OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses=AuditEventSerializer(many=True),
    )
    def list(self, request):
        qs = self.filtered(request)
        if request.accepted_renderer.format == "csv":
            audit_record(
                tenant=self.tenant, actor=request.user, action="export", object_type="audit", object_id="*",
                summary=_("Esportazione CSV del registro di audit"), extra=dict(request.query_params), ip=client_ip(request),
            )
            writer = csv.writer(_Echo())
            columns = ["id", "seq", "created_at", "actor_username", "ip", "action", "object_type", "object_id", "summary", "hash"]

            def rows():
                yield writer.writerow(columns)
                for event in qs.iterator(chunk_size=2000):
                    yield writer.writerow([csv_safe(getattr(event, c)) for c in columns])

            response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="audit.csv"'
            return response
        page = self.paginate_queryset(qs)
        # Recorded once the page is read, so the read does not list itself.
        audit_trail_read_event(tenant=self.tenant, user=request.user, ip=client_ip(request),
                               filters=dict(request.query_params), count=len(page))
        return self.get_paginated_response(AuditEventSerializer(page, many=True).data)
