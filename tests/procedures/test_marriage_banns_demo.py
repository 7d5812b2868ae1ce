"""The demo's marriage banns: `load_demo_marriage_banns` drives a real request through the services
(ANPR, pagoPA, protocol, signing, notice board) until it is published on the demo notice board."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from cases.management.commands.load_demo_marriage_banns import load_marriage_banns_demo
from cases.models import Case
from common import clock
from tests.procedures.test_scenarios import deed_signer, simulator_urls  # noqa: F401 - fixtures


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_demo_banns_are_on_the_notice_board_and_a_second_run_adds_nothing(simulator_urls, deed_signer, settings):  # noqa: F811
    from accounts.demo import load_demo_accounts
    from noticeboard.models import Publication

    settings.PROCEDO_DOCUMENTS_SIGNERS = deed_signer
    clock.freeze(dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC))
    call_command("sync_processes", verbosity=0)
    tenant = load_demo_accounts()["capannori"]

    case = load_marriage_banns_demo(tenant)

    case.refresh_from_db()
    assert case.status == "open" and case.outcome == ""
    assert case.data["stamp_duty"]["amount_cents"] == 1600 and case.data["deed_protocol"]["protocol_number"]
    publication = Publication.objects.get(tenant=tenant, case=case)
    assert publication.category == "pubblicazioni_matrimonio"
    assert (publication.start_date, publication.end_date) == (dt.date(2026, 3, 2), dt.date(2026, 3, 9))
    assert "Giovanni Prova" in publication.title and "PRVGNN90R10H501Q" not in publication.title + publication.body
    assert load_marriage_banns_demo(tenant) is None
    assert Case.objects.filter(tenant=tenant, process_id="marriage_banns").count() == 1
