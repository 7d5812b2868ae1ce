"""The supplier's support team sees the tenant's malfunction tickets, never its demographic cases,
their tasks or the people's dossiers (art. 28 GDPR: it processes the tickets only)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role
from cases import selectors
from cases.models import WorkItem
from common.errors import NotFound
from tests.factories import CaseFactory, make_tenant, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_support_sees_tickets_only():
    tenant = make_tenant("Comune di Lucca", istat="046017")
    registrar = make_user(tenant, Role.REGISTRAR)
    residence = CaseFactory(tenant=tenant, user=registrar)
    ticket = CaseFactory(tenant=tenant, user=registrar, process_id="malfunction_ticket",
                         data={"level": "3", "summary": "Stampa lenta", "description": "prova"})
    support = make_user(tenant, Role.SUPPORT)
    assert list(selectors.case_list(tenant=tenant, user=support)) == [ticket]
    assert selectors.case_get(tenant=tenant, user=support, case_id=ticket.pk) == ticket
    with pytest.raises(NotFound):
        selectors.case_get(tenant=tenant, user=support, case_id=residence.pk)
    residence_item = WorkItem.objects.filter(case=residence).first()
    with pytest.raises(NotFound):
        selectors.work_item_get(tenant=tenant, user=support, work_item_id=residence_item.pk)
    # the office still sees both
    assert set(selectors.case_list(tenant=tenant, user=registrar)) == {residence, ticket}
    client = Client()
    client.force_login(support)
    assert client.get(f"/pratiche/{residence.pk}/").status_code == 404
    assert client.get(f"/pratiche/{ticket.pk}/").status_code == 200
    fiscal_code = residence.data["declarants"][0]["fiscal_code"]
    assert client.get(f"/fascicoli/{fiscal_code}/").status_code == 404
    # a support member who is also an office operator of the tenant sees what the office sees
    both = make_user(tenant, Role.SUPPORT, Role.VIEWER)
    assert set(selectors.case_list(tenant=tenant, user=both)) == {residence, ticket}
