"""The person's digital dossier (fascicolo) in the operators' interface: /fascicoli/<codice fiscale>/.

Lists the documents issued by the tenant's cases and the scans filed for the person, with preview
and download (through the audited content endpoint), an upload form for staff, and the listing
exported as ODS, XLSX, CSV or JSON. Viewers see and download; citizens only their own dossier;
every view is audited.
"""

from __future__ import annotations

import datetime as dt
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.roles import STAFF_ROLES, Role
from accounts.selectors import roles_for
from audit.events import record_read
from audit.services import client_ip
from common.errors import PermissionRefused, ValidationFailed
from common.pages import page_tenant as _tenant

from . import conf, selectors, services
from .exports import export_rows
from .models import DocumentType, Origin

FISCAL_CODE = re.compile(r"^[A-Z0-9]{11,16}$")
EXPORT_FORMATS = ("ods", "xlsx", "csv", "json")


def _columns():
    return [("date", _("Data")), ("document_type", _("Tipo")), ("title", _("Documento")),
            ("protocol_number", _("Protocollo")), ("protocol_date", _("Data protocollo")),
            ("origin", _("Provenienza")), ("case", _("Pratica")), ("signed", _("Firmato")),
            ("sha256", "SHA-256")]


def _parse_date(value: str) -> dt.date | None:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


@login_required
def dossier_search(request: HttpRequest) -> HttpResponse:
    """Open a person's dossier by tax code (citizens go straight to their own)."""
    _tenant(request)
    query = (request.GET.get("cf") or "").strip().upper().replace(" ", "")
    error = ""
    if query:
        if FISCAL_CODE.match(query):
            return redirect("dossier", fiscal_code=query)
        error = _("Codice fiscale non valido: usa 16 caratteri (o 11 cifre per un ente).")
    elif (request.user.fiscal_code or "") and not roles_for(user=request.user, tenant=_tenant(request)) & STAFF_ROLES:
        return redirect("dossier", fiscal_code=request.user.fiscal_code.upper())
    return render(request, "documents/dossier_search.html", {"nav": "dossiers", "query": query, "error": error},
                  status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def dossier_page(request: HttpRequest, fiscal_code: str) -> HttpResponse:
    tenant = _tenant(request)
    fiscal_code = fiscal_code.strip().upper()
    if not FISCAL_CODE.match(fiscal_code):
        raise Http404
    try:
        entries = list(selectors.dossier_list(tenant=tenant, user=request.user, fiscal_code=fiscal_code)
                       .select_related("case").order_by("-date", "-pk"))
    except PermissionRefused as exc:
        raise Http404 from exc
    roles = roles_for(user=request.user, tenant=tenant)
    can_upload = bool(roles & (STAFF_ROLES - {Role.VIEWER, Role.SUPPORT}))
    types = list(DocumentType.objects.filter(tenant=tenant, is_active=True))
    form = {"document_type": "", "date": "", "protocol_number": "", "protocol_date": "", "origin": Origin.OFFICE}
    errors: dict[str, str] = {}

    if request.method == "POST":
        if not can_upload:
            raise Http404
        form.update({k: (request.POST.get(k) or "").strip() for k in form})
        upload = request.FILES.get("file")
        date = _parse_date(form["date"]) if form["date"] else dt.date.today()
        protocol_date = _parse_date(form["protocol_date"]) if form["protocol_date"] else None
        if upload is None:
            errors["file"] = _("Scegli il file da caricare.")
        elif upload.size > conf.max_upload_bytes():  # refused before reading it
            errors["file"] = _("Il file supera la dimensione massima consentita (%(mb)s MB).") % {
                "mb": conf.max_upload_bytes() // (1024 * 1024)}
        if form["date"] and date is None:
            errors["date"] = _("Data non valida: usa il formato GG/MM/AAAA.")
        if form["protocol_date"] and protocol_date is None:
            errors["protocol_date"] = _("Data non valida: usa il formato GG/MM/AAAA.")
        valid_types = {t.code for t in types} or {"scansione"}
        if (form["document_type"] or "scansione") not in valid_types:
            errors["document_type"] = _("Scegli un tipo di documento dall'elenco.")
        if not errors:
            try:
                services.dossier_upload(
                    tenant=tenant, user=request.user, fiscal_code=fiscal_code, data=upload.read(),
                    filename=upload.name, document_type=form["document_type"] or "scansione", date=date,
                    protocol_number=form["protocol_number"][:50], protocol_date=protocol_date,
                    origin=form["origin"], ip=client_ip(request))
            except ValidationFailed as exc:  # FileRejected included: type, size, active content
                errors["file" if "origin" not in (exc.details or {}) else "origin"] = exc.message
            except PermissionRefused as exc:
                raise Http404 from exc
            else:
                messages.success(request, _("Documento aggiunto al fascicolo."))
                return redirect("dossier", fiscal_code=fiscal_code)

    fmt = request.GET.get("format")
    if fmt in EXPORT_FORMATS:
        record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="dossier_export",
                    object_id=fiscal_code, object_repr=f"{fiscal_code} ({fmt})")
        rows = [{"date": e.date, "document_type": e.document_type, "title": e.document.title or e.document.filename,
                 "protocol_number": e.protocol_number, "protocol_date": e.protocol_date,
                 "origin": e.get_origin_display(), "case": e.case.number if e.case else "",
                 "signed": e.document.signed, "sha256": e.document.sha256} for e in entries]
        body, content_type, ext = export_rows(fmt, _columns(), rows, title=_("Fascicolo %(cf)s") % {"cf": fiscal_code},
                                              xml_root="fascicolo", xml_item="documento")
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="fascicolo-{fiscal_code}.{ext}"'
        return response

    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="dossier",
                object_id=fiscal_code, object_repr=fiscal_code)
    type_names = {t.code: t.name for t in types}
    for entry in entries:
        entry.type_name = type_names.get(entry.document_type, entry.document_type.replace("_", " "))
    return render(request, "documents/dossier.html", {
        "nav": "dossiers", "fiscal_code": fiscal_code, "entries": entries,
        "types": types, "origins": Origin.choices, "can_upload": can_upload, "form": form, "errors": errors,
        "export_formats": EXPORT_FORMATS,
    }, status=400 if errors else 200)
