"""Tenant administration pages: users and roles, incidents, the municipality's settings and its
deed templates.

Thin: parse, call a service or selector, render. Only supervisors and process administrators of
the current tenant get in (others 403); objects of other tenants are 404 because every lookup goes
through the tenant. NotFound and PermissionRefused raised by a service become the 404/403 pages in
common.middleware.DomainErrorPagesMiddleware; the views catch only what they answer otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.roles import ADMIN_ROLES, Role
from accounts.selectors import roles_for
from audit.events import record_read
from audit.services import client_ip
from cases import process_settings
from cases import selectors as case_selectors
from cases import services as case_services
from common.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from common.pages import int_or_404 as _int
from common.pages import page_tenant
from documents import services as documents_services
from documents.errors import TemplateRejected
from engine.manifest import manifest_of
from engine.selectors import latest_versions

from . import selectors

logger = logging.getLogger(__name__)

ONE_TIME_PASSWORD_KEY = "procedo_one_time_password"


def _admin_tenant(request: HttpRequest):
    tenant = page_tenant(request)
    if not roles_for(user=request.user, tenant=tenant) & ADMIN_ROLES:  # type: ignore[arg-type]
        raise PermissionDenied(_("Pagina riservata ai responsabili e agli amministratori dell'ente."))
    return tenant


def _field_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    return exc.details if isinstance(exc.details, dict) else {}


# --------------------------------------------------------------------------- users


@login_required
def admin_home(request: HttpRequest) -> HttpResponse:
    _admin_tenant(request)
    return redirect("admin_users")


@login_required
@never_cache
def admin_users(request: HttpRequest) -> HttpResponse:
    tenant = _admin_tenant(request)
    search = (request.GET.get("q") or "").strip()[:100]
    role = request.GET.get("role") or ""
    if role not in Role.values:
        role = ""
    page = Paginator(account_selectors.tenant_member_list(tenant=tenant, search=search, role=role), 25).get_page(
        request.GET.get("page")
    )
    members = account_selectors.tenant_members(tenant=tenant, users=list(page.object_list))
    return render(request, "backoffice/admin_users.html", {
        "nav": "admin", "admin_tab": "users", "page": page, "members": members, "search": search, "role": role,
        "roles": Role.choices,
        "can_create": bool(account_services.roles_grantable(actor=request.user, tenant=tenant)),
    })


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def admin_user_create(request: HttpRequest) -> HttpResponse:
    tenant = _admin_tenant(request)
    grantable = account_services.roles_grantable(actor=request.user, tenant=tenant)
    if not grantable:
        raise PermissionDenied(_("Il tuo ruolo non consente di creare utenti: lo fa il responsabile dell'ufficio."))
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"roles": []}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("username", "first_name", "last_name", "email", "fiscal_code")}
        values["roles"] = request.POST.getlist("roles")
        try:
            user, password = account_services.tenant_user_create(
                tenant=tenant, actor=request.user, username=values["username"], first_name=values["first_name"],
                last_name=values["last_name"], email=values["email"], fiscal_code=values["fiscal_code"],
                roles=values["roles"], ip=client_ip(request),
            )
        except ValidationFailed as exc:
            errors = _field_errors(exc)
            logger.info("user creation refused: %s", sorted(errors))
            messages.error(request, exc.message)
        else:
            request.session[ONE_TIME_PASSWORD_KEY] = {"user": user.pk, "password": password}
            messages.success(request, _("Utente %(u)s creato.") % {"u": user.username})
            return redirect("admin_user_detail", pk=user.pk)
    return render(request, "backoffice/admin_user_form.html", {
        "nav": "admin", "admin_tab": "users", "values": values, "errors": errors,
        "role_choices": [(v, label) for v, label in account_services.ROLE_CHOICES if v in grantable],
    })


@login_required
@never_cache
def admin_user_detail(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _admin_tenant(request)
    member = account_selectors.tenant_member_get(tenant=tenant, user_id=_int(pk))
    if member is None:
        raise Http404
    # The one-time password is shown on this page once, then forgotten.
    one_time = request.session.get(ONE_TIME_PASSWORD_KEY)
    password = None
    if one_time and one_time.get("user") == member.user.pk:
        password = one_time["password"]
        del request.session[ONE_TIME_PASSWORD_KEY]
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="user",
                object_id=str(member.user.pk), object_repr=member.user.username)
    is_self = member.user.pk == request.user.pk
    grantable = account_services.roles_grantable(actor=request.user, tenant=tenant)
    held = set(member.roles) & account_services.GRANTABLE_ROLES
    manageable = is_self or held <= grantable
    # Only the roles the actor may change are offered: others' roles they may grant; on their own
    # page, removing a non-administrative role. Roles held but not changeable are shown, locked.
    changeable = (held - ADMIN_ROLES) if is_self else (grantable if manageable else set())
    role_options = [
        {"value": v, "label": label, "checked": v in held, "editable": v in changeable}
        for v, label in account_services.ROLE_CHOICES if v in changeable or v in held
    ]
    return render(request, "backoffice/admin_user_detail.html", {
        "nav": "admin", "admin_tab": "users", "member": member, "one_time_password": password,
        "role_options": role_options, "can_change_roles": bool(changeable), "manageable": manageable,
        "is_self": is_self,
        "open_tasks": selectors.user_open_task_count(tenant=tenant, user=member.user),
        "other_tenants": account_selectors.user_other_tenant_count(tenant=tenant, user=member.user),
        "errors": {},
    })


@login_required
@require_POST
def admin_user_roles(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _admin_tenant(request)
    try:
        user = account_services.tenant_user_set_roles(
            tenant=tenant, actor=request.user, user_id=_int(pk), roles=request.POST.getlist("roles"),
            ip=client_ip(request),
        )
        messages.success(request, _("Ruoli di %(u)s aggiornati.") % {"u": user.username})
    except (ValidationFailed, PermissionRefused) as exc:
        messages.error(request, exc.message)
    return redirect("admin_user_detail", pk=_int(pk))


@login_required
@require_POST
def admin_user_active(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _admin_tenant(request)
    active = request.POST.get("active") == "1"
    try:
        user = account_services.tenant_user_set_active(
            tenant=tenant, actor=request.user, user_id=_int(pk), active=active, ip=client_ip(request)
        )
        messages.success(request, (_("Accesso di %(u)s riattivato.") if active
                                   else _("Accesso di %(u)s sospeso.")) % {"u": user.username})
    except (ValidationFailed, PermissionRefused) as exc:
        messages.error(request, exc.message)
    return redirect("admin_user_detail", pk=_int(pk))


@login_required
@require_POST
def admin_user_password(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _admin_tenant(request)
    try:
        user, password = account_services.tenant_user_reset_password(
            tenant=tenant, actor=request.user, user_id=_int(pk), ip=client_ip(request)
        )
    except (ValidationFailed, PermissionRefused) as exc:
        messages.error(request, exc.message)
    else:
        request.session[ONE_TIME_PASSWORD_KEY] = {"user": user.pk, "password": password}
        messages.success(request, _("Password di %(u)s reimpostata.") % {"u": user.username})
    return redirect("admin_user_detail", pk=_int(pk))


# --------------------------------------------------------------------------- incidents


@login_required
@never_cache
def admin_incidents(request: HttpRequest) -> HttpResponse:
    tenant = _admin_tenant(request)
    resolved = request.GET.get("stato") == "risolti"
    listing = case_selectors.incident_admin_list
    page = Paginator(listing(tenant=tenant, resolved=resolved), 25).get_page(request.GET.get("page"))
    counts = {
        "open": listing(tenant=tenant).count(),
        "resolved": listing(tenant=tenant, resolved=True).count(),
    }
    return render(request, "backoffice/admin_incidents.html", {
        "nav": "admin", "admin_tab": "incidents", "page": page, "rows": case_selectors.incident_rows(page.object_list),
        "resolved": resolved, "counts": counts,
    })


RETRY_MESSAGES = {
    "queued": gettext_lazy("Nuovo tentativo avviato: il servizio sarà chiamato di nuovo a breve."),
    "recovered": gettext_lazy("Nuovo tentativo riuscito: la pratica è ripartita."),
    "failed_again": gettext_lazy("Il passo non è riuscito nemmeno questa volta: trovi il nuovo incidente nell'elenco."),
}


@login_required
@require_POST
def admin_incident_retry(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _admin_tenant(request)
    htmx = bool(request.headers.get("HX-Request"))
    level, text = messages.SUCCESS, ""
    try:
        outcome = case_services.incident_retry(
            tenant=tenant, user=request.user, incident_id=_int(pk), ip=client_ip(request)
        )
        text = str(RETRY_MESSAGES[outcome])
        if outcome == "failed_again":
            level = messages.WARNING
    except Conflict as exc:
        level, text = messages.WARNING, exc.message
    if htmx:
        return render(request, "backoffice/_incident_retried.html", {
            "pk": _int(pk), "text": text, "warning": level == messages.WARNING,
        })
    messages.add_message(request, level, text)
    return redirect("admin_incidents")


@login_required
@require_POST
def admin_incident_send_back(request: HttpRequest, pk: str) -> HttpResponse:
    """Send the case back to the task that produced the wrong data (the form below the incident)."""
    tenant = _admin_tenant(request)
    try:
        case_services.incident_send_back(
            tenant=tenant, user=request.user, incident_id=_int(pk), target=request.POST.get("target", "")[:200],
            reason=request.POST.get("reason", "")[:2000], ip=client_ip(request))
        messages.success(request, _("La pratica è tornata al compito scelto: chi se ne occupa trova i dati da "
                                    "correggere; al completamento i passi successivi ripartono con i dati nuovi."))
    except (Conflict, ValidationFailed) as exc:
        messages.warning(request, exc.message)
    return redirect("admin_incidents")


# --------------------------------------------------------------------------- the municipality


@login_required
@never_cache
def admin_tenant(request: HttpRequest) -> HttpResponse:
    """The municipality's own settings: its coat of arms (header and deeds)."""
    tenant = _admin_tenant(request)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("coat_of_arms")
        if upload is None:
            error = _("Scegli l'immagine dello stemma.")
        elif upload.size > account_services.COAT_OF_ARMS_MAX_BYTES:
            error = _("Lo stemma supera 1 MB.")
        else:
            try:
                account_services.tenant_coat_of_arms_set(tenant=tenant, user=request.user, data=upload.read(),
                                                         ip=client_ip(request))
            except ValidationFailed as exc:
                error = exc.message
            else:
                messages.success(request, _("Stemma aggiornato."))
                return redirect("admin_tenant")
    tenant.refresh_from_db()
    return render(request, "backoffice/admin_tenant.html", {
        "nav": "admin", "admin_tab": "tenant", "tenant": tenant, "error": error,
    }, status=400 if error else 200)


@login_required
@never_cache
def admin_process_settings(request: HttpRequest) -> HttpResponse:
    """The procedures that let the municipality choose something (manifest `settings`)."""
    tenant = _admin_tenant(request)
    process_settings.require_editor(tenant=tenant, user=request.user)
    rows = []
    for version in latest_versions():
        manifest = manifest_of(version)
        if manifest.settings:
            values = process_settings.settings_for(tenant, manifest)
            rows.append({"manifest": manifest, "values": [(s, values[s.name]) for s in manifest.settings]})
    return render(request, "backoffice/admin_process_settings.html", {
        "nav": "admin", "admin_tab": "processes", "rows": rows,
    })


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def admin_process_settings_edit(request: HttpRequest, process_id: str) -> HttpResponse:
    tenant = _admin_tenant(request)
    manifest, values = process_settings.settings_page_data(tenant=tenant, user=request.user, process_id=process_id)
    if not manifest.settings:
        raise NotFound(_("Il procedimento non ha impostazioni."))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        submitted = {s.name: request.POST.get(s.name, "") for s in manifest.settings}
        try:
            process_settings.settings_update(tenant=tenant, user=request.user, process_id=process_id,
                                             values=submitted)
        except ValidationFailed as exc:
            errors = _field_errors(exc)
            values = {**values, **submitted}
        else:
            messages.success(request, _("Impostazioni salvate: valgono per le pratiche aperte da ora."))
            return redirect("admin_process_settings")
    fields = [{"setting": s, "value": values.get(s.name), "errors": errors.get(s.name, [])} for s in manifest.settings]
    return render(request, "backoffice/admin_process_settings_edit.html", {
        "nav": "admin", "admin_tab": "processes", "manifest": manifest, "fields": fields,
    }, status=400 if errors else 200)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def admin_templates(request: HttpRequest) -> HttpResponse:
    """The municipality's own versions of the shipped deed templates: upload (checked), history,
    go back to a version or to the shipped one."""
    tenant = _admin_tenant(request)
    errors: dict[str, str] = {}
    if request.method == "POST":
        name = request.POST.get("name", "")
        action = request.POST.get("action", "upload")
        try:
            if action == "upload":
                upload = request.FILES.get("file")
                if upload is None:
                    raise ValidationFailed(_("Scegli il file DOCX del modello."))
                if upload.size > 10 * 1024 * 1024:
                    raise ValidationFailed(_("Il modello supera la dimensione massima di 10 MB."))
                row = documents_services.tenant_template_upload(
                    tenant=tenant, user=request.user, name=name, data=upload.read(), filename=upload.name,
                    ip=client_ip(request))
                messages.success(request, _("Modello «%(n)s» aggiornato: versione %(v)s attiva.")
                                 % {"n": name, "v": row.version})
            else:
                version = request.POST.get("version")
                documents_services.tenant_template_activate(
                    tenant=tenant, user=request.user, name=name, version=int(version) if version else None,
                    ip=client_ip(request))
                messages.success(request, _("Modello «%(n)s» aggiornato.") % {"n": name})
            return redirect("admin_templates")
        except (TemplateRejected, ValidationFailed, NotFound, ValueError) as exc:
            # Shown next to the template it concerns, the form kept: not an error page.
            errors[name] = getattr(exc, "message", None) or _("Richiesta non valida.")
    versions = selectors.tenant_template_versions(tenant=tenant)
    rows = [{"name": name, "title": documents_services.TEMPLATE_TITLES.get(name, name),
             "fields": sorted(fields), "versions": versions.get(name, []),
             "active": next((v for v in versions.get(name, []) if v.is_active), None),
             "error": errors.get(name, "")}
            for name, fields in documents_services.TEMPLATE_FIELDS.items()]
    return render(request, "backoffice/admin_templates.html", {
        "nav": "admin", "admin_tab": "templates", "rows": rows}, status=400 if errors else 200)
