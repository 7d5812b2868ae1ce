"""The SLA report page (per month and level, with a server-rendered chart) and its export."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.roles import Role
from common import clock
from common.errors import PermissionRefused
from common.pages import page_tenant
from documents.exports import export_rows

from .report import REPORT_COLUMNS, chart_svg, sla_report
from .report_pdf import report_pdf

# Who reads the SLA report: the municipality's responsabile, the process administrator, and the
# supplier's support team (it is the basis of the penalties both sides check).
REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.PROCESS_ADMIN, Role.SUPPORT})
EXPORT_FORMATS = ("csv", "ods", "pdf")


def _month(request: HttpRequest) -> tuple[int, int]:
    today = clock.today()
    text = (request.GET.get("month") or "").strip()
    try:
        year, month = (int(part) for part in text.split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month
    except ValueError:
        pass
    return today.year, today.month


def _report_tenant(request: HttpRequest):
    from accounts.selectors import roles_for

    tenant = page_tenant(request)
    if not roles_for(user=request.user, tenant=tenant) & REPORT_ROLES:  # type: ignore[arg-type]
        raise PermissionRefused(_("Il report SLA è riservato al responsabile e al gruppo di assistenza."))
    return tenant


@login_required
@never_cache
@require_GET
def report_page(request: HttpRequest) -> HttpResponse:
    tenant = _report_tenant(request)
    year, month = _month(request)
    report = sla_report(tenant=tenant, year=year, month=month)
    return render(request, "support/report.html", {
        "nav": "support", "report": report, "month_value": f"{year:04d}-{month:02d}",
        "chart": mark_safe(chart_svg(report)),  # noqa: S308 - built from numbers and escaped text only
        "formats": EXPORT_FORMATS,
    })


@login_required
@never_cache
@require_GET
def report_export(request: HttpRequest, fmt: str) -> HttpResponse:
    tenant = _report_tenant(request)
    if fmt not in EXPORT_FORMATS:
        return HttpResponse(status=404)
    year, month = _month(request)
    report = sla_report(tenant=tenant, year=year, month=month)
    if fmt == "pdf":
        body, content_type, ext = report_pdf(report, tenant_name=str(tenant)), "application/pdf", "pdf"
    else:
        rows = [row.as_dict() for row in report["levels"]] + [report["total"].as_dict()]
        body, content_type, ext = export_rows(fmt, REPORT_COLUMNS, rows, title=f"SLA {year:04d}-{month:02d}")
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="sla-{year:04d}-{month:02d}.{ext}"'
    return response


@login_required
@never_cache
def report_problem(request: HttpRequest) -> HttpResponse:
    """"Segnala un problema": reached from the footer of any page (`?da=<that page>`)."""
    from django.contrib import messages
    from django.shortcuts import redirect

    from common.errors import ValidationFailed

    from .capture import MAX_SCREENSHOT_BYTES, clean_page
    from .capture import report_problem as open_ticket
    from .terms import terms_of

    tenant = page_tenant(request)
    page = clean_page(request.POST.get("page_url") if request.method == "POST" else request.GET.get("da"))
    values = {"level": "", "summary": "", "description": ""}
    errors: dict = {}
    if request.method == "POST":
        values = {k: (request.POST.get(k) or "").strip() for k in values}
        upload = request.FILES.get("screenshot")
        screenshot = None
        if upload is not None:
            if upload.size > MAX_SCREENSHOT_BYTES:
                errors = {"screenshot": [_("La schermata supera i 5 MB.")]}
            else:
                screenshot = (upload.read(), upload.name)
        if not errors:
            try:
                case = open_ticket(tenant=tenant, user=request.user, page=page,
                                   browser=request.META.get("HTTP_USER_AGENT", ""), screenshot=screenshot,
                                   ip=request.META.get("REMOTE_ADDR"), **values)
            except ValidationFailed as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                errors = details.get("data", details) or {"__all__": [exc.message]}
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Segnalazione %(n)s inviata al gruppo di assistenza.") % {"n": case.number})
                return redirect(page or "/")
    levels = terms_of(tenant)["levels"]
    return render(request, "support/report_problem.html", {
        "page_url": page, "values": values, "errors": errors,
        "levels": [(lv, levels[lv]["label"]) for lv in ("4", "3", "2", "1")],
    }, status=400 if errors else 200)


# --- the tenant's service-level terms (SupportTerms), edited by the responsabile ---------------------

WEEKDAYS = [(0, "lunedì"), (1, "martedì"), (2, "mercoledì"), (3, "giovedì"), (4, "venerdì"), (5, "sabato"),
            (6, "domenica")]
TARGET_UNITS = (("minutes", "minuti"), ("hours", "ore"), ("working_days", "giorni lavorativi"))


def _terms_form(terms: dict) -> dict:
    calendar, levels = terms["calendar"], terms["levels"]
    rows = []
    for level in ("4", "3", "2", "1"):
        entry = levels[level]
        (unit, amount), = entry["target"].items()
        rows.append({"level": level, "label": entry["label"], "unit": unit, "amount": str(amount),
                     "penalty_fixed": entry["penalty_fixed"], "penalty_per_hour": entry["penalty_per_hour"]})
    return {"weekdays": [int(d) for d in calendar.get("weekdays", [])], "start": calendar.get("start", "08:00"),
            "end": calendar.get("end", "18:00"), "holidays": "\n".join(str(h) for h in calendar.get("holidays", [])),
            "national_holidays": bool(calendar.get("national_holidays", True)), "levels": rows}


def _calendar_problem(calendar: dict) -> str:
    """An Italian message for what the calendar fields get wrong ("" when they look right)."""
    import datetime as dt
    import re

    if not calendar["weekdays"]:
        return _("Scegli almeno un giorno di servizio.")
    times = [calendar["start"], calendar["end"]]
    if not all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t) for t in times) or times[1] <= times[0]:
        return _("Orario di servizio non valido: ora di inizio e di fine come 08:00 e 18:00, la fine dopo l'inizio.")
    for index, text in enumerate(calendar["holidays"]):
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                calendar["holidays"][index] = dt.datetime.strptime(text, fmt).date().isoformat()
                break
            except ValueError:
                continue
        else:
            return _("Giorno di chiusura non valido: %(d)s (usa GG/MM/AAAA).") % {"d": text[:20]}
    return ""


def _terms_from_post(post, current_calendar: dict) -> tuple[dict, dict, dict]:
    """(calendar, levels, form values) read from the form; the numbers stay text until validated."""
    weekdays = sorted({int(d) for d in post.getlist("weekdays") if d.isdigit() and 0 <= int(d) <= 6})
    holidays = [line.strip() for line in (post.get("holidays") or "").replace(",", "\n").splitlines() if line.strip()]
    calendar = {**{k: v for k, v in current_calendar.items() if k == "patron_day"},
                "weekdays": weekdays, "start": (post.get("start") or "").strip()[:5],
                "end": (post.get("end") or "").strip()[:5], "holidays": holidays[:1000],
                "national_holidays": post.get("national_holidays") == "1"}
    levels, rows = {}, []
    for level in ("4", "3", "2", "1"):
        unit = post.get(f"unit_{level}") if post.get(f"unit_{level}") in dict(TARGET_UNITS) else "hours"
        amount = (post.get(f"amount_{level}") or "").strip().replace(",", ".")[:12]
        row = {"level": level, "label": (post.get(f"label_{level}") or "").strip()[:200], "unit": unit,
               "amount": amount, "penalty_fixed": (post.get(f"penalty_fixed_{level}") or "").strip()[:15],
               "penalty_per_hour": (post.get(f"penalty_per_hour_{level}") or "").strip()[:15]}
        rows.append(row)
        try:
            number = float(amount)
        except ValueError:
            number = -1.0  # refused by the validation, with the level named
        levels[level] = {"label": row["label"] or level, "target": {unit: number},
                         "penalty_fixed": row["penalty_fixed"].replace(",", ".") or "0",
                         "penalty_per_hour": row["penalty_per_hour"].replace(",", ".") or "0"}
    values = {"weekdays": weekdays, "start": calendar["start"], "end": calendar["end"],
              "holidays": "\n".join(holidays), "national_holidays": calendar["national_holidays"], "levels": rows}
    return calendar, levels, values


@login_required
@never_cache
def terms_page(request: HttpRequest) -> HttpResponse:
    """The responsabile sets the levels, times, service hours, closing days and penalties; the
    support team and the process administrator read them. Running tickets keep their own terms."""
    from django.contrib import messages
    from django.shortcuts import redirect

    from accounts.selectors import roles_for
    from common.errors import ValidationFailed

    from .services import terms_update
    from .terms import terms_of

    tenant = page_tenant(request)
    roles = roles_for(user=request.user, tenant=tenant)
    if not roles & REPORT_ROLES:
        raise PermissionRefused(_("I livelli di servizio sono riservati al responsabile e al gruppo di assistenza."))
    can_edit = Role.SUPERVISOR in roles
    current = terms_of(tenant)
    values, error = _terms_form(current), ""
    if request.method == "POST":
        if not can_edit:
            raise PermissionRefused(_("Solo il responsabile modifica i livelli di servizio."))
        calendar, levels, values = _terms_from_post(request.POST, current["calendar"])
        error = _calendar_problem(calendar)
        try:
            if not error:
                terms_update(tenant=tenant, user=request.user, calendar=calendar, levels=levels,
                             ip=request.META.get("REMOTE_ADDR"))
        except ValidationFailed as exc:
            error = exc.message
        if not error:
            messages.success(request, _("Livelli di servizio salvati: valgono per le segnalazioni aperte da ora."))
            return redirect("support_terms")
    return render(request, "support/terms.html", {
        "nav": "support", "values": values, "error": error, "can_edit": can_edit, "weekdays": WEEKDAYS,
        "units": TARGET_UNITS,
    }, status=400 if error else 200)


# --- the reporter's own tickets: status, the support team's question or resolution, the answers ---------

TICKET_STATES = {
    "reporter_info": gettext_lazy("Il gruppo di assistenza attende le tue informazioni"),
    "reporter_confirm": gettext_lazy("Risolta: conferma o riapri"),
}


def _ticket_state(case, waiting: list[str]) -> str:
    if case.status != "open":
        return _("Chiusa")
    if "reporter_info" in waiting:
        return str(TICKET_STATES["reporter_info"])
    if "reporter_confirm" in waiting:
        return str(TICKET_STATES["reporter_confirm"])
    return _("In lavorazione")


@login_required
@never_cache
@require_GET
def my_tickets(request: HttpRequest) -> HttpResponse:
    """"Le mie segnalazioni": the tickets this person reported, with what each waits for."""
    from .selectors import reporter_tickets, ticket_waiting_answers

    tenant = page_tenant(request)
    rows = []
    for case in reporter_tickets(tenant=tenant, user=request.user):
        waiting = ticket_waiting_answers(case=case) if case.status == "open" else []
        rows.append({"case": case, "state": _ticket_state(case, waiting), "to_answer": bool(waiting)})
    return render(request, "support/my_tickets.html", {"nav": "support", "rows": rows})


@login_required
@never_cache
def my_ticket(request: HttpRequest, pk: str) -> HttpResponse:
    """One of the reporter's tickets: what they reported, the support team's question or the
    resolution, and the answers the ticket waits for (send information; confirm or reopen)."""
    from django.contrib import messages
    from django.http import Http404
    from django.shortcuts import redirect

    from common.errors import ProcedoError

    from .selectors import reporter_ticket, ticket_waiting_answers
    from .services import ticket_reporter_answer

    tenant = page_tenant(request)
    case = reporter_ticket(tenant=tenant, user=request.user, pk=pk)
    if case is None:
        raise Http404(_("Segnalazione non trovata."))
    waiting = ticket_waiting_answers(case=case)
    error, errors, note = "", {}, ""
    if request.method == "POST":
        message = request.POST.get("message") or ""
        note = request.POST.get("note") or ""
        if message not in waiting:
            error = _("La segnalazione non attende più questa risposta: la pagina è stata aggiornata.")
        else:
            try:
                ticket_reporter_answer(case=case, user=request.user, message=message, note=note,
                                       ip=request.META.get("REMOTE_ADDR"))
            except ProcedoError as exc:
                error = exc.message
                if isinstance(exc.details, dict) and "note" in exc.details:
                    errors = {"note": exc.message, "message": message}
            else:
                done = {"reporter_info": _("Informazioni inviate al gruppo di assistenza."),
                        "reporter_confirm": _("Hai confermato la risoluzione: la segnalazione è chiusa."),
                        "reporter_reopen": _("Segnalazione riaperta: il gruppo di assistenza la riprende.")}
                messages.success(request, done[message])
                return redirect("support_my_ticket", pk=case.pk)
        waiting = ticket_waiting_answers(case=case)
    data = case.data or {}
    handle = data.get("handle") if isinstance(data.get("handle"), dict) else {}
    level = str(data.get("sla_level") or data.get("level") or "")
    return render(request, "support/my_ticket.html", {
        "nav": "support", "case": case, "data": data, "level": level,
        "state": _ticket_state(case, waiting), "waiting": waiting,
        "info_request": handle.get("info_request") if "reporter_info" in waiting else "",
        "resolution": handle.get("resolution") if "reporter_confirm" in waiting or case.status != "open" else "",
        "error": error, "errors": errors, "note": note,
    }, status=400 if error else 200)
