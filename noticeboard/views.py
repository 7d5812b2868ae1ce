"""Pages of the online notice board.

Public (no login): /albo/<tenant-slug>/ with the current publications, /archivio/ with the ended
ones for the tenant's archive period, one page per publication with its document and hash. An
unknown slug, a scheduled publication or one past the archive period is a 404 page.

Office: /albo-gestione/ for the tenant's supervisors and registry officers: list, publish (upload
a PDF or pick a signed document of a case), withdraw. Thin: parse, call a service or selector.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import client_ip
from common import clock
from common.errors import Conflict, NotFound, ValidationFailed
from common.pages import int_or_404, page_tenant

from . import selectors, services
from .models import Category, Publication, Status

logger = logging.getLogger(__name__)

PAGE_SIZE = 20


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _search(request: HttpRequest) -> selectors.Search:
    category = request.GET.get("categoria") or ""
    return selectors.Search(
        text=(request.GET.get("q") or "").strip()[:100],
        category=category if category in Category.values else "",
        date_from=_date(request.GET.get("dal")), date_to=_date(request.GET.get("al")),
    )


def _public_context(tenant, **extra: Any) -> dict[str, Any]:
    # The header shows the municipality whose board this is, whoever is (or is not) signed in.
    return {"current_tenant": tenant, "board_tenant": tenant, "categories": Category.choices, **extra}


# --------------------------------------------------------------------------- public pages


@require_GET
def board(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = selectors.public_tenant_get(slug=slug)
    search = _search(request)
    page = Paginator(selectors.publication_public_current(tenant=tenant, search=search), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "noticeboard/board.html", _public_context(
        tenant, page=page, search=search, archive=False, today=clock.today(), noindex=False))


@require_GET
def archive(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = selectors.public_tenant_get(slug=slug)
    search = _search(request)
    page = Paginator(selectors.publication_public_archive(tenant=tenant, search=search), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "noticeboard/board.html", _public_context(
        tenant, page=page, search=search, archive=True, today=clock.today(),
        archive_days=services.archive_days(tenant), noindex=True))


def _public_publication(slug: str, year: str, number: str) -> Publication:
    tenant = selectors.public_tenant_get(slug=slug)
    return selectors.publication_public_get(tenant=tenant, year=int_or_404(year), number=int_or_404(number))


@require_GET
def publication_page(request: HttpRequest, slug: str, year: str, number: str) -> HttpResponse:
    publication = _public_publication(slug, year, number)
    status = publication.status_on(clock.today())
    return render(request, "noticeboard/publication.html", _public_context(
        publication.tenant, publication=publication, status=status, withdrawn=status == Status.WITHDRAWN,
        noindex=status != Status.PUBLISHED))


def _pdf(data: bytes, filename: str, *, noindex: bool) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    safe = "".join(c for c in filename if c.isalnum() or c in "-_.") or "documento.pdf"
    response["Content-Disposition"] = f'inline; filename="{safe}"'
    if noindex:
        response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def publication_document(request: HttpRequest, slug: str, year: str, number: str) -> HttpResponse:
    from documents import storage

    publication = _public_publication(slug, year, number)
    status = publication.status_on(clock.today())
    if status == Status.WITHDRAWN:  # a withdrawn act is no longer offered
        raise NotFound("withdrawn")
    return _pdf(storage.get(publication.document.sha256), f"albo-{publication.year}-{publication.number}.pdf",
                noindex=status != Status.PUBLISHED)


@require_GET
def publication_report(request: HttpRequest, slug: str, year: str, number: str) -> HttpResponse:
    from documents import storage

    publication = _public_publication(slug, year, number)
    if publication.report_document is None:
        raise NotFound("no report yet")
    return _pdf(storage.get(publication.report_document.sha256),
                f"referto-{publication.year}-{publication.number}.pdf", noindex=True)


# --------------------------------------------------------------------------- office pages


def _office_tenant(request: HttpRequest):
    tenant = page_tenant(request)
    services.require_publisher(user=request.user, tenant=tenant)  # type: ignore[arg-type]
    return tenant


@login_required
@never_cache
@require_GET
def office_list(request: HttpRequest) -> HttpResponse:
    tenant = _office_tenant(request)
    search = _search(request)
    page = Paginator(selectors.publication_list_for_office(tenant=tenant, search=search), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "noticeboard/office_list.html", {
        "nav": "noticeboard", "page": page, "search": search, "categories": Category.choices, "tenant": tenant,
        "today": clock.today(), "archive_days": services.archive_days(tenant),
        "can_configure": "supervisor" in _roles(request, tenant),
    })


def _roles(request: HttpRequest, tenant) -> frozenset[str]:
    from accounts.selectors import roles_for

    return roles_for(user=request.user, tenant=tenant)  # type: ignore[arg-type]


def _office_values(request: HttpRequest) -> dict[str, Any]:
    keys = ("title", "body", "category", "days", "start_date", "office", "responsible", "case_number",
            "document_id", "source")
    return {k: (request.POST.get(k) or "").strip() for k in keys}


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def office_create(request: HttpRequest) -> HttpResponse:
    from documents.errors import FileRejected
    from documents.models import Document

    tenant = _office_tenant(request)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"days": str(services.BANNS_DAYS), "start_date": clock.today().isoformat(),
                              "source": "upload", "category": "", "office": "", "responsible": ""}
    if request.method == "POST":
        values = _office_values(request)
    case_documents = (selectors.case_documents_for_publication(tenant=tenant, case_number=values["case_number"])
                      if values.get("case_number") else [])
    if request.method == "POST" and request.POST.get("action") == "publish":
        try:
            document, case = None, None
            if values["source"] == "case":
                document = Document.objects.filter(
                    tenant=tenant, pk=int_or_zero(values["document_id"]), signed=True,
                    case__number=values["case_number"]).select_related("case").first()
                if document is None:
                    raise ValidationFailed(_("Scegli un documento firmato della pratica."),
                                           details={"document_id": [_("Scegli un documento firmato della pratica.")]})
                case = document.case
            else:
                upload = request.FILES.get("file")
                if upload is None:
                    raise ValidationFailed(_("Carica il PDF dell'atto da pubblicare."),
                                           details={"file": [_("Carica il PDF dell'atto da pubblicare.")]})
            start = _date(values["start_date"])
            if start is None:
                raise ValidationFailed(_("Indica una data di inizio valida."),
                                       details={"start_date": [_("Data non valida.")]})
            days = int_or_zero(values["days"])
            # Validate the texts before signing and storing anything.
            services.publication_check(tenant=tenant, title=values["title"], body=values["body"],
                                       category=values["category"], days=days, start_date=start,
                                       office=values["office"], responsible=values["responsible"])
            if document is None:
                document = services.publication_document_upload(
                    tenant=tenant, actor=request.user, data=upload.read(), filename=upload.name,  # type: ignore[union-attr]
                    ip=client_ip(request))
            publication = services.publication_create(
                tenant=tenant, actor=request.user, title=values["title"], body=values["body"],  # type: ignore[arg-type]
                category=values["category"], document=document, days=days, start_date=start,
                office=values["office"], responsible=values["responsible"], case=case, ip=client_ip(request))
        except (ValidationFailed, FileRejected) as exc:
            errors = exc.details if isinstance(exc.details, dict) else {"file": [exc.message]}
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Pubblicazione n. %(n)s registrata.") % {"n": publication.register_number})
            return redirect("noticeboard_office_detail", pk=publication.pk)
    return render(request, "noticeboard/office_form.html", {
        "nav": "noticeboard", "values": values, "errors": errors, "categories": Category.choices,
        "case_documents": case_documents,
    })


def int_or_zero(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@login_required
@never_cache
@require_GET
def office_detail(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _office_tenant(request)
    publication = selectors.publication_get_for_office(tenant=tenant, pk=int_or_404(pk))
    return render(request, "noticeboard/office_detail.html", {
        "nav": "noticeboard", "publication": publication, "tenant": tenant,
        "status": publication.status_on(clock.today()), "errors": {},
    })


@login_required
@require_POST
def office_withdraw(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _office_tenant(request)
    publication = selectors.publication_get_for_office(tenant=tenant, pk=int_or_404(pk))
    try:
        services.publication_withdraw(publication=publication, actor=request.user,  # type: ignore[arg-type]
                                      reason=request.POST.get("reason", ""), ip=client_ip(request))
    except ValidationFailed as exc:
        messages.error(request, exc.message)
    except Conflict as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, _("Pubblicazione n. %(n)s annullata.") % {"n": publication.register_number})
    return redirect("noticeboard_office_detail", pk=publication.pk)


@login_required
@require_POST
def office_settings(request: HttpRequest) -> HttpResponse:
    tenant = page_tenant(request)
    raw = (request.POST.get("archive_days") or "").strip()
    try:
        services.noticeboard_settings_update(tenant=tenant, actor=request.user,  # type: ignore[arg-type]
                                             archive_days=int(raw) if raw else None, ip=client_ip(request))
    except ValueError:
        messages.error(request, _("Indica un numero di giorni da 0 a 3650."))
    except ValidationFailed as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Impostazioni dell'albo salvate."))
    return redirect("noticeboard_office")
