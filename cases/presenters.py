"""Presentation for the operator pages: labels, badges, readable values and the view-model dicts
the templates of cases/views.py render. No request, no writes, no queries of their own: a view
calls services and selectors, then these, then renders."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils.translation import gettext as _

from accounts.models import Tenant
from accounts.roles import Role
from common import clock
from engine.bundles import version_files
from engine.script_helpers import add_working_days_date

from .models import CaseStatus, WorkItem


def role_label(code: str) -> str:
    """A role's Italian name; an unknown code (a role named by a newer model) as it is."""
    return str(Role(code).label) if code in Role.values else code


# --------------------------------------------------------------------------- tasks


def sla(item: WorkItem, tenant: Tenant) -> str:
    """The deadline badge of an open task: overdue, due today, due within two working days, or none."""
    if item.due_at is None:
        return ""
    today = clock.today()
    if item.due_at < today:
        return "overdue"
    if item.due_at == today:
        return "today"
    if item.due_at <= add_working_days_date(today, 2, tenant.work_calendar):
        return "soon"
    return ""


def mark_sla(items: Iterable[WorkItem], tenant: Tenant) -> None:
    """Give each task its deadline badge (`item.sla`) for the inbox and case tables."""
    for item in items:
        item.sla = sla(item, tenant)


def assignee_options(assignable: Iterable[tuple[Any, Iterable[str]]]) -> list[tuple[Any, str]]:
    """(user, "role labels") for the users who can take at least one of the tasks' roles."""
    return [(user, ", ".join(role_label(r) for r in held)) for user, held in assignable]


# --------------------------------------------------------------------------- forms


def for_pages(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Validation messages as people read them on a page: dates are typed GG/MM/AAAA there (the API,
    which shares the validation, takes AAAA-MM-GG)."""
    api_date = _("Data non valida: usa il formato AAAA-MM-GG.")
    page_date = _("Data non valida: usa il formato GG/MM/AAAA.")
    return {k: [page_date if m == api_date else m for m in v] for k, v in errors.items()} if isinstance(errors, dict) \
        else errors


def flatten(fields: Iterable[Any]) -> Iterator[Any]:
    """The input fields of a built form, groups and objects opened up."""
    for f in fields:
        if f.widget in ("group", "object"):
            for row in f.rows:
                yield from flatten(row)
        else:
            yield f


def error_summary(fields: Iterable[Any]) -> list[tuple[str, str, str]]:
    """(label, input id, message) of every field error, for the summary at the top of a form."""
    return [(f.label, f.input_id, e) for f in flatten(fields) for e in f.errors]


# --------------------------------------------------------------------------- cases


def readable(data: dict[str, Any], version: Any, *, result_titles: dict[str, str]) -> list[tuple[str, str]]:
    """Case data as label/text pairs: form titles instead of keys (nested too), technical keys hidden.

    `result_titles` titles a service task's result variable with the task's name (from the BPMN)."""
    hidden = {"case_id", "tenant_istat", "tenant_name", "case_number", "final_outcome"}
    titles: dict[str, str] = {"received_on": _("Data di ricezione")}
    titles.update(result_titles)
    # A user task's data sits under the task's id: title it with the form's own title.
    choices: dict[str, dict[str, str]] = {}  # field -> stored value -> the label the form showed
    municipality_keys: set[str] = set()
    date_keys: set[str] = {"received_on"}
    files = version_files(version)
    for name, schema in version_files_forms(version).items():
        task_id = name.removeprefix("forms/").removesuffix(".schema.json")
        if schema.get("title"):
            titles.setdefault(task_id, schema["title"])
        _collect_titles(schema, titles)
        municipality_keys.update(_keys_with_format(schema, "municipality"))
        date_keys.update(_keys_with_format(schema, "date"))
        try:
            ui = json.loads(files.get(name.replace(".schema.json", ".uischema.json"), "{}"))
        except ValueError:
            ui = {}
        for key, prop in (schema.get("properties") or {}).items():
            names = (ui.get(key) or {}).get("ui:enumNames") if isinstance(ui.get(key), dict) else None
            if isinstance(prop, dict) and isinstance(prop.get("enum"), list) and names:
                choices.setdefault(key, {}).update({str(v): str(n) for v, n in zip(prop["enum"], names, strict=False)})

    def text(value: Any, key: str = "") -> str:
        if isinstance(value, dict) and "document_id" in value and "name" in value:
            return str(value["name"])  # an attached file (listed under Documenti)
        if isinstance(value, dict):
            return "; ".join(f"{titles.get(k, k)}: {text(v, k)}" for k, v in value.items())
        if isinstance(value, list):
            return " — ".join(text(v, key) for v in value)
        if value is True:
            return _("sì")
        if value is False:
            return _("no")
        if value is None:
            return ""
        if key in date_keys and isinstance(value, str):
            try:
                return dt.date.fromisoformat(value[:10]).strftime("%d/%m/%Y")
            except ValueError:
                return value
        if key in municipality_keys and isinstance(value, str):
            from forms.municipalities import label_for

            return f"{label_for(value)} ({value})"
        return choices.get(key, {}).get(str(value), str(value))

    rows = []
    for key, value in data.items():
        if key in hidden or key.endswith(("_completed_by", "_completed_at", "_document")):
            # (documents issued by the case are listed in their own section)
            continue
        rows.append((titles.get(key, key.replace("_", " ").capitalize()), text(value, key)))
    return rows


def _keys_with_format(schema: dict[str, Any], fmt: str) -> set[str]:
    found = set()
    for key, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict):
            if prop.get("format") == fmt:
                found.add(key)
            found |= _keys_with_format(prop, fmt)
            if isinstance(prop.get("items"), dict):
                found |= _keys_with_format(prop["items"], fmt)
    return found


def _collect_titles(schema: dict[str, Any], titles: dict[str, str]) -> None:
    for key, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict):
            titles.setdefault(key, prop.get("title", key))
            _collect_titles(prop, titles)
            if isinstance(prop.get("items"), dict):
                _collect_titles(prop["items"], titles)


def version_files_forms(version) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(text)
        for name, text in version_files(version).items()
        if name.startswith("forms/") and name.endswith(".schema.json")
    }


def receipt_channel_label(code: str) -> str:
    labels = {"counter": _("Sportello"), "pec": _("PEC"), "post": _("Posta"), "email": _("Email"),
              "portal": _("Portale online"), "anpr": _("Portale ANPR")}
    return str(labels.get(code, code))


def _iso_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def receipt_and_protocol(data: dict[str, Any]) -> dict[str, Any]:
    """Receipt date, channel and the protocol registrations the case data holds (a service result with
    `direction` and `protocol_number`: the incoming declaration, outgoing deeds), for the case page."""
    protocols = []
    for key, value in data.items():
        if isinstance(value, dict) and value.get("protocol_number") and value.get("direction") in ("in", "out"):
            protocols.append({"key": key, "number": str(value["protocol_number"]),
                              "date": _iso_date(value.get("protocol_date")),
                              "direction": _("in entrata") if value["direction"] == "in" else _("in uscita")})
    protocols.sort(key=lambda p: (p["direction"] != _("in entrata"), p["date"] or dt.date.min, p["number"]))
    return {"received_on": _iso_date(data.get("received_on")),
            "channel": receipt_channel_label(str(data.get("channel") or "")) if data.get("channel") else "",
            "protocols": protocols}


def notice_rows(notices: Iterable[Any]) -> list[dict[str, Any]]:
    """Each notice sent to a citizen: what, how, its protocol and where its delivery stands."""
    rows = []
    for n in notices:
        if n.status == "delivered":
            state = _("consegnata il %(d)s") % {"d": n.delivered_on.strftime("%d/%m/%Y")} if n.delivered_on \
                else _("consegnata")
        elif n.status == "failed":
            state = _("non consegnata: %(why)s") % {"why": n.status_detail} if n.status_detail else _("non consegnata")
            if getattr(n, "failure_message", ""):
                # The case waits for the office to deliver it another way (registered post, messenger).
                state += " — " + _("da consegnare con altro mezzo: l'ufficio ha il compito «Consegna della "
                                   "comunicazione con altro mezzo»")
        else:
            state = _("inviata il %(d)s, in attesa di consegna") % {"d": n.sent_at.strftime("%d/%m/%Y")}
        rows.append({"title": n.title, "channel": n.get_channel_display(), "status": n.status, "state": state,
                     "recipient": n.fiscal_code,
                     "protocol": (_("prot. n. %(n)s del %(d)s") % {"n": n.protocol_number,
                                                                   "d": n.protocol_date.strftime("%d/%m/%Y")})
                     if n.protocol_number and n.protocol_date else ""})
    return rows


def days_left_for(case: Any) -> int | None:
    """Days to the legal deadline of an open case (negative once past); None without one."""
    if case.legal_due_date and case.status == CaseStatus.OPEN:
        return (case.legal_due_date - clock.today()).days
    return None


def progress(steps: dict[str, Any] | None, names: dict[str, str]) -> dict[str, Any]:
    """Steps done and current (`steps` from selectors.case_progress; None before the case runs),
    with their names from the BPMN, for the diagram and its text alternative."""
    if steps is None:
        return {"done": [], "current": [], "done_names": [], "current_names": []}
    return {**steps,
            "done_names": [names[i] for i in steps["done"] if names.get(i)],
            "current_names": [names[i] for i in steps["current"] if names.get(i)]}


def team_rows(overview: dict[str, Any]) -> dict[str, Any]:
    """The supervisors' overview with the labels its tables show (status and role names)."""
    for row in overview["by_process"]:
        row["status_label"] = CaseStatus(row["status"]).label
    for row in overview["unassigned"]:
        row["role_label"] = role_label(row["role"])
    return overview
