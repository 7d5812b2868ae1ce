"""REST API: a case's documents, a document's content, a person's dossier."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, views
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.api import TenantScopedMixin
from audit.events import record_read
from audit.services import client_ip
from common.errors import NotFound, PermissionRefused, ValidationFailed

from . import conf, selectors, services, storage
from .errors import FileRejected
from .models import Document, DossierEntry, Origin


def _download_url(request, doc: Document) -> str:
    return request.build_absolute_uri(reverse("documents-api:document-content", args=[doc.pk]))


def _doc_payload(request, doc: Document) -> dict:
    return {
        "id": doc.pk, "type": doc.kind, "title": doc.title, "sha256": doc.sha256, "filename": doc.filename,
        "mime": doc.mime, "size": doc.size, "signed": doc.signed, "signature_level": doc.signature_level or None,
        "verification_code": doc.verification_code, "revoked": doc.revoked_at is not None,
        "superseded_by": doc.superseded_by_id, "created_at": doc.created_at.isoformat(),
        "download_url": _download_url(request, doc),
    }


def _entry_payload(request, entry: DossierEntry) -> dict:
    return {
        "id": entry.pk, "fiscal_code": entry.fiscal_code, "document_type": entry.document_type,
        "date": entry.date.isoformat(), "protocol_number": entry.protocol_number or None,
        "protocol_date": entry.protocol_date.isoformat() if entry.protocol_date else None,
        "origin": entry.origin, "case_id": entry.case_id, "document": _doc_payload(request, entry.document),
    }


def _translate(exc: Exception):
    if isinstance(exc, NotFound):
        return DRFNotFound(_("Non trovato."))
    if isinstance(exc, PermissionRefused):
        return PermissionDenied(exc.message)
    return exc


class CaseDocumentsView(TenantScopedMixin, views.APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, case_id: int):
        try:
            docs = list(selectors.document_list_for_case(tenant=self.tenant, user=request.user, case_id=case_id))
        except (NotFound, PermissionRefused) as exc:
            raise _translate(exc) from exc
        record_read(tenant=self.tenant, user=request.user, ip=client_ip(request), object_type="case_documents",
                    object_id=str(case_id))
        return Response({"results": [_doc_payload(request, d) for d in docs]})


class DocumentContentView(TenantScopedMixin, views.APIView):
    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, document_id: int):
        try:
            doc = selectors.document_get(tenant=self.tenant, user=request.user, document_id=document_id)
            data = storage.get(doc.sha256)
        except (NotFound, PermissionRefused) as exc:
            raise _translate(exc) from exc
        record_read(tenant=self.tenant, user=request.user, ip=client_ip(request), object_type="document",
                    object_id=str(doc.pk), object_repr=doc.filename)
        inline = request.query_params.get("inline") == "1"  # preview in the browser
        response = HttpResponse(data, content_type=doc.mime)
        response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{doc.filename}"'
        response["X-Content-SHA256"] = doc.sha256
        response["X-Content-Type-Options"] = "nosniff"
        return response


class DossierUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    document_type = serializers.SlugField(max_length=50)
    date = serializers.DateField()
    protocol_number = serializers.CharField(max_length=50, required=False, allow_blank=True)
    protocol_date = serializers.DateField(required=False, allow_null=True)
    origin = serializers.ChoiceField(choices=Origin.choices, default=Origin.OFFICE)
    case_id = serializers.IntegerField(required=False, allow_null=True)


class DossierView(TenantScopedMixin, views.APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, fiscal_code: str):
        try:
            entries = list(selectors.dossier_list(tenant=self.tenant, user=request.user, fiscal_code=fiscal_code))
        except (NotFound, PermissionRefused) as exc:
            raise _translate(exc) from exc
        record_read(tenant=self.tenant, user=request.user, ip=client_ip(request), object_type="dossier",
                    object_id=fiscal_code.upper(), object_repr=fiscal_code.upper())
        return Response({"fiscal_code": fiscal_code.upper(), "results": [_entry_payload(request, e) for e in entries]})

    @extend_schema(request={"multipart/form-data": DossierUploadSerializer}, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, fiscal_code: str):
        upload = request.FILES.get("file")
        if upload is not None and upload.size > conf.max_upload_bytes():
            raise ValidationFailed(_("Il file supera la dimensione massima consentita."), code="too_large")
        ser = DossierUploadSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        v = ser.validated_data
        case = None
        if v.get("case_id"):
            from cases.selectors import case_get

            try:
                case = case_get(tenant=self.tenant, user=request.user, case_id=v["case_id"])
            except NotFound as exc:
                raise _translate(exc) from exc
        try:
            entry = services.dossier_upload(
                tenant=self.tenant, user=request.user, fiscal_code=fiscal_code, data=v["file"].read(),
                filename=v["file"].name, document_type=v["document_type"], date=v["date"],
                protocol_number=v.get("protocol_number", ""), protocol_date=v.get("protocol_date"),
                origin=v["origin"], case=case, ip=client_ip(request))
        except PermissionRefused as exc:
            raise _translate(exc) from exc
        except FileRejected:
            raise
        return Response(_entry_payload(request, entry), status=status.HTTP_201_CREATED)


__all__ = ["CaseDocumentsView", "DocumentContentView", "DossierView", "dt"]
