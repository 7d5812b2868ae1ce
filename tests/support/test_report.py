"""The SLA report: per month and level, met/missed, durations and penalties from the ticket's terms;
the page (chart and table) for the responsabile and the support team only; CSV/ODS/PDF exports."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from accounts.roles import Role
from cases.models import Case, CaseStatus
from support.report import penalty_of, sla_report
from support.terms import terms_of
from tests.factories import CaseFactory, make_tenant, make_user
from tests.pdf_tools import pdf_text

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _closed_ticket(tenant, user, *, level, consumed, closed_at, formula="=1+1"):
    case = CaseFactory(tenant=tenant, user=user, process_id="malfunction_ticket",
                       data={"level": level, "summary": formula, "description": "prova"})
    terms = terms_of(tenant)
    target = terms["levels"][level]["minutes"]
    data = {**case.data, "sla_level": level, "sla_terms": terms, "sla_target": target, "sla_consumed": consumed,
            "sla_met": consumed <= target, "sla_breach_minutes": max(0, consumed - target)}
    Case.objects.filter(pk=case.pk).update(data=data, status=CaseStatus.CLOSED, closed_at=closed_at)
    return case


@pytest.fixture
def month():
    tenant = make_tenant("Comune di Lucca", istat="046017")
    registrar = make_user(tenant, Role.REGISTRAR)
    march = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    _closed_ticket(tenant, registrar, level="4", consumed=60, closed_at=march)
    # Level 4 missed by 61 minutes: 200 fixed + 2 started hours x 50 = 300.
    _closed_ticket(tenant, registrar, level="4", consumed=181, closed_at=march)
    _closed_ticket(tenant, registrar, level="2", consumed=1300, closed_at=march)  # 100 min late: 50 + 2 x 5
    # Closed in April (Rome time: 1 April 00:30): not in March.
    _closed_ticket(tenant, registrar, level="3", consumed=600, closed_at=dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC))
    return tenant


def test_report_counts_durations_and_penalties(month):
    report = sla_report(tenant=month, year=2026, month=3)
    by_level = {row.level: row for row in report["levels"]}
    assert [row.level for row in report["levels"]] == ["4", "3", "2", "1"]
    assert (by_level["4"].tickets, by_level["4"].met, by_level["4"].missed) == (2, 1, 1)
    assert by_level["4"].breach_minutes == 61 and by_level["4"].max_minutes == 181
    assert by_level["4"].average_minutes == 120
    assert by_level["4"].penalty == Decimal("300.00")
    assert by_level["2"].penalty == Decimal("60.00")
    assert by_level["3"].tickets == 0
    assert (report["total"].tickets, report["total"].missed, report["total"].penalty) == (3, 2, Decimal("360.00"))
    april = sla_report(tenant=month, year=2026, month=4)
    # Level 3 missed by 120 minutes: 100 fixed + 2 started hours x 20 = 140.
    assert april["total"].tickets == 1 and april["total"].penalty == Decimal("140.00")


def test_penalty_uses_the_terms_the_ticket_was_opened_with():
    terms = {"levels": {"3": {"penalty_fixed": "10.00", "penalty_per_hour": "1.50"}}}
    assert penalty_of({"sla_level": "3", "sla_met": False, "sla_breach_minutes": 121, "sla_terms": terms}) == \
        Decimal("14.50")
    assert penalty_of({"sla_level": "3", "sla_met": True, "sla_breach_minutes": 0, "sla_terms": terms}) == 0
    # Tampered data (negative or absurd figures) never produces a negative penalty.
    bad = {"levels": {"3": {"penalty_fixed": "-1e9", "penalty_per_hour": "NaN"}}}
    assert penalty_of({"sla_level": "3", "sla_met": False, "sla_breach_minutes": 60, "sla_terms": bad}) == 0


def test_report_page_and_exports(month, tmp_path):
    supervisor = make_user(month, Role.SUPERVISOR)
    support = make_user(month, Role.SUPPORT)
    registrar = make_user(month, Role.REGISTRAR)
    client = Client()
    client.force_login(registrar)
    assert client.get("/assistenza/sla/?month=2026-03").status_code == 403
    assert client.get("/assistenza/sla/export.csv?month=2026-03").status_code == 403
    for user in (supervisor, support):
        client.force_login(user)
        page = client.get("/assistenza/sla/?month=2026-03")
        assert page.status_code == 200
        html = page.content.decode()
        assert "<svg" in html and "livello 4: 1 nei tempi, 1 oltre i tempi" in html
        assert "360,00" in html  # Italian number format
    csv = client.get("/assistenza/sla/export.csv?month=2026-03")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Livello,") and any(line.startswith("4,") and line.endswith(",300.00") for line in lines)
    ods = client.get("/assistenza/sla/export.ods?month=2026-03")
    assert ods.status_code == 200 and ods.content[:2] == b"PK"
    pdf = client.get("/assistenza/sla/export.pdf?month=2026-03")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    text = pdf_text(pdf.content, tmp_path)
    assert "Comune di Lucca" in text and "report di 03/2026" in text and "Pagina 1 di 1" in text
    assert "360.00" in text and "300.00" in text and "oltre i tempi" in text
    assert "Bloccante: l'applicazione non è utilizzabile" in text  # accents through WinAnsi
    assert client.get("/assistenza/sla/export.exe?month=2026-03").status_code == 404
    # A malformed month falls back to the current one instead of failing.
    assert client.get("/assistenza/sla/?month=2026-13").status_code == 200


def test_a_breached_ticket_run_through_the_process_reaches_the_report_with_its_penalty():
    """The scenario level4_breach (tests.yaml) run through the real services: resolved 60 minutes
    late, so 200 fixed + 1 started hour x 50 in the March report."""
    from django.core.management import call_command

    from tests.procedures.scenarios import PROCESSES, Runner, load_scenarios

    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007")
    scenario = next(s for s in load_scenarios(PROCESSES / "malfunction_ticket") if s.name == "level4_breach")
    Runner(scenario, tenant=tenant, simulator_urls={}).run()
    report = sla_report(tenant=tenant, year=2026, month=3)
    level4 = report["levels"][0]
    assert (level4.level, level4.tickets, level4.missed, level4.breach_minutes) == ("4", 1, 1, 60)
    assert level4.max_minutes == 180
    assert level4.penalty == Decimal("250.00") == report["total"].penalty
