"""The demo has malfunction tickets: one waiting for the support team, one resolved and waiting
for the reporter's confirmation; running it twice adds nothing."""

import pytest
from django.core.management import call_command

from accounts.demo import load_demo_accounts
from cases.models import Case, WorkItem

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_demo_tickets():
    call_command("sync_processes", verbosity=0)
    tenants = load_demo_accounts()
    call_command("load_demo_support", verbosity=0)
    call_command("load_demo_support", verbosity=0)
    for tenant in tenants.values():
        tickets = Case.objects.filter(tenant=tenant, process_id="malfunction_ticket")
        assert tickets.count() == 2
        open_items = sorted(WorkItem.objects.filter(case__in=tickets, status="open").values_list("bpmn_id", flat=True))
        assert open_items == ["handle"]
        assert all(t.data.get("sla_due") for t in tickets)
