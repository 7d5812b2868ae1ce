"""The citizen area's pages (/area-personale/): thin, parse, call a service or selector, render.

Every page works without JavaScript. Another person's object is a 404 (selectors), a non-citizen
gets the 403 page (common.middleware turns PermissionRefused/NotFound into pages). Submitting a
request and asking a certificate need SPID level 2 or higher (identity.decorators.require_loa)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from audit.events import record_read
from audit.services import client_ip
from cases import presenters as case_presenters
from common import clock
from common.errors import Conflict, PermissionRefused, ProcedoError, ValidationFailed
from common.pages import int_or_404 as _int
from common.pages import page_tenant as _tenant
from documents import storage
from documents.errors import FileRejected
from engine.bundles import version_files, version_form
from engine.manifest import manifest_of
from engine.selectors import process_latest_version
from forms.rendering import build_fields, parse_post
from forms.validation import validate_data
from identity.decorators import require_loa

from . import selectors, services
from .models import CertificateRequestStatus

SUBMIT_LEVEL = "SpidL2"


def _citizen(request: HttpRequest):
    tenant = _tenant(request)
    selectors.own_fiscal_code(tenant=tenant, user=request.user)  # PermissionRefused -> 403 page
    return tenant


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, template, {"portal_nav": context.pop("nav", ""), **context}, status=status)


def _allow_checkout(response: HttpResponse, tenant) -> HttpResponse:
    """A page with a "pay" form: the form posts here and is redirected to pagoPA Checkout, which the
    browser checks against `form-action` too, so that origin (and only it) joins the policy."""
    from urllib.parse import urlsplit

    from common.middleware import ContentSecurityPolicyMiddleware
    from connectors.base import config

    cfg = config.resolve("pagopa", tenant)
    parts = urlsplit(cfg.credential("checkout_base_url") or cfg.base_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        from django.conf import settings

        policy = getattr(settings, "PROCEDO_CSP", "") or ContentSecurityPolicyMiddleware.DEFAULT
        response["Content-Security-Policy"] = policy.replace(
            "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}")
    return response


# --------------------------------------------------------------------------- home and catalogue


@login_required
def home(request: HttpRequest) -> HttpResponse:
    tenant = _citizen(request)
    profile = services.profile_for(tenant=tenant, user=request.user)
    cases = list(selectors.my_cases(tenant=tenant, user=request.user)[:5])
    due = [p for p in selectors.my_positions(tenant=tenant, user=request.user)[:20] if p.paid_at is None][:5]
    documents = list(selectors.my_documents(tenant=tenant, user=request.user)[:5])
    return _page(request, "portal/home.html", {"nav": "home", "profile": profile, "cases": cases, "due": due,
                                               "documents": documents})


def catalogue(request: HttpRequest) -> HttpResponse:
    tenant = _tenant(request) if request.user.is_authenticated else _public_tenant(request)
    return _page(request, "portal/catalogue.html", {
        "nav": "services", "services": selectors.catalogue(tenant=tenant, user=request.user)})


def service_page(request: HttpRequest, process_id: str) -> HttpResponse:
    tenant = _tenant(request) if request.user.is_authenticated else _public_tenant(request)
    service = selectors.service_get(tenant=tenant, user=request.user, process_id=process_id)
    return _page(request, "portal/service.html", {"nav": "services", "service": service})


def _public_tenant(request: HttpRequest):
    """The municipality whose catalogue an anonymous visitor reads (`?ente=<slug>`, or the only one)."""
    from accounts.models import Tenant

    active = Tenant.objects.filter(is_active=True)
    slug = request.GET.get("ente")
    tenant = active.filter(slug=slug).first() if slug else None
    if tenant is None:
        found = list(active[:2])
        tenant = found[0] if len(found) == 1 else None
    if tenant is None:
        raise Http404(_("Indica il Comune."))
    request.tenant = tenant
    return tenant


# --------------------------------------------------------------------------- the multi-step request


def _start_schema(process_id: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    version = process_latest_version(process_id=process_id)
    manifest = manifest_of(version)
    if "portal" not in manifest.channels or not manifest.start_form:
        raise Http404
    schema = version_form(version, manifest.start_form)
    ui_name = manifest.start_form.replace(".schema.json", ".uischema.json")
    ui = version_form(version, ui_name) if f"forms/{ui_name}" in version_files(version) else {}
    return version, schema, ui


def form_steps(schema: dict[str, Any], ui: dict[str, Any]) -> list[dict[str, Any]]:
    """One step per top-level group (an object or a list of objects); the plain fields between
    groups form a step of their own. Each step: {"title", "keys"}."""
    properties = schema.get("properties") or {}
    order = [k for k in ui.get("ui:order", []) if k in properties] + [k for k in properties
                                                                      if k not in ui.get("ui:order", [])]
    steps: list[dict[str, Any]] = []
    plain: list[str] = []
    for key in order:
        prop = properties[key]
        grouped = prop.get("type") == "object" and prop.get("format") != "file" or (
            prop.get("type") == "array" and (prop.get("items") or {}).get("type") == "object")
        if grouped:
            if plain:
                steps.append({"title": _("Altre informazioni"), "keys": plain})
                plain = []
            steps.append({"title": prop.get("title") or key, "keys": [key]})
        else:
            plain.append(key)
    if plain:
        steps.append({"title": _("Altre informazioni"), "keys": plain})
    return steps


def _sub_schema(schema: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {**schema, "properties": {k: schema["properties"][k] for k in keys},
            "required": [k for k in schema.get("required", []) if k in keys]}


def _prefill(draft, schema: dict[str, Any], user) -> None:
    """A new request starts with the citizen as its first declarant (SPID's data)."""
    if draft.data:
        return
    for key, prop in (schema.get("properties") or {}).items():
        items = prop.get("items") or {}
        if prop.get("type") == "array" and "fiscal_code" in (items.get("properties") or {}):
            draft.data = {key: [{"fiscal_code": user.fiscal_code.upper(), "given_name": user.first_name,
                                 "family_name": user.last_name}]}
            return


@login_required
@require_loa(SUBMIT_LEVEL)
@require_http_methods(["GET", "POST"])
def request_step(request: HttpRequest, process_id: str) -> HttpResponse:
    tenant = _citizen(request)
    service = selectors.service_get(tenant=tenant, user=request.user, process_id=process_id)
    if not service.startable:
        raise PermissionRefused(_("Non puoi presentare online questa domanda."), code="start_not_allowed")
    _version, schema, ui = _start_schema(process_id)
    steps = form_steps(schema, ui)
    draft = services.draft_for(tenant=tenant, user=request.user, process_id=process_id)
    _prefill(draft, schema, request.user)
    try:
        index = min(max(int(request.GET.get("passo", draft.step if request.method == "GET" else 0)), 0), len(steps) - 1)
    except ValueError:
        index = 0
    if request.method == "POST":
        try:
            index = min(max(int(request.POST.get("passo", 0)), 0), len(steps) - 1)
        except ValueError:
            index = 0
    step = steps[index]
    values = dict(draft.data)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        part = parse_post(_sub_schema(schema, step["keys"]), request.POST)
        for key in step["keys"]:
            # An object left empty: its own required fields are reported, next to each input.
            if schema["properties"][key].get("type") == "object" and key not in part:
                part[key] = {}
        for key in step["keys"]:
            values.pop(key, None)
        values.update(part)
        found = validate_data(json.dumps(schema), values)
        errors = case_presenters.for_pages({k: v for k, v in found.items()
                                            if k.split(".")[0] in step["keys"]})
        action = request.POST.get("action", "next")
        services.draft_save(draft=draft, data=values, step=index if errors or action == "draft" else index + 1)
        if action == "back":
            return redirect(f"{reverse('portal:request_step', args=[process_id])}?passo={max(index - 1, 0)}")
        if action == "draft":
            messages.success(request, _("Bozza salvata: la ritrovi qui per un anno."))
            return redirect(f"{reverse('portal:request_step', args=[process_id])}?passo={index}")
        if not errors:
            if index + 1 < len(steps):
                return redirect(f"{reverse('portal:request_step', args=[process_id])}?passo={index + 1}")
            return redirect("portal:request_attachments", process_id=process_id)
        messages.error(request, _("Correggi i campi indicati."))
    all_fields = build_fields(_sub_schema(schema, step["keys"]), ui, values, errors)
    return _page(request, "portal/request_step.html", {
        "nav": "services", "service": service, "steps": steps, "index": index, "step": step,
        "fields": all_fields, "summary": case_presenters.error_summary(all_fields), "can_act": True,
        "draft": draft, "total": len(steps) + 2,
    }, status=400 if errors else 200)


@login_required
@require_loa(SUBMIT_LEVEL)
@require_http_methods(["GET", "POST"])
def request_attachments(request: HttpRequest, process_id: str) -> HttpResponse:
    tenant = _citizen(request)
    service = selectors.service_get(tenant=tenant, user=request.user, process_id=process_id)
    _version, schema, ui = _start_schema(process_id)
    steps = form_steps(schema, ui)
    draft = services.draft_for(tenant=tenant, user=request.user, process_id=process_id)
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "upload")
        if action == "remove":
            services.draft_attachment_remove(draft=draft, document_id=_int(request.POST.get("document_id")))
            messages.success(request, _("Allegato rimosso."))
            return redirect("portal:request_attachments", process_id=process_id)
        if action == "next":
            return redirect("portal:request_summary", process_id=process_id)
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Scegli un file da allegare.")
        elif upload.size > services.MAX_ATTACHMENT_BYTES:
            error = _("Il file supera la dimensione massima consentita (%(mb)s MB).") % {
                "mb": services.MAX_ATTACHMENT_BYTES // (1024 * 1024)}
        else:
            try:
                services.draft_attachment_add(draft=draft, user=request.user, data=upload.read(),
                                              filename=upload.name, label=request.POST.get("label", ""),
                                              ip=client_ip(request))
            except (FileRejected, ValidationFailed) as exc:
                error = exc.message
            else:
                messages.success(request, _("File allegato."))
                return redirect("portal:request_attachments", process_id=process_id)
    return _page(request, "portal/request_attachments.html", {
        "nav": "services", "service": service, "draft": draft, "error": error, "steps": steps,
        "index": len(steps), "total": len(steps) + 2, "max_mb": services.MAX_ATTACHMENT_BYTES // (1024 * 1024),
    }, status=400 if error else 200)


@login_required
@require_loa(SUBMIT_LEVEL)
@require_http_methods(["GET", "POST"])
def request_summary(request: HttpRequest, process_id: str) -> HttpResponse:
    tenant = _citizen(request)
    service = selectors.service_get(tenant=tenant, user=request.user, process_id=process_id)
    version, schema, ui = _start_schema(process_id)
    steps = form_steps(schema, ui)
    draft = services.draft_for(tenant=tenant, user=request.user, process_id=process_id)
    errors = validate_data(json.dumps(schema), draft.data)
    if request.method == "POST":
        if errors:
            messages.error(request, _("La domanda è incompleta: completa i passi indicati."))
        elif request.POST.get("confirm") != "1":
            messages.error(request, _("Conferma che i dati sono veri per inviare la domanda."))
        else:
            try:
                submission = services.submission_submit(tenant=tenant, user=request.user, process_id=process_id,
                                                        ip=client_ip(request))
            except (ValidationFailed, PermissionRefused, Conflict) as exc:
                messages.error(request, exc.message)
            else:
                return redirect("portal:submitted", case_id=submission.case_id)
    rows = case_presenters.readable(draft.data, version, result_titles={})
    incomplete = []
    for i, step in enumerate(steps):
        if any(k.split(".")[0] in step["keys"] for k in errors):
            incomplete.append((i, step["title"]))
    return _page(request, "portal/request_summary.html", {
        "nav": "services", "service": service, "rows": rows, "draft": draft, "incomplete": incomplete,
        "steps": steps, "index": len(steps) + 1, "total": len(steps) + 2,
    })


@login_required
def submitted(request: HttpRequest, case_id: str) -> HttpResponse:
    tenant = _citizen(request)
    case = selectors.my_case(tenant=tenant, user=request.user, case_id=_int(case_id))
    submission = getattr(case, "portal_submission", None)
    if submission is None:
        raise Http404
    return _page(request, "portal/submitted.html", {"nav": "cases", "case": case, "submission": submission})


# --------------------------------------------------------------------------- my cases


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    tenant = _citizen(request)
    page = Paginator(selectors.my_cases(tenant=tenant, user=request.user), 20).get_page(request.GET.get("page"))
    for case in page:
        case.days_left = case_presenters.days_left_for(case)
    return _page(request, "portal/case_list.html", {"nav": "cases", "page": page})


@login_required
def case_detail(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _citizen(request)
    case = selectors.my_case(tenant=tenant, user=request.user, case_id=_int(pk))
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="case",
                object_id=str(case.pk), object_repr=case.number)
    from engine.bundles import version_by_id

    view = selectors.case_portal_view(case=case, user=request.user)
    version = version_by_id(case.process_version_id)
    return _page(request, "portal/case_detail.html", {
        "nav": "cases", "case": case, "view": view, "days_left": case_presenters.days_left_for(case),
        "submitted_rows": case_presenters.readable(view["submitted"], version, result_titles={}),
        "max_mb": services.MAX_ATTACHMENT_BYTES // (1024 * 1024),
    })


@login_required
@require_POST
def case_reply(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _citizen(request)
    case = selectors.my_case(tenant=tenant, user=request.user, case_id=_int(pk))
    files = []
    for upload in request.FILES.getlist("files")[: services.MAX_ATTACHMENTS + 1]:
        if upload.size > services.MAX_ATTACHMENT_BYTES:
            messages.error(request, _("Il file %(f)s supera la dimensione massima consentita.") % {"f": upload.name[:100]})
            return redirect("portal:case", pk=case.pk)
        files.append((upload.read(), upload.name))
    try:
        services.case_reply(tenant=tenant, user=request.user, case_id=case.pk, message=request.POST.get("message", ""),
                            text=request.POST.get("text", ""), files=files, ip=client_ip(request))
    except (ValidationFailed, PermissionRefused, Conflict) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Risposta inviata all'ufficio."))
    return redirect("portal:case", pk=case.pk)


@login_required
@require_POST
def case_withdraw(request: HttpRequest, pk: str) -> HttpResponse:
    from cases.services import case_withdraw as withdraw

    tenant = _citizen(request)
    case = selectors.my_case(tenant=tenant, user=request.user, case_id=_int(pk))
    if request.POST.get("confirm") != "1":
        messages.error(request, _("Conferma di voler ritirare la domanda."))
        return redirect("portal:case", pk=case.pk)
    try:
        withdraw(case_id=case.pk, tenant=tenant, user=request.user, reason=request.POST.get("reason", ""),
                 ip=client_ip(request))
    except (PermissionRefused, Conflict) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("La domanda è stata ritirata."))
    return redirect("portal:case", pk=case.pk)


# --------------------------------------------------------------------------- documents


@login_required
def document_list(request: HttpRequest) -> HttpResponse:
    tenant = _citizen(request)
    page = Paginator(selectors.my_documents(tenant=tenant, user=request.user), 25).get_page(request.GET.get("page"))
    return _page(request, "portal/documents.html", {"nav": "documents", "page": page})


@login_required
def document_download(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _citizen(request)
    doc = selectors.my_document(tenant=tenant, user=request.user, document_id=_int(pk))
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="document",
                object_id=str(doc.pk), object_repr=doc.filename)
    response = HttpResponse(storage.get(doc.sha256), content_type=doc.mime)
    response["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------- payments


@login_required
def payment_list(request: HttpRequest) -> HttpResponse:
    tenant = _citizen(request)
    positions = list(selectors.my_positions(tenant=tenant, user=request.user)[:200])
    for p in positions:
        p.due_date_shown = selectors.position_due_date(p)
    return _allow_checkout(_page(request, "portal/payments.html", {
        "nav": "payments", "due": [p for p in positions if p.paid_at is None and p.status in ("VALID", "PUBLISHED")],
        "paid": [p for p in positions if p.paid_at is not None]}), tenant)


@login_required
@require_POST
def payment_pay(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _citizen(request)
    selectors.position_get(tenant=tenant, user=request.user, position_id=_int(pk))  # NotFound: not theirs
    back = request.build_absolute_uri(reverse("portal:payment_return", args=[_int(pk)]))
    try:
        url = services.payment_checkout_url(tenant=tenant, user=request.user, position_id=_int(pk), return_url=back)
    except Conflict as exc:
        messages.info(request, exc.message)
        return redirect("portal:payments")
    except ProcedoError:
        messages.error(request, _("pagoPA non risponde in questo momento: riprova tra qualche minuto o scarica l'avviso."))
        return redirect("portal:payments")
    return redirect(url)


@login_required
def payment_return(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _citizen(request)
    position = selectors.position_get(tenant=tenant, user=request.user, position_id=_int(pk))
    paid = False
    try:
        paid = services.payment_refresh(tenant=tenant, user=request.user, position_id=position.pk)
    except ProcedoError:
        pass
    if paid:
        messages.success(request, _("Pagamento ricevuto: grazie."))
    elif request.GET.get("esito") == "annullato":
        messages.info(request, _("Pagamento annullato: puoi pagare quando vuoi."))
    else:
        messages.warning(request, _("Il pagamento non risulta ancora: se hai pagato, l'esito arriverà a breve."))
    # A certificate's stamp duty: back to its request (issued as soon as the payment is confirmed).
    from .models import CertificateRequest

    request_row = CertificateRequest.objects.filter(tenant=tenant, user=request.user, position=position).first()
    if request_row is not None:
        return redirect("portal:certificate", pk=request_row.pk)
    return redirect("portal:payments")


@login_required
def payment_notice(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _citizen(request)
    body = services.notice_pdf(tenant=tenant, user=request.user, position_id=_int(pk))
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="avviso-pagopa-{_int(pk)}.pdf"'
    return response


# --------------------------------------------------------------------------- certificates


def _certificate_kinds():
    from registry.certificates.catalogue import CATALOGUE
    from registry.certificates.services import ONLINE_THIRD_PARTY_KINDS

    return [(k.code, str(k.label), k.code in ONLINE_THIRD_PARTY_KINDS, bool(k.stamp_exemption))
            for k in CATALOGUE.values()]


@login_required
@require_loa(SUBMIT_LEVEL)
@require_http_methods(["GET", "POST"])
def certificates(request: HttpRequest) -> HttpResponse:
    from registry.certificates.services import exemption_choices

    tenant = _citizen(request)
    profile = services.profile_for(tenant=tenant, user=request.user)
    errors: dict[str, list[str]] = {}
    form = {"kind": "", "for": "self", "other_fiscal_code": "", "purpose": "", "use": "stamp", "use_code": "",
            "use_note": ""}
    if request.method == "POST":
        form = {k: (request.POST.get(k) or "").strip()[:300] for k in form}
        use_code = None
        if form["use"] == "exempt":
            try:
                use_code = int(form["use_code"])
            except ValueError:
                errors["use_code"] = [_("Scegli il motivo dell'esenzione.")]
        if not errors:
            try:
                cert_request = services.certificate_request_create(
                    tenant=tenant, user=request.user, kind=form["kind"],
                    other_fiscal_code=form["other_fiscal_code"] if form["for"] == "other" else "",
                    purpose=form["purpose"], use_code=use_code, use_note=form["use_note"], ip=client_ip(request))
            except (ValidationFailed, PermissionRefused) as exc:
                errors = {k: [str(m) for m in v] for k, v in (exc.details or {}).items()} \
                    if isinstance(getattr(exc, "details", None), dict) else {}
                errors.setdefault("__all__", [exc.message])
            else:
                return redirect("portal:certificate", pk=cert_request.pk)
    return _page(request, "portal/certificates.html", {
        "nav": "certificates", "kinds": _certificate_kinds(), "exemptions": exemption_choices(), "form": form,
        "errors": errors, "profile": profile,
        "requests": selectors.my_certificate_requests(tenant=tenant, user=request.user)[:50],
    }, status=400 if errors else 200)


@login_required
def certificate_detail(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _citizen(request)
    cert_request = selectors.certificate_request_get(tenant=tenant, user=request.user, request_id=_int(pk))
    if cert_request.status == CertificateRequestStatus.AWAITING_PAYMENT:
        try:
            cert_request = services.certificate_request_after_payment(tenant=tenant, user=request.user,
                                                                      request_id=cert_request.pk, ip=client_ip(request))
        except ProcedoError as exc:
            messages.warning(request, exc.message)
    from registry.certificates.catalogue import CATALOGUE

    spec = CATALOGUE.get(cert_request.kind)
    return _allow_checkout(_page(request, "portal/certificate.html", {
        "nav": "certificates", "req": cert_request, "title": spec.title if spec else cert_request.kind}), tenant)


# --------------------------------------------------------------------------- preferences


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    tenant = _citizen(request)
    profile = services.profile_for(tenant=tenant, user=request.user)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            profile = services.profile_update(tenant=tenant, user=request.user,
                                              io_opt_in=request.POST.get("io") == "1",
                                              email_opt_in=request.POST.get("email_opt_in") == "1",
                                              email=request.POST.get("email", ""), ip=client_ip(request))
        except ValidationFailed as exc:
            errors = exc.details if isinstance(exc.details, dict) else {"email": [exc.message]}
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Preferenze salvate."))
            return redirect("portal:preferences")
    return _page(request, "portal/preferences.html", {"nav": "preferences", "profile": profile, "errors": errors,
                                                      "today": clock.today()}, status=400 if errors else 200)
