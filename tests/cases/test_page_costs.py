"""What the busiest pages cost (issue 17, load drill): a ceiling on their SQL statements, the cached workflow
summary never stale, the read audit cheaper but still there and still chained."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from audit.models import AuditEvent
from audit.services import verify_chain
from cases import selectors
from cases.services import work_item_claim, work_item_complete
from tests.factories import declaration_payload, make_user, work_item

pytestmark = [pytest.mark.postgres]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def office(make_office):
    office = make_office(cases=[declaration_payload()], citizen=Role.CITIZEN)
    office["item"] = work_item(office["case"], "registration")
    return office


@pytest.mark.django_db
def test_case_page_statements_stay_under_their_ceiling(office):
    """19 statements before issue 17's pass (the tenant read twice more, the case twice, the workflow state
    loaded and deserialised, open and past tasks apart, the tenant switcher's own query)."""
    client = _client(office["viewer"])
    url = f"/pratiche/{office['case'].pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url)
    assert page.status_code == 200 and office["case"].number in page.content.decode()
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) <= 14, "\n".join(s[:120] for s in statements)
    # The summary was cached: the state is fingerprinted in the database (md5), not loaded.
    assert not any('"engine_workflowinstance"."state"' in s and "md5(" not in s for s in statements)
    assert sum('FROM "accounts_tenant"' in s for s in statements) == 0  # the request's memberships carry it


@pytest.mark.django_db
def test_inbox_and_case_search_statements(office):
    client = _client(office["registrar"])
    client.get("/?tab=available")
    with CaptureQueriesContext(connection) as inbox:
        page = client.get("/?tab=available")
    assert office["case"].number in page.content.decode()
    counts = [q["sql"] for q in inbox.captured_queries if "COUNT(*)" in q["sql"]]
    assert len(counts) == 2  # one per tab: the shown tab's count is the paginator's
    with CaptureQueriesContext(connection) as search:
        found = client.get("/pratiche/?fiscal_code=RSSMRA80A01H501U")
    assert office["case"].number in found.content.decode()
    listed = [q["sql"] for q in search.captured_queries if 'FROM "cases_case"' in q["sql"] and "LIMIT" in q["sql"]]
    assert listed and all('"cases_case"."data"' not in s for s in listed)  # a list does not read case data


@pytest.mark.django_db
def test_the_case_page_progress_follows_the_case_and_is_never_stale(office):
    case, registrar = office["case"], office["registrar"]
    before = selectors.case_progress(case=case)
    assert "registration" in before["current"]
    assert selectors.case_progress(case=case) == before  # cached: same answer
    work_item_claim(tenant=office["tenant"], user=registrar, work_item_id=office["item"].pk)
    work_item_complete(tenant=office["tenant"], user=registrar, work_item_id=office["item"].pk,
                       data={"origin": "same_municipality", "documents_checked": True})
    after = selectors.case_progress(case=case)
    assert "registration" in after["done"] and "registration" not in after["current"]
    page = _client(office["viewer"]).get(f"/pratiche/{case.pk}/").content.decode()
    assert "Registrazione della dichiarazione" in page


@pytest.mark.django_db
def test_the_summary_of_one_tenants_instance_is_not_read_for_another(office, other_office):
    """The cache is keyed by the instance's own id and checked against the tenant first: a case id of
    another municipality answers nothing, cached or not."""
    from engine.selectors import instance_progress_by_id

    case = office["case"]
    assert instance_progress_by_id(instance_id=case.instance_id, tenant=office["tenant"])["current"]
    assert instance_progress_by_id(instance_id=case.instance_id, tenant=other_office["tenant"]) == {
        "done": [], "current": []}


@pytest.mark.django_db(transaction=True)
def test_a_page_view_is_audited_in_the_chain_without_waiting_for_the_flush(make_office):
    """Outside a transaction (a page view) the read commits with synchronous_commit off for that transaction
    only: the event is there, chained, verifiable; the connection's setting is back to on afterwards."""
    office = make_office(cases=[declaration_payload()])
    case, viewer = office["case"], make_user(office["tenant"], Role.VIEWER)
    response = _client(viewer).get(f"/pratiche/{case.pk}/")
    assert response.status_code == 200
    reads = AuditEvent.objects.filter(action="read", object_type="case", object_id=str(case.pk),
                                      actor_username=viewer.username)
    assert reads.count() == 1
    assert verify_chain(tenant=office["tenant"]).ok
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
