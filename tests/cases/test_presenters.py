"""cases/presenters.py: what the operator pages show for a task's deadline, a case's data, its progress
and its form errors (pure functions: no database, no request)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from django.utils.translation import gettext as _

from cases import presenters
from common import clock

TENANT = SimpleNamespace(patron_day_tuple=None, work_calendar=None)


def _item(due_at):
    return SimpleNamespace(due_at=due_at)


def test_the_deadline_badge_counts_working_days():
    clock.freeze(dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC))  # a Friday
    assert presenters.sla(_item(None), TENANT) == ""
    assert presenters.sla(_item(dt.date(2026, 3, 5)), TENANT) == "overdue"
    assert presenters.sla(_item(dt.date(2026, 3, 6)), TENANT) == "today"
    # two working days after Friday is Tuesday: the weekend does not count
    assert presenters.sla(_item(dt.date(2026, 3, 10)), TENANT) == "soon"
    assert presenters.sla(_item(dt.date(2026, 3, 11)), TENANT) == ""
    items = [_item(dt.date(2026, 3, 5)), _item(None)]
    presenters.mark_sla(items, TENANT)
    assert [i.sla for i in items] == ["overdue", ""]


def test_days_left_only_for_an_open_case_with_a_deadline():
    clock.freeze(dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC))
    assert presenters.days_left_for(SimpleNamespace(legal_due_date=dt.date(2026, 3, 16), status="open")) == 10
    assert presenters.days_left_for(SimpleNamespace(legal_due_date=dt.date(2026, 3, 1), status="open")) == -5
    assert presenters.days_left_for(SimpleNamespace(legal_due_date=dt.date(2026, 3, 16), status="closed")) is None
    assert presenters.days_left_for(SimpleNamespace(legal_due_date=None, status="open")) is None


def test_progress_names_the_steps_and_skips_unnamed_ones():
    assert presenters.progress(None, {"a": "A"}) == {"done": [], "current": [], "done_names": [], "current_names": []}
    shown = presenters.progress({"done": ["start", "check"], "current": ["sign"]},
                                {"check": "Verifica", "sign": "Firma"})
    assert shown["done_names"] == ["Verifica"] and shown["current_names"] == ["Firma"]
    assert shown["done"] == ["start", "check"]


def test_role_labels_are_italian_and_unknown_codes_stay_as_they_are():
    assert presenters.role_label("supervisor") == "Responsabile"
    assert presenters.role_label("harbour_master") == "harbour_master"
    user = object()
    assert presenters.assignee_options([(user, ["registrar", "harbour_master"])]) == [
        (user, "Ufficiale d'anagrafe, harbour_master")]


def test_dates_in_form_errors_are_asked_for_as_people_type_them():
    api_date = _("Data non valida: usa il formato AAAA-MM-GG.")
    shown = presenters.for_pages({"born_on": [api_date], "name": ["Campo obbligatorio."]})
    assert shown == {"born_on": ["Data non valida: usa il formato GG/MM/AAAA."], "name": ["Campo obbligatorio."]}


def test_the_error_summary_reaches_into_groups():
    inner = SimpleNamespace(widget="text", label="Via", input_id="id_street", errors=["Campo obbligatorio."])
    group = SimpleNamespace(widget="group", rows=[[inner]], label="Indirizzo", input_id="", errors=[])
    plain = SimpleNamespace(widget="text", label="Nome", input_id="id_name", errors=[])
    assert presenters.error_summary([plain, group]) == [("Via", "id_street", "Campo obbligatorio.")]


def test_team_rows_carry_status_and_role_names():
    overview = {"by_process": [{"status": "open"}], "unassigned": [{"role": "police"}, {"role": "other"}]}
    rows = presenters.team_rows(overview)
    assert rows["by_process"][0]["status_label"] == "Aperta"
    assert [r["role_label"] for r in rows["unassigned"]] == ["Polizia municipale", "other"]
