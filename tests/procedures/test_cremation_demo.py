"""The cremation authorisation's demo cases: load_demo_cremation opens them in the states it promises."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from tests.procedures.test_scenarios import deed_signer, simulator_urls  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_load_demo_cremation_opens_three_cases_per_tenant_and_runs_twice(simulator_urls, deed_signer, settings):  # noqa: F811
    from accounts.demo import load_demo_accounts
    from cases.models import Case, WorkItem
    from common import clock
    from documents.models import Document

    clock.freeze(dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC))
    settings.PROCEDO_DOCUMENTS_SIGNERS = deed_signer
    call_command("sync_processes", verbosity=0)
    load_demo_accounts()
    call_command("load_demo_cremation")
    call_command("load_demo_cremation")  # a second run adds nothing
    for slug in ("capannori", "lucca"):
        cases = list(Case.objects.filter(tenant__slug=slug, process_id="cremation_authorisation").order_by("id"))
        assert len(cases) == 3
        open_tasks = [sorted(WorkItem.objects.filter(case=c, status="open").values_list("bpmn_id", flat=True))
                      for c in cases]
        assert open_tasks == [["check_request"], [], []]
        assert [c.status for c in cases] == ["open", "open", "closed"]
        assert cases[2].outcome == "authorised"
        assert Document.objects.filter(case=cases[2], kind="autorizzazione_cremazione").count() == 1
        # and the deed for the destination of its ashes (the cemetery: no option asked)
        assert Document.objects.filter(case=cases[2], kind="autorizzazione_sepoltura_ceneri").count() == 1
        assert cases[2].data["earliest_cremation_label"] == "02/03/2026 ore 10:30"
