"""Operator pages: inbox, task form, case page, case search. Thin: parse, call, render.

A missing or foreign object (NotFound) and a refusal (PermissionRefused) are not caught here:
common.middleware.DomainErrorPagesMiddleware turns them into the 404/403 pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import Role
from accounts.selectors import roles_for
from accounts.tenancy import SESSION_KEY
from audit.events import record_read
from audit.services import client_ip
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from common.pages import int_or_404 as _int
from common.pages import page_tenant as _tenant
from engine.bundles import version_by_id, version_element_index, version_files, version_form
from engine.manifest import manifest_of
from forms.rendering import build_fields, file_fields, parse_post, set_path
from forms.services import draft_discard, draft_get, draft_save

from . import presenters, selectors, services
from .api import _int_or_none
from .models import CaseStatus, WorkItem

ACTING_ROLES = frozenset({Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.POLICE, Role.SUPERVISOR})


# --------------------------------------------------------------------------- inbox


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    tenant = _tenant(request)
    roles = roles_for(user=request.user, tenant=tenant)
    is_supervisor = Role.SUPERVISOR in roles
    scopes = ("mine", "available", "all") if is_supervisor else ("mine", "available")
    scope = request.GET.get("tab", "mine")
    if scope not in scopes:
        scope = "mine"
    where = selectors.inbox_where(tenant=tenant, user=request.user, scope=scope)
    process = request.GET.get("process") or ""
    if process:
        where = where.filter(case__process_id=process)
    subject = (request.GET.get("subject") or "").strip().upper()
    if subject:
        where = where.filter(case_id__in=selectors.case_ids_of_subject(tenant=tenant, fiscal_code=subject))
    page = Paginator(selectors.inbox_rows(tenant=tenant, user=request.user, where=where), 25).get_page(
        request.GET.get("page"))
    presenters.mark_sla(page, tenant)
    # The tab shown was counted by the paginator (unfiltered: the same count); the others are asked.
    counts = {s: page.paginator.count if s == scope and not (process or subject)
              else selectors.inbox_count(tenant=tenant, user=request.user, scope=s) for s in scopes}
    context = {
        "nav": "inbox", "tab": scope, "page": page, "counts": counts, "process": process, "subject": subject,
        "can_act": bool(roles & ACTING_ROLES), "can_assign": is_supervisor,
        "filter_query": selectors.inbox_filter_query(request.GET),
        "saved_filters": selectors.saved_filters_for(tenant=tenant, user=request.user),
    }
    if is_supervisor:
        page_roles = {item.role for item in page}
        context["assignees"] = presenters.assignee_options(
            selectors.assignable_users(tenant=tenant, roles=page_roles))
    template = "cases/_inbox_table.html" if request.headers.get("HX-Request") else "cases/inbox.html"
    return render(request, template, context)


def _ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return ids


@login_required
def task_assignees(request: HttpRequest) -> HttpResponse:
    """The options of the bulk "Assegna a…" select for the tasks ticked (htmx)."""
    tenant = _tenant(request)
    if Role.SUPERVISOR not in roles_for(user=request.user, tenant=tenant):
        raise PermissionDenied(_("Solo un responsabile può assegnare i compiti."))
    ids = _ids(request.GET.getlist("items"))
    roles = selectors.open_work_item_roles(tenant=tenant, work_item_ids=ids)
    return render(request, "cases/_assignee_options.html", {
        "assignees": presenters.assignee_options(selectors.assignable_users(tenant=tenant, roles=roles)),
        "selected": len(set(ids)),
    })


@login_required
@require_POST
def tasks_bulk_assign(request: HttpRequest) -> HttpResponse:
    """A supervisor gives several tasks to one colleague; each task that cannot be given is reported."""
    tenant = _tenant(request)
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("inbox")
    try:
        outcomes = services.work_items_assign_bulk(
            tenant=tenant, user=request.user, assignee_id=_int_or_none(request.POST.get("user")),
            work_item_ids=_ids(request.POST.getlist("items")), ip=client_ip(request),
        )
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect(back)
    done = [o for o in outcomes if o.assigned]
    if done:
        from accounts.models import User

        assignee = User.objects.get(pk=_int_or_none(request.POST.get("user")))
        messages.success(request, ngettext(
            "%(n)s compito assegnato a %(u)s.", "%(n)s compiti assegnati a %(u)s.", len(done)
        ) % {"n": len(done), "u": assignee.get_full_name() or assignee.username})
    for outcome in outcomes:
        if not outcome.assigned:
            messages.warning(request, _("Non assegnato: %(t)s — %(m)s") % {"t": outcome.label, "m": outcome.message})
    return redirect(back)


@login_required
@require_POST
def task_assign(request: HttpRequest, pk: str) -> HttpResponse:
    """A supervisor gives the task to a colleague holding its role (four-eyes respected)."""
    from accounts.models import User

    tenant = _tenant(request)
    assignee = User.objects.filter(pk=_int_or_none(request.POST.get("user")), memberships__tenant=tenant).first()
    try:
        if assignee is None:
            raise ValidationFailed(_("Scegli un utente di questo ente."))
        services.work_item_assign(
            work_item_id=_int(pk), tenant=tenant, user=request.user, assignee=assignee, ip=client_ip(request)
        )
        messages.success(request, _("Compito assegnato a %(u)s.") % {"u": assignee.get_full_name() or assignee.username})
    except (Conflict, PermissionRefused, ValidationFailed) as exc:
        messages.warning(request, exc.message)
    return redirect("task_detail", pk=_int(pk))


@login_required
@require_POST
def task_claim(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _tenant(request)
    action = request.POST.get("action", "claim")
    try:
        if action == "unclaim":
            services.work_item_unclaim(work_item_id=_int(pk), tenant=tenant, user=request.user, ip=client_ip(request))
            messages.success(request, _("Compito rilasciato."))
        else:
            services.work_item_claim(work_item_id=_int(pk), tenant=tenant, user=request.user, ip=client_ip(request))
            messages.success(request, _("Compito preso in carico."))
    except (Conflict, PermissionRefused) as exc:
        messages.warning(request, exc.message)
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = "inbox"  # never send people to another site
    return redirect(back)


# --------------------------------------------------------------------------- saved inbox filters


@login_required
@require_http_methods(["GET", "POST"])
def saved_filters(request: HttpRequest) -> HttpResponse:
    """GET: the user's filters and the team's shared ones. POST: save the current inbox filters."""
    tenant = _tenant(request)
    if request.method == "POST":
        try:
            saved = services.saved_filter_create(
                tenant=tenant, user=request.user, name=request.POST.get("name", ""), params=request.POST,
                shared=request.POST.get("shared") == "1", ip=client_ip(request),
            )
        except ValidationFailed as exc:
            messages.error(request, exc.message)
            query = selectors.inbox_filter_query(request.POST)
            return redirect(reverse("inbox") + (f"?{query}" if query else ""))
        messages.success(request, _("Filtro «%(n)s» salvato.") % {"n": saved.name})
        return redirect(reverse("inbox") + (f"?{saved.query}" if saved.query else ""))
    filters = selectors.saved_filters_for(tenant=tenant, user=request.user)
    return render(request, "cases/saved_filters.html", {
        "nav": "inbox",
        "own": [f for f in filters if f.owner_id == request.user.pk],
        "shared": [f for f in filters if f.owner_id != request.user.pk],
    })


@login_required
@require_POST
def saved_filter_change(request: HttpRequest, pk: str) -> HttpResponse:
    """Rename, share, unshare or delete one of the user's own filters."""
    tenant = _tenant(request)
    action = request.POST.get("action", "")
    ip = client_ip(request)
    try:
        if action == "delete":
            services.saved_filter_delete(tenant=tenant, user=request.user, filter_id=_int(pk), ip=ip)
            messages.success(request, _("Filtro eliminato."))
        elif action in ("share", "unshare"):
            services.saved_filter_update(
                tenant=tenant, user=request.user, filter_id=_int(pk), shared=action == "share", ip=ip
            )
            messages.success(request, _("Filtro condiviso con la squadra.") if action == "share"
                             else _("Filtro non più condiviso."))
        elif action == "rename":
            services.saved_filter_update(
                tenant=tenant, user=request.user, filter_id=_int(pk), name=request.POST.get("name", ""), ip=ip
            )
            messages.success(request, _("Filtro rinominato."))
        else:
            messages.error(request, _("Operazione non riconosciuta."))
    except ValidationFailed as exc:
        messages.error(request, exc.message)
    return redirect("saved_filters")


# --------------------------------------------------------------------------- task form


@login_required
@require_http_methods(["GET", "POST"])
def task_detail(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _tenant(request)
    item = selectors.work_item_get(tenant=tenant, user=request.user, work_item_id=_int(pk))
    version = version_by_id(item.case.process_version_id)
    schema = version_form(version, item.form) if item.form else {"type": "object", "properties": {}}
    ui = version_form(version, item.ui_form) if item.ui_form else {}
    roles = roles_for(user=request.user, tenant=tenant)
    four_eyes_blocked = bool(item.excluded_username) and item.excluded_username == request.user.username
    can_act = (item.status == "open" and bool(roles & ACTING_ROLES) and (item.role in roles or Role.SUPERVISOR in roles)
               and not four_eyes_blocked)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    draft = draft_get(work_item=item, user=request.user)
    sent_back = item.case.data.get(f"{item.bpmn_id}_sent_back") if item.status == "open" else None
    if not isinstance(sent_back, dict):
        sent_back = None
    if draft is not None:
        values = draft.data
    elif sent_back is not None and isinstance(item.case.data.get(item.bpmn_id), dict):
        values = item.case.data[item.bpmn_id]  # sent back to correct it: what was entered the first time

    if request.method == "POST":
        if not can_act:
            raise PermissionDenied(_("Il tuo ruolo non consente questa operazione."))
        values = parse_post(schema, request.POST)
        errors = _store_uploads(request, tenant, item, schema, values)
        if errors:
            messages.error(request, _("Il file allegato non è stato accettato: correggi e riprova."))
        elif request.POST.get("action") == "draft":
            draft_save(work_item=item, user=request.user, data=values)
            messages.success(request, _("Bozza salvata."))
            return redirect("task_detail", pk=item.pk)
        else:
            try:
                services.work_item_complete(
                    work_item_id=item.pk, tenant=tenant, user=request.user, data=values, ip=client_ip(request)
                )
            except ValidationFailed as exc:
                errors = presenters.for_pages((exc.details or {}).get("data", {}) if isinstance(exc.details, dict) else {})
                messages.error(request, exc.message)
            except Conflict as exc:
                # Someone else completed or claimed it: keep what was typed as a draft, never lose it.
                draft_save(work_item=item, user=request.user, data=values)
                messages.warning(request, exc.message + " " + _("I dati inseriti sono stati salvati come bozza."))
                return redirect("case_detail", pk=item.case_id)
            except PermissionRefused as exc:
                messages.error(request, exc.message)
            else:
                draft_discard(work_item=item, user=request.user)
                messages.success(request, _("Compito «%(t)s» completato.") % {"t": item.name})
                return redirect("case_detail", pk=item.case_id)

    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="work_item",
                object_id=str(item.pk), object_repr=f"{item.case.number}: {item.name}")
    fields = build_fields(schema, ui, values, errors)
    summary = presenters.error_summary(fields)
    assignable = []
    if Role.SUPERVISOR in roles and item.status == "open":
        from accounts.selectors import users_with_role

        assignable = [u for u in users_with_role(tenant=tenant, role=item.role).order_by("last_name", "username")
                      if u.username != item.excluded_username]
    return render(request, "cases/task.html", {
        "nav": "inbox", "item": item, "case": item.case, "fields": fields, "summary": summary,
        "can_act": can_act, "draft": draft, "sent_back": sent_back, "sla": presenters.sla(item, tenant), "assignable": assignable,
        "four_eyes_blocked": four_eyes_blocked,
    })


def _store_uploads(request: HttpRequest, tenant: Any, item: WorkItem, schema: dict[str, Any],
                   values: dict[str, Any]) -> dict[str, list[str]]:
    """Store the files sent with a task form; their references go into `values`, refusals into
    the returned per-field errors (type checked by content, size by the field's `x-max-bytes`)."""
    from documents.errors import FileRejected
    from documents.models import Document
    from documents.services import attachment_store

    errors: dict[str, list[str]] = {}
    for name, prop in file_fields(schema).items():
        upload = request.FILES.get(name)
        if upload is None:
            kept = _get_path(values, name)
            if isinstance(kept, dict) and not Document.objects.filter(
                    tenant=tenant, case=item.case, pk=kept.get("document_id")).exists():
                _drop_path(values, name)  # a crafted reference to someone else's file
            continue
        limit = int(prop.get("x-max-bytes") or 10 * 1024 * 1024)
        if upload.size > limit:  # refused before reading it
            errors[name] = [_("Il file supera la dimensione massima consentita (%(mb)s MB).")
                            % {"mb": max(1, limit // (1024 * 1024))}]
            continue
        try:
            doc = attachment_store(tenant=tenant, user=request.user, case=item.case, data=upload.read(),
                                   filename=upload.name, accept=prop.get("x-accept"), max_bytes=limit,
                                   ip=client_ip(request))
        except FileRejected as exc:
            errors[name] = [exc.message]
            continue
        set_path(values, name, {"document_id": doc.pk, "name": doc.filename, "media_type": doc.mime,
                                "size": doc.size, "sha256": doc.sha256})
    return errors


def _get_path(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _drop_path(data: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.get(part) if isinstance(data, dict) else None
        if data is None:
            return
    if isinstance(data, dict):
        data.pop(last, None)


# --------------------------------------------------------------------------- cases


@login_required
def case_detail(request: HttpRequest, pk: str) -> HttpResponse:
    tenant = _tenant(request)
    case = selectors.case_get(tenant=tenant, user=request.user, case_id=_int(pk))
    roles = roles_for(user=request.user, tenant=tenant)
    if request.method == "POST":
        try:
            services.comment_add(case=case, user=request.user, text=request.POST.get("text", ""), ip=client_ip(request))
            messages.success(request, _("Nota aggiunta."))
        except (ValidationFailed, PermissionRefused) as exc:
            messages.error(request, exc.message)
        return redirect("case_detail", pk=case.pk)
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="case",
                object_id=str(case.pk), object_repr=case.number)
    version = version_by_id(case.process_version_id)
    if selectors.case_is_public_only(tenant=tenant, user=request.user):
        # A citizen's own case: the public view only (no notes, operators, history, tasks, results).
        view = selectors.case_public_view(case=case, user=request.user)
        return render(request, "cases/case_public.html", {
            "nav": "cases", "view": view, "submitted_rows": presenters.readable(
                view["submitted"], version, result_titles=_service_result_titles(version)),
            "days_left": presenters.days_left_for(case),
        })
    days_left = presenters.days_left_for(case)
    # One query for the open and the past tasks (open by due date, past by completion, as before).
    items = list(case.work_items.select_related("assignee", "completed_by"))
    for item in items:
        item.case = case
    open_items = sorted((i for i in items if i.status == "open"),
                        key=lambda i: (i.due_at is None, i.due_at or dt.date.min, i.pk))
    past_items = sorted((i for i in items if i.status != "open"),
                        key=lambda i: (i.completed_at is None, i.completed_at or dt.datetime.min.replace(tzinfo=dt.UTC), i.pk))
    presenters.mark_sla(open_items, tenant)
    outcome_label = manifest_of(version).outcome_label(case.outcome)
    steps = selectors.case_progress(case=case) if case.instance_id is not None else None
    progress = presenters.progress(steps, _bpmn_names(version) if steps is not None else {})
    from documents.selectors import document_list_for_case
    from registry.civil_status.selectors import acts_for_case

    documents = list(document_list_for_case(tenant=tenant, user=request.user, case_id=case.pk, case=case))
    return render(request, "cases/case_detail.html", {
        "progress": progress, "documents": documents,
        "receipt": presenters.receipt_and_protocol(case.data),
        "linked_cases": selectors.linked_cases(case=case),
        "civil_acts": acts_for_case(tenant=tenant, case_id=case.pk),
        "notices": presenters.notice_rows(selectors.case_notices(case=case)),
        "nav": "cases", "case": case, "version": version, "days_left": days_left, "outcome_label": outcome_label,
        "open_items": open_items,
        "past_items": past_items,
        "history": selectors.case_history(case=case), "comments": case.comments.select_related("author"),
        "data_rows": presenters.readable(case.data, version, result_titles=_service_result_titles(version)),
        "can_comment": bool(roles - {Role.VIEWER, Role.CITIZEN}),
        "can_act": bool(roles & ACTING_ROLES),
    })


def _service_result_titles(version: Any) -> dict[str, str]:
    """A service task's result variable titled with the task's name ("Registrazione in ANPR")."""
    return _bpmn_index(version)[1]


def _bpmn_names(version: Any) -> dict[str, str]:
    return _bpmn_index(version)[0]


def _bpmn_index(version: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Element names by id and service-task result titles, from the version's parsed specs (cached there)."""
    index = version_element_index(version)
    return index.names, index.service_result_titles


def _bpmn_xml(version: Any) -> str:
    files = version_files(version)
    main = f"{version.definition.process_id}.bpmn"
    return files.get(main) or next((v for k, v in files.items() if k.endswith(".bpmn")), "")


@login_required
def case_diagram(request: HttpRequest, pk: str) -> HttpResponse:
    """The BPMN of the version the case runs on (for the bpmn-js viewer on the case page)."""
    tenant = _tenant(request)
    case = selectors.case_get(tenant=tenant, user=request.user, case_id=_int(pk))
    if selectors.case_is_public_only(tenant=tenant, user=request.user):
        raise Http404  # the model carries scripts, lanes and service calls: office knowledge
    response = HttpResponse(_bpmn_xml(version_by_id(case.process_version_id)), content_type="application/xml")
    response["Cache-Control"] = "private, max-age=3600"  # versions are immutable
    return response


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    tenant = _tenant(request)
    q = request.GET
    due_before = None
    errors = {}
    if q.get("due_before"):
        try:
            due_before = dt.datetime.strptime(q["due_before"], "%Y-%m-%d").date()
        except ValueError:
            errors["due_before"] = _("Data non valida.")
    qs = selectors.case_list(
        tenant=tenant, user=request.user, number=q.get("number"),
        status=q.get("status") if q.get("status") in CaseStatus.values else None,
        process=q.get("process") or None, fiscal_code=q.get("fiscal_code") or None, due_before=due_before,
    )
    # The rows show number, procedure, subjects, status and due date: the case data (its whole start
    # form and the service results) is not read for a list.
    page = Paginator(qs.defer("data"), 25).get_page(q.get("page"))
    # Every page of the list shows subjects' names and fiscal codes: each read is audited.
    record_read(tenant=tenant, user=request.user, ip=client_ip(request), object_type="case_list", object_id="*",
                object_repr="&".join(f"{k}={v}" for k, v in sorted(q.items()))[:300])
    return render(request, "cases/case_list.html", {
        "nav": "cases", "page": page, "q": q, "statuses": CaseStatus.choices, "errors": errors,
        "can_open": bool(roles_for(user=request.user, tenant=tenant) & (services.CASE_OPENER_ROLES - {Role.CITIZEN})),
        # Citizens see their own cases without the other people named in them.
        "public_only": selectors.case_is_public_only(tenant=tenant, user=request.user),
    })


@login_required
def team(request: HttpRequest) -> HttpResponse:
    """Supervisors: who has how much work, what is overdue, cases by procedure and status."""
    tenant = _tenant(request)
    if Role.SUPERVISOR not in roles_for(user=request.user, tenant=tenant):
        raise PermissionDenied(_("Pagina riservata ai responsabili."))
    overview = selectors.team_overview(tenant=tenant, today=clock.today())
    return render(request, "cases/team.html", {"nav": "team", **presenters.team_rows(overview)})


@login_required
def session_keepalive(request: HttpRequest) -> HttpResponse:
    """Renews the idle session now (accounts.middleware.SessionRenewalMiddleware renews it at most once a
    minute on other requests)."""
    from accounts.middleware import renew_session

    renew_session(request)
    return HttpResponse(status=204)


# --------------------------------------------------------------------------- tenant switcher


@login_required
@require_POST
def switch_tenant(request: HttpRequest) -> HttpResponse:
    from accounts.selectors import tenants_for

    wanted = request.POST.get("tenant")
    for tenant in tenants_for(user=request.user):
        if str(tenant.pk) == wanted:
            request.session[SESSION_KEY] = tenant.pk
            messages.success(request, _("Ora lavori per %(t)s.") % {"t": tenant.name})
            break
    else:
        messages.error(request, _("Ente non disponibile."))
    return redirect("inbox")



# --------------------------------------------------------------------------- opening a case


def _openable_versions(tenant, user) -> list:
    """Procedures this user may open from the "Nuova pratica" page: the counter channel only.

    Citizens file on the portal; platform procedures (ANPR requests) are opened by the system."""
    from engine.manifest import manifest_of
    from engine.models import ProcessDefinition
    from engine.selectors import process_latest_version

    if not roles_for(user=user, tenant=tenant) & (services.CASE_OPENER_ROLES - {Role.CITIZEN}):
        return []
    found = []
    for definition in ProcessDefinition.objects.order_by("name"):
        try:
            version = process_latest_version(process_id=definition.process_id, tenant=tenant)
        except NotFound:
            continue
        if ("counter" in manifest_of(version).channels and manifest_of(version).start_form
                and services.case_startable(tenant=tenant, user=user, version=version)):
            found.append(version)
    return found


@login_required
def case_new(request: HttpRequest) -> HttpResponse:
    """Choose the procedure of the case to open (counter, PEC, paper: staff record the request)."""
    tenant = _tenant(request)
    versions = _openable_versions(tenant, request.user)
    if not versions:
        raise PermissionDenied(_("Il tuo ruolo non consente di aprire pratiche."))
    return render(request, "cases/case_new.html", {"nav": "cases", "versions": versions})


def _receipt_channel_choices() -> list[tuple[str, str]]:
    return [(code, presenters.receipt_channel_label(code)) for code in services.RECEIPT_CHANNELS]


@login_required
@require_http_methods(["GET", "POST"])
def case_new_form(request: HttpRequest, process_id: str) -> HttpResponse:
    tenant = _tenant(request)
    version = next((v for v in _openable_versions(tenant, request.user)
                    if v.definition.process_id == process_id), None)
    if version is None:
        raise Http404
    start_form = manifest_of(version).start_form
    schema = version_form(version, start_form)
    ui_name = start_form.replace(".schema.json", ".uischema.json")
    ui = version_form(version, ui_name) if f"forms/{ui_name}" in version_files(version) else {}
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    receipt = {"received_on": clock.today().isoformat(), "channel": "counter", "received_on_reason": ""}
    receipt_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = parse_post(schema, request.POST)
        receipt = {k: request.POST.get(k, "").strip()[:500] for k in receipt}
        try:
            case = services.case_start(tenant=tenant, user=request.user, process_id=process_id, data=values,
                                       received_on=receipt["received_on"] or None,
                                       channel=receipt["channel"] or None,
                                       received_on_reason=receipt["received_on_reason"], ip=client_ip(request))
        except ValidationFailed as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            receipt_errors = {k: [str(m) for m in v] for k, v in details.items() if k in receipt}
            errors = details.get("data", {})
            errors = presenters.for_pages(errors) if isinstance(errors, dict) else {"__all__": [str(errors)]}
            messages.error(request, exc.message)
        except PermissionRefused as exc:
            if exc.code != "received_on_not_allowed":
                raise
            receipt_errors = {"received_on": [exc.message]}
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Aperta la pratica %(n)s.") % {"n": case.number})
            return redirect("case_detail", pk=case.pk)
    fields = build_fields(schema, ui, values, errors)
    summary = presenters.error_summary(fields)
    labels = {"received_on": _("Data di ricezione"), "channel": _("Canale di ricezione"),
              "received_on_reason": _("Motivo della data anteriore")}
    summary = [(labels[k], f"receipt-{k}", v[0]) for k, v in receipt_errors.items() if v] + list(summary)
    return render(request, "cases/case_new_form.html", {
        "nav": "cases", "version": version, "fields": fields, "summary": summary, "can_act": True,
        "title": schema.get("title") or version.definition.name,
        "receipt": receipt, "receipt_errors": receipt_errors, "today": clock.today().isoformat(),
        "channels": _receipt_channel_choices(),
    }, status=400 if errors or receipt_errors else 200)
