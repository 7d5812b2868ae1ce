"""The inbox's count and pages (cases.selectors.inbox_count / InboxRows): what an operator sees is what the
single joined query gave (roles, four-eyes rule, candidate restriction, tenant), while the count reads the
work item rows alone and a page looks up the case of its own rows only (bench/scale, issue 16: the large
municipality's `available` inbox spent ~20 ms counting through the join and ~60 ms sorting joined rows
for an operator with two roles)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from cases import selectors
from cases.models import Case, WorkItem, WorkItemStatus
from cases.services import case_start
from engine.bundles import read_bundle
from engine.registry import process_version_publish
from tests.factories import api_client, make_tenant, make_user

pytestmark = pytest.mark.django_db
BENCH = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"
ORDER = ("due_at", "priority", "id")


def _item(case: Case, n: int, role: str, *, due: int | None, priority: int = 2, **fields) -> WorkItem:
    return WorkItem(
        tenant=case.tenant, case=case, task_id=f"mixed-{n}", bpmn_id="mixed", name=f"Compito {n}", role=role,
        due_at=dt.date(2027, 1, 1) + dt.timedelta(days=due) if due is not None else None, priority=priority,
        created_at=timezone.now(), **fields,
    )


@pytest.fixture
def mixed():
    """Two municipalities; in the first, open and closed items of four roles with ties in due date and
    priority (the id decides), some assigned, some barred by the four-eyes rule, some for candidates only."""
    process_version_publish(bundle=read_bundle(BENCH))
    tenant, other = make_tenant(), make_tenant("Comune Altro")
    registrar = make_user(tenant, Role.REGISTRAR, username="anagrafe")
    head = make_user(tenant, Role.REGISTRAR, Role.SUPERVISOR, username="capo")
    police = make_user(tenant, Role.POLICE, username="vigile")
    viewer = make_user(tenant, Role.VIEWER, username="lettore")
    stranger = make_user(other, Role.REGISTRAR, Role.SUPERVISOR, username="altrove")
    case = case_start(tenant=tenant, user=registrar, process_id="three_tasks", data={})
    elsewhere = case_start(tenant=other, user=stranger, process_id="three_tasks", data={})
    roles = (Role.REGISTRAR, Role.SUPERVISOR, Role.POLICE, Role.CIVIL_REGISTRAR)
    items = []
    for n in range(133):
        role = roles[n % 4]
        fields: dict = {}
        if n % 7 == 0:
            fields["excluded_username"] = "anagrafe"  # the registrar did the previous step
        if n % 9 == 0:
            fields["excluded_username"] = "capo"
        if n % 11 == 0:
            fields["restricted_to_candidates"] = True
        if n % 13 == 0:
            fields["assignee"] = registrar if role == Role.REGISTRAR else head
        if n % 17 == 0:
            fields["status"] = WorkItemStatus.COMPLETED
        items.append(_item(case, n, role, due=None if n % 10 == 5 else n % 6, priority=1 + n % 3, **fields))
        items.append(_item(elsewhere, n, role, due=n % 6))
    WorkItem.objects.bulk_create(items)
    restricted = WorkItem.objects.filter(tenant=tenant, restricted_to_candidates=True).order_by("id")
    for item in restricted:
        item.candidate_users.add(registrar if int(item.task_id.split("-")[1]) % 3 == 0 else head)
    return tenant, (registrar, head, police, viewer)


def _reference(tenant, user, scope) -> list[int]:
    """The inbox as one joined query, as it was read before InboxRows (the same conditions, joined with the
    case and the assignee, sorted)."""
    return list(selectors.inbox_for_user(tenant=tenant, user=user, scope=scope).values_list("id", flat=True))


def test_the_count_and_every_page_equal_the_joined_query_for_every_operator_and_scope(mixed):
    tenant, users = mixed
    seen_available = {}
    for user in users:
        for scope in ("mine", "available", "all"):
            expected = _reference(tenant, user, scope)
            rows = selectors.inbox_rows(tenant=tenant, user=user, scope=scope)
            assert rows.count() == len(expected) == selectors.inbox_count(tenant=tenant, user=user, scope=scope)
            assert [i.pk for i in rows] == expected, (user.username, scope)
            for size in (1, 5, 50):
                pages = [rows[o:o + size] for o in range(0, len(expected) + size, size)]
                assert [i.pk for page in pages for i in page] == expected, (user.username, scope, size)
            api = selectors.inbox_api_rows(tenant=tenant, user=user, scope=scope)
            assert [r["id"] for r in api[3:11]] == expected[3:11]
        seen_available[user.username] = set(_reference(tenant, user, "available"))
    # The fixture exercises what the inbox must keep out: other roles, the four-eyes rule, candidates.
    registrar_sees = WorkItem.objects.filter(pk__in=seen_available["anagrafe"])
    assert registrar_sees.exists()
    assert not registrar_sees.exclude(role=Role.REGISTRAR).exists()
    assert not registrar_sees.filter(excluded_username="anagrafe").exists()
    assert not registrar_sees.exclude(assignee=None).exists()
    assert all(not i.restricted_to_candidates or i.candidate_users.filter(username="anagrafe").exists()
               for i in registrar_sees)
    assert WorkItem.objects.filter(tenant=tenant, role=Role.REGISTRAR, excluded_username="anagrafe",
                                   status="open", assignee=None).exists()
    assert WorkItem.objects.filter(tenant=tenant, role=Role.REGISTRAR, restricted_to_candidates=True, status="open",
                                   assignee=None).exclude(candidate_users__username="anagrafe").exists()
    assert {i.role for i in WorkItem.objects.filter(pk__in=seen_available["capo"])} == {Role.REGISTRAR, Role.SUPERVISOR}
    assert seen_available["lettore"] == set()


def test_a_slice_never_reaches_another_municipality(mixed):
    tenant, users = mixed
    for user in users:
        rows = selectors.inbox_rows(tenant=tenant, user=user, scope="all")
        assert {i.tenant_id for i in rows[0:1000]} <= {tenant.pk}


def test_the_api_pages_the_inbox_with_its_exact_count(mixed):
    tenant, (registrar, head, *_rest) = mixed
    expected = _reference(tenant, head, "available")
    client = api_client(head, tenant)
    got, offset = [], 0
    while True:
        body = client.get(f"/api/v1/tasks/?scope=available&limit=4&offset={offset}").json()
        assert body["count"] == len(expected)
        got += [r["id"] for r in body["results"]]
        if not body["next"]:
            break
        offset += 4
    assert got == expected and len(expected) > 8


def test_the_inbox_page_counts_each_tab_without_joining_the_cases(mixed):
    tenant, (registrar, head, *_rest) = mixed
    client = api_client(head, tenant)
    client.force_login(head)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get("/?tab=available")
    assert page.status_code == 200
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"] and '"cases_workitem"' in q["sql"]]
    assert len(counts) == 3  # mine, available, all
    assert all("JOIN" not in sql for sql in counts), counts
    body = page.content.decode()
    for scope in ("mine", "available", "all"):
        assert f'ms-1">{len(_reference(tenant, head, scope))}</span>' in body


def _plan(sql: str, params) -> dict:
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        raw = cur.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # VACUUM, as autovacuum keeps the table: an index-only count needs it
def test_the_available_inbox_reads_its_index_and_looks_up_only_the_pages_cases(mixed):
    """A large municipality's open work: 6,000 items on 6,000 cases (40% assigned, the rest in the queues of
    four roles) over 60,000 completed ones. For an operator with two roles the count is read from
    wi_available_idx without touching a case, and a page of 50 looks up 50 cases, not the 2,400 it sorts."""
    if connection.vendor != "postgresql":
        pytest.fail("the EXPLAIN test needs PostgreSQL (DATABASE_URL)")
    tenant, (registrar, head, *_rest) = mixed
    case = Case.objects.filter(tenant=tenant).first()
    case_columns = [f.column for f in Case._meta.concrete_fields if f.column not in ("id", "number", "instance_id")]
    fixed = ("id", "case_id", "task_id", "role", "status", "assignee_id")
    item_columns = [f.column for f in WorkItem._meta.concrete_fields if f.column not in fixed]
    copied = ", ".join("w." + c for c in item_columns)
    template = WorkItem.objects.filter(tenant=tenant, status="open", assignee=None, excluded_username="",
                                       restricted_to_candidates=False).first()
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO cases_case (number, instance_id, {', '.join(case_columns)}) "
            f"SELECT '2025/' || lpad(g::text, 6, '0'), NULL, {', '.join('c.' + c for c in case_columns)} "
            f"FROM cases_case c, generate_series(1, 6000) g WHERE c.id = %s", [case.pk])
        cur.execute(
            f"INSERT INTO cases_workitem (case_id, task_id, role, status, assignee_id, {', '.join(item_columns)}) "
            f"SELECT c.id, 'bulk', (ARRAY['registrar', 'registrar', 'registrar', 'supervisor', 'police', 'police', "
            f"'civil_registrar', 'registrar', 'registrar', 'registrar'])[1 + c.id %% 10], 'open', "
            f"CASE WHEN c.id %% 10 >= 7 THEN %s END, {copied} "
            f"FROM cases_case c, cases_workitem w WHERE c.number LIKE '2025/%%' AND w.id = %s",
            [registrar.pk, template.pk])
        cur.execute(
            f"INSERT INTO cases_workitem (case_id, task_id, role, status, assignee_id, {', '.join(item_columns)}) "
            f"SELECT w.case_id, 'done-' || g, w.role, 'completed', %s, {copied} "
            f"FROM cases_workitem w, generate_series(1, 10) g WHERE w.task_id = 'bulk'", [registrar.pk])
        cur.execute("VACUUM ANALYZE cases_case")
        cur.execute("VACUUM ANALYZE cases_workitem")
    rows = selectors.inbox_api_rows(tenant=tenant, user=head, scope="available")
    expected = _reference(tenant, head, "available")
    with CaptureQueriesContext(connection) as ctx:
        assert rows.count() == len(expected) > 2000
        assert [r["id"] for r in rows[100:150]] == expected[100:150]
    count_sql, page_sql = (q["sql"] for q in ctx.captured_queries if '"cases_workitem"' in q["sql"])
    count_plan, page_plan = _plan(count_sql, None), _plan(page_sql, None)  # captured with the values inlined
    count_nodes = list(_nodes(count_plan))
    assert any(n.get("Index Name") == "wi_available_idx" for n in count_nodes), count_plan
    assert not any(n.get("Relation Name") == "cases_case" for n in count_nodes), count_plan
    page_nodes = list(_nodes(page_plan))
    assert any(n.get("Index Name") == "wi_available_idx" for n in page_nodes), page_plan
    case_reads = [n for n in page_nodes if n.get("Relation Name") == "cases_case"]
    assert case_reads and all(n["Node Type"] == "Index Scan" for n in case_reads), page_plan
    assert sum(n["Actual Loops"] * n["Actual Rows"] for n in case_reads) == 50, page_plan
