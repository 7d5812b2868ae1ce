"""REST API for cases, tasks and incidents (/api/v1/). Thin: parse, call, render."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api import TenantScopedMixin
from accounts.models import User
from accounts.roles import STAFF_ROLES, Role
from audit.events import record_read
from audit.services import audit_record, client_ip
from common.errors import ValidationFailed
from documents.exports import export_rows
from engine.bundles import version_by_id, version_form
from engine.manifest import manifest_of
from engine.selectors import incident_list

from . import selectors, services
from .models import Case, Comment, WorkItem

# --------------------------------------------------------------------------- serializers


class WorkItemSerializer(serializers.Serializer):
    # A plain Serializer, not a ModelSerializer: it is on every task completion's path, and a
    # ModelSerializer rebuilds its fields from the model on each use.
    id = serializers.IntegerField(read_only=True)
    case_id = serializers.IntegerField(source="case.id", read_only=True)
    case_number = serializers.CharField(source="case.number", read_only=True)
    process = serializers.CharField(source="case.process_id", read_only=True)
    bpmn_id = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    role = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    assignee = serializers.CharField(source="assignee.username", default=None, read_only=True)
    claimed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    due_at = serializers.DateField(read_only=True, allow_null=True)
    priority = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    completed_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        fields = [
            "id", "case_id", "case_number", "process", "bpmn_id", "name", "role", "status",
            "assignee", "claimed_at", "due_at", "priority", "created_at", "completed_at",
        ]


def _when(value: dt.datetime | None, tz: dt.tzinfo | None) -> str | None:
    """DRF's DateTimeField output (ISO 8601 in the current time zone, "Z" for UTC), the zone looked up once."""
    if value is None:
        return None
    text = (value.astimezone(tz) if tz is not None and timezone.is_aware(value) else value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def work_item_rows(rows: Any) -> list[dict[str, Any]]:
    """`WorkItemSerializer(items, many=True).data` for the inbox's rows (`selectors.inbox_api_rows`: plain
    values), without model instances or the serializer machinery; tests/cases/test_inbox_api_rows.py proves
    the two equal."""
    tz = timezone.get_current_timezone() if settings.USE_TZ else None
    return [
        {
            "id": r["id"], "case_id": r["case_id"], "case_number": r["case__number"], "process": r["case__process_id"],
            "bpmn_id": r["bpmn_id"], "name": r["name"], "role": r["role"], "status": r["status"],
            "assignee": r["assignee__username"], "claimed_at": _when(r["claimed_at"], tz),
            "due_at": r["due_at"].isoformat() if r["due_at"] else None, "priority": r["priority"],
            "created_at": _when(r["created_at"], tz), "completed_at": _when(r["completed_at"], tz),
        }
        for r in rows
    ]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def work_item_payload(item: WorkItem) -> dict[str, Any]:
    """`WorkItemSerializer(item).data` for one work item (its case, and its assignee when it has one,
    already loaded), without the serializer machinery: the answer of every claim and completion.
    tests/cases/test_inbox_api_rows.py proves the two equal."""
    tz = timezone.get_current_timezone() if settings.USE_TZ else None
    case = item.case
    assignee = item.assignee if item.assignee_id is not None else None
    return {
        "id": item.pk, "case_id": case.id, "case_number": _text(case.number), "process": _text(case.process_id),
        "bpmn_id": _text(item.bpmn_id), "name": _text(item.name), "role": _text(item.role),
        "status": _text(item.status), "assignee": _text(assignee.username) if assignee is not None else None,
        "claimed_at": _when(item.claimed_at, tz), "due_at": item.due_at.isoformat() if item.due_at else None,
        "priority": None if item.priority is None else int(item.priority),
        "created_at": _when(item.created_at, tz), "completed_at": _when(item.completed_at, tz),
    }


class WorkItemDetailSerializer(WorkItemSerializer):
    form = serializers.SerializerMethodField()
    ui_form = serializers.SerializerMethodField()
    instructions = serializers.CharField(read_only=True)

    class Meta(WorkItemSerializer.Meta):
        fields = [*WorkItemSerializer.Meta.fields, "instructions", "form", "ui_form"]

    def get_form(self, item: WorkItem) -> dict[str, Any] | None:
        return version_form(item.case.process_version, item.form) if item.form else None

    def get_ui_form(self, item: WorkItem) -> dict[str, Any] | None:
        return version_form(item.case.process_version, item.ui_form) if item.ui_form else None


class CaseSerializer(serializers.ModelSerializer):
    process = serializers.CharField(source="process_id", read_only=True)
    process_version = serializers.IntegerField(source="process_version.version", read_only=True)

    class Meta:
        model = Case
        fields = [
            "id", "number", "process", "process_version", "title", "status", "outcome", "business_key",
            "subjects", "opened_at", "closed_at", "legal_due_date", "has_open_incident",
        ]


class PublicMilestoneSerializer(serializers.Serializer):
    label = serializers.CharField()
    current = serializers.BooleanField()


class PublicDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    filename = serializers.CharField()
    created_at = serializers.DateTimeField()
    signed = serializers.BooleanField()
    verification_code = serializers.CharField(allow_null=True)
    revoked = serializers.BooleanField()


class PublicNoticeSerializer(serializers.Serializer):
    subject = serializers.CharField()
    text = serializers.CharField()
    sent_at = serializers.DateTimeField()


class PublicCaseSummarySerializer(serializers.Serializer):
    """A citizen's case in a list: no subjects, keys, incidents or tasks."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    procedure = serializers.CharField(source="title")
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    legal_due_date = serializers.DateField(allow_null=True)


class PublicCaseSerializer(serializers.Serializer):
    """The public view of a case (`selectors.case_public_view`): what a citizen and the portal see."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    procedure = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    outcome = serializers.CharField(allow_blank=True)
    outcome_label = serializers.CharField(allow_blank=True)
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    legal_due_date = serializers.DateField(allow_null=True)
    milestones = PublicMilestoneSerializer(many=True)
    documents = PublicDocumentSerializer(many=True)
    notices = PublicNoticeSerializer(many=True)
    submitted = serializers.DictField()


class CaseCreateSerializer(serializers.Serializer):
    process = serializers.CharField(max_length=100)
    data = serializers.JSONField()
    received_on = serializers.DateField(
        required=False, allow_null=True, input_formats=["iso-8601"],
        help_text="Day the request reached the office (ISO date, default today, never in the future; more than "
                  "5 working days back only for a supervisor, with received_on_reason). Every term runs from it.",
    )
    channel = serializers.ChoiceField(
        choices=services.RECEIPT_CHANNELS, required=False, allow_null=True,
        help_text="How the request arrived (default: counter for staff, portal for a citizen).",
    )
    received_on_reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", default=None, read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


def _payload_for(case: Case, user: User, *, detail: bool = False) -> dict[str, Any]:
    """The staff payload, or the public view for a user without an office role (a citizen)."""
    if selectors.case_is_public_only(tenant=case.tenant, user=user):
        return PublicCaseSerializer(selectors.case_public_view(case=case, user=user)).data
    return _case_payload(case, detail=detail)


def case_fields(case: Case) -> dict[str, Any]:
    """`CaseSerializer(case).data` without the serializer machinery (a ModelSerializer builds its fields
    from the model on every use: ~3 ms of CPU per case start). tests/cases/test_inbox_api_rows.py proves
    the two equal; CaseSerializer stays the schema."""
    tz = timezone.get_current_timezone() if settings.USE_TZ else None
    return {
        "id": case.pk, "number": _text(case.number), "process": _text(case.process_id),
        "process_version": int(case.process_version.version), "title": _text(case.title),
        "status": _text(case.status), "outcome": _text(case.outcome), "business_key": _text(case.business_key),
        "subjects": case.subjects, "opened_at": _when(case.opened_at, tz), "closed_at": _when(case.closed_at, tz),
        "legal_due_date": case.legal_due_date.isoformat() if case.legal_due_date else None,
        "has_open_incident": bool(case.has_open_incident),
    }


def _case_payload(case: Case, *, detail: bool = False) -> dict[str, Any]:
    body = case_fields(case)
    outcomes = manifest_of(version_by_id(case.process_version_id)).outcomes
    body["outcome_label"] = outcomes.get(case.outcome, case.outcome)
    body["tasks"] = work_item_rows(selectors.case_open_task_rows(case_id=case.pk))
    if detail:
        body["data"] = case.data
        body["history"] = selectors.case_history(case=case)
        body["comments"] = CommentSerializer(case.comments.select_related("author"), many=True).data
        body["incidents"] = [
            {"id": i.pk, "kind": i.kind, "message": i.message, "status": i.status, "created_at": i.created_at}
            for i in case.instance.incidents.order_by("-created_at")
        ] if case.instance_id else []
    return body


def _parse_date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(
            _("Data non valida."), details={field: [_("Data non valida: usa il formato AAAA-MM-GG.")]}
        ) from exc


# --------------------------------------------------------------------------- exports


def _file_renderer(fmt: str, media_type: str) -> type[renderers.BaseRenderer]:
    """Lets `?format=<fmt>` reach the view, which builds the file itself."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        # An error answer (400, 403, ...) reached a file renderer: send it as JSON text.
        if renderer_context and renderer_context.get("response") is not None:
            renderer_context["response"]["Content-Type"] = "application/json"
        return json.dumps(data, cls=DjangoJSONEncoder).encode()

    return type(
        f"{fmt.upper()}FileRenderer",
        (renderers.BaseRenderer,),
        {"format": fmt, "media_type": media_type, "charset": None, "render": render},
    )


FILE_RENDERERS = [
    _file_renderer("csv", "text/csv"),
    _file_renderer("xml", "application/xml"),
    _file_renderer("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    _file_renderer("odt", "application/vnd.oasis.opendocument.text"),
    _file_renderer("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
]
EXPORT_LIMIT = 100_000


def case_export_columns() -> list[tuple[str, str]]:
    return [
        ("number", _("Numero")), ("process", _("Procedimento")), ("title", _("Titolo")), ("status", _("Stato")),
        ("outcome", _("Esito")), ("subjects", _("Soggetti")), ("opened_at", _("Aperta il")),
        ("closed_at", _("Chiusa il")), ("legal_due_date", _("Termine")),
    ]


def _case_row(case: Case) -> dict[str, Any]:
    return {
        "number": case.number, "process": case.process_id, "title": case.title,
        "status": case.get_status_display(), "outcome": case.outcome,
        "subjects": [f"{s.get('family_name', '')} {s.get('given_name', '')} ({s.get('fiscal_code', '')})".strip()
                     for s in case.subjects],
        "opened_at": case.opened_at, "closed_at": case.closed_at, "legal_due_date": case.legal_due_date,
    }


# --------------------------------------------------------------------------- cases


class CaseViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    serializer_class = CaseSerializer
    queryset = Case.objects.all()
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, *FILE_RENDERERS]

    def get_queryset(self):
        return selectors.case_visible_qs(tenant=self.tenant, user=self.request.user)

    def get_renderers(self):
        if getattr(self, "action", None) in ("list", "export"):
            return super().get_renderers()
        return [renderers.JSONRenderer(), renderers.BrowsableAPIRenderer()]

    @extend_schema(
        parameters=[
            OpenApiParameter("number", str), OpenApiParameter("status", str, enum=["open", "closed", "cancelled"]),
            OpenApiParameter("process", str), OpenApiParameter("fiscal_code", str),
            OpenApiParameter("due_before", OpenApiTypes.DATE), OpenApiParameter("due_after", OpenApiTypes.DATE),
        ],
        responses=CaseSerializer(many=True),
    )
    def list(self, request):
        qs = self._filtered(request)
        if request.accepted_renderer.format not in ("json", "api"):
            return self._export(request, qs, request.accepted_renderer.format)
        page = self.paginate_queryset(qs)
        serializer = (PublicCaseSummarySerializer if selectors.case_is_public_only(tenant=self.tenant, user=request.user)
                      else CaseSerializer)
        # A search shows subjects' personal data: the search itself is audited, once.
        q = request.query_params
        record_read(
            tenant=self.tenant, user=request.user, ip=client_ip(request), object_type="case_list",
            object_id="*", object_repr="&".join(f"{k}={v}" for k, v in sorted(q.items()))[:300],
        )
        return self.get_paginated_response(serializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["json", "csv", "xml", "ods", "odt", "xlsx"]),
            OpenApiParameter("number", str), OpenApiParameter("status", str), OpenApiParameter("process", str),
            OpenApiParameter("fiscal_code", str), OpenApiParameter("due_before", OpenApiTypes.DATE),
            OpenApiParameter("due_after", OpenApiTypes.DATE),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request):
        """The whole filtered list as a file (up to 100,000 rows): ODS, ODT, XLSX, CSV, XML or JSON."""
        fmt = request.accepted_renderer.format
        return self._export(request, self._filtered(request), "json" if fmt == "api" else fmt)

    def _filtered(self, request):
        q = request.query_params
        return selectors.case_list(
            tenant=self.tenant,
            user=request.user,
            number=q.get("number"),
            status=q.get("status"),
            process=q.get("process"),
            fiscal_code=q.get("fiscal_code"),
            due_before=_parse_date(q.get("due_before"), "due_before"),
            due_after=_parse_date(q.get("due_after"), "due_after"),
        )

    def _export(self, request, qs, fmt: str) -> HttpResponse:
        # Exports list every subject of every case: office work, not the public view.
        self.require_role(*STAFF_ROLES)
        rows = [_case_row(c) for c in qs.defer("data")[:EXPORT_LIMIT]]
        body, content_type, ext = export_rows(
            fmt, case_export_columns(), rows, title=_("Pratiche"), xml_root="pratiche", xml_item="pratica"
        )
        audit_record(
            tenant=self.tenant, actor=request.user, action="export", object_type="case_list", object_id="*",
            summary=_("Esportazione %(fmt)s di %(n)s pratiche") % {"fmt": fmt.upper(), "n": len(rows)},
            extra=dict(request.query_params), ip=client_ip(request),
        )
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="pratiche.{ext}"'
        return response

    @extend_schema(
        request=CaseCreateSerializer,
        parameters=[OpenApiParameter(
            "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
            description="8-100 characters [A-Za-z0-9._:-], chosen by the client per case to open. Repeating the call "
                        "with the same key (after a lost answer, a 502) returns the first call's answer again (201, "
                        "`Idempotent-Replayed: true`; 200 once its record expired, PROCEDO_IDEMPOTENCY_TTL_HOURS) and "
                        "opens nothing new. Every POST of the API accepts the header the same way.",
        )],
        responses={201: CaseSerializer, 200: CaseSerializer},
    )
    def create(self, request):
        body = CaseCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        case = services.case_start(
            tenant=self.tenant,
            user=request.user,
            process_id=body.validated_data["process"],
            data=body.validated_data["data"],
            received_on=body.validated_data.get("received_on"),
            channel=body.validated_data.get("channel"),
            received_on_reason=body.validated_data.get("received_on_reason", ""),
            ip=client_ip(request),
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
        )
        if getattr(case, "replayed", False):  # the same call again: its case, nothing new opened
            response = Response(_payload_for(case, request.user), status=status.HTTP_200_OK)
            response["Idempotent-Replayed"] = "true"
            return response
        return Response(_payload_for(case, request.user), status=status.HTTP_201_CREATED)

    @extend_schema(responses=PolymorphicProxySerializer(
        component_name="CaseDetailOrPublicCase", serializers=[CaseSerializer, PublicCaseSerializer],
        resource_type_field_name=None,
    ))
    def retrieve(self, request, pk=None):
        case = selectors.case_get(tenant=self.tenant, user=request.user, case_id=_int(pk))
        record_read(
            tenant=self.tenant, user=request.user, ip=client_ip(request),
            object_type="case", object_id=str(case.pk), object_repr=case.number,
        )
        return Response(_payload_for(case, request.user, detail=True))

    @extend_schema(request=inline_serializer("CancelCase", {"reason": serializers.CharField()}), responses=CaseSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        case = selectors.case_get(tenant=self.tenant, user=request.user, case_id=_int(pk))
        case = services.case_cancel(
            case_id=case.pk, tenant=self.tenant, user=request.user,
            reason=str(_body(request).get("reason", "")), ip=client_ip(request),
        )
        return Response(_case_payload(case))

    @extend_schema(request=CommentSerializer, responses=CommentSerializer)
    @action(detail=True, methods=["get", "post"])
    def comments(self, request, pk=None):
        case = selectors.case_get(tenant=self.tenant, user=request.user, case_id=_int(pk))
        comments = selectors.comment_list(case=case, user=request.user)  # refuses citizens
        if request.method == "GET":
            return Response(CommentSerializer(comments, many=True).data)
        text = _body(request).get("text")
        comment = services.comment_add(case=case, user=request.user, text=str(text or ""), ip=client_ip(request))
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=inline_serializer("CaseMessage", {"message": serializers.CharField(), "payload": serializers.JSONField(required=False)}),
        responses=CaseSerializer,
    )
    @action(detail=True, methods=["post"])
    def messages(self, request, pk=None):
        """Deliver an external event (e.g. `citizen_reply`) to this case."""
        case = selectors.case_get(tenant=self.tenant, user=request.user, case_id=_int(pk))
        name = _body(request).get("message")
        if not name or not isinstance(name, str):
            raise ValidationFailed(_("Indica il messaggio."), details={"message": [_("Campo obbligatorio.")]})
        # Which messages a person may deliver, and who, is declared per procedure (manifest `messages`).
        services.case_message_deliver(
            case=case, user=request.user, message=name, payload=_body(request).get("payload"), ip=client_ip(request),
        )
        case.refresh_from_db()
        return Response(_payload_for(case, request.user))


# --------------------------------------------------------------------------- tasks


class TaskViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    serializer_class = WorkItemSerializer
    queryset = WorkItem.objects.all()

    @extend_schema(parameters=[OpenApiParameter("scope", str, enum=["mine", "available", "all"])])
    def list(self, request):
        scope = request.query_params.get("scope", "mine")
        if scope not in ("mine", "available", "all"):
            raise ValidationFailed(_("Ambito non valido."), details={"scope": [_("Usa mine, available o all.")]})
        if scope == "all":
            self.require_role(Role.SUPERVISOR)
        qs = selectors.inbox_api_rows(tenant=self.tenant, user=request.user, scope=scope)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(work_item_rows(page))

    @extend_schema(responses=WorkItemDetailSerializer)
    def retrieve(self, request, pk=None):
        item = selectors.work_item_get(tenant=self.tenant, user=request.user, work_item_id=_int(pk))
        record_read(
            tenant=self.tenant, user=request.user, ip=client_ip(request),
            object_type="work_item", object_id=str(item.pk), object_repr=f"{item.case.number}: {item.name}",
        )
        return Response(WorkItemDetailSerializer(item).data)

    @extend_schema(request=None, responses=WorkItemSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        item = services.work_item_claim(work_item_id=_int(pk), tenant=self.tenant, user=request.user, ip=client_ip(request))
        return Response(work_item_payload(item))

    @extend_schema(request=None, responses=WorkItemSerializer)
    @action(detail=True, methods=["post"])
    def unclaim(self, request, pk=None):
        item = services.work_item_unclaim(work_item_id=_int(pk), tenant=self.tenant, user=request.user, ip=client_ip(request))
        return Response(work_item_payload(item))

    @extend_schema(request=inline_serializer("AssignTask", {"user": serializers.CharField()}), responses=WorkItemSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        selectors.work_item_get(tenant=self.tenant, user=request.user, work_item_id=_int(pk))  # 404 first
        username = _body(request).get("user")
        if not username:
            raise ValidationFailed(_("Indica l'utente."), details={"user": [_("Campo obbligatorio.")]})
        assignee = User.objects.filter(
            Q(username=str(username)) | Q(pk=_int_or_none(username)), memberships__tenant=self.tenant
        ).distinct().first()
        if assignee is None:
            raise ValidationFailed(_("Utente sconosciuto in questo ente."), details={"user": [_("Utente sconosciuto.")]})
        item = services.work_item_assign(
            work_item_id=_int(pk), tenant=self.tenant, user=request.user, assignee=assignee, ip=client_ip(request)
        )
        return Response(work_item_payload(item))

    @extend_schema(request=inline_serializer("CompleteTask", {"data": serializers.JSONField()}), responses=WorkItemSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        data = _body(request).get("data")
        if not isinstance(data, dict):
            raise ValidationFailed(_("Invia i dati del modulo in «data»."), details={"data": [_("Deve essere un oggetto JSON.")]})
        item = services.work_item_complete(
            work_item_id=_int(pk), tenant=self.tenant, user=request.user, data=data, ip=client_ip(request)
        )
        return Response(work_item_payload(item))


# --------------------------------------------------------------------------- incidents


class IncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case_id = serializers.IntegerField(allow_null=True)
    case_number = serializers.CharField()
    task = serializers.CharField()
    kind = serializers.CharField()
    message = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class IncidentViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    queryset = WorkItem.objects.none()
    serializer_class = IncidentSerializer

    def list(self, request):
        self.require_role(Role.SUPERVISOR, Role.PROCESS_ADMIN)
        open_only = request.query_params.get("status", "open") == "open"
        qs = incident_list(tenant=self.tenant, open_only=open_only)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(
            [
                {
                    "id": i.pk, "case_id": i.instance.case_id, "case_number": i.instance.case_number,
                    "task": i.task_name or i.task_bpmn_id, "kind": i.kind, "message": i.message,
                    "status": i.status, "created_at": i.created_at,
                }
                for i in page
            ]
        )

    @extend_schema(request=None, responses=inline_serializer("IncidentRetry", {"status": serializers.CharField()}))
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        self.require_role(Role.SUPERVISOR, Role.PROCESS_ADMIN)
        services.incident_retry(tenant=self.tenant, user=request.user, incident_id=_int(pk), ip=client_ip(request))
        return Response({"status": "retrying"})


def _body(request) -> dict[str, Any]:
    """The JSON object of the request; anything else (a list, a string) is a 400."""
    if isinstance(request.data, dict):
        return request.data
    raise ValidationFailed(_("Il corpo della richiesta deve essere un oggetto JSON."), details={"__all__": ["invalid"]})


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        from common.errors import NotFound

        raise NotFound(_("Risorsa non trovata.")) from exc


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
