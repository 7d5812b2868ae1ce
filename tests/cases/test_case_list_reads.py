"""The case search and the case read leave the process bundle (every BPMN and form of the version,
100-200 KB of JSON) in the database: bench/scale measured it as most of a search page's time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from cases import selectors
from cases.models import Case
from cases.services import case_start
from engine.bundles import read_bundle
from engine.registry import process_version_publish
from tests.factories import api_client, make_tenant, make_user

pytestmark = pytest.mark.django_db
BENCH = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"


@pytest.fixture
def env():
    process_version_publish(bundle=read_bundle(BENCH))
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    cases = [case_start(tenant=tenant, user=user, process_id="three_tasks", data={}) for _ in range(3)]
    return tenant, user, cases


def _reads_bundle(queries) -> bool:
    return any('"engine_processversion"."files"' in q["sql"] or '"engine_processversion"."manifest"' in q["sql"]
               for q in queries)


def test_a_case_search_reads_no_bundle_and_still_names_each_version(env):
    tenant, user, cases = env
    with CaptureQueriesContext(connection) as ctx:
        rows = list(selectors.case_list(tenant=tenant, user=user)[:25])
        labels = [(c.process_version.version, c.process_version.definition.name) for c in rows]
    assert len(rows) == 3 and len(ctx.captured_queries) <= 2  # roles + the list: no query per row
    assert labels[0][0] == 1 and labels[0][1]
    assert not _reads_bundle(ctx.captured_queries)


def test_the_case_api_and_pages_answer_without_reading_the_bundle_row(env):
    tenant, user, cases = env
    client = api_client(user, tenant)
    with CaptureQueriesContext(connection) as ctx:
        listed = client.get("/api/v1/cases/?limit=25")
        one = client.get(f"/api/v1/cases/{cases[0].pk}/")
    assert listed.status_code == 200 and len(listed.json()["results"]) == 3
    assert listed.json()["results"][0]["process_version"] == 1
    assert one.status_code == 200 and one.json()["tasks"]
    assert not _reads_bundle(ctx.captured_queries)


def test_a_search_by_fiscal_code_reads_the_subject_index_of_the_tenant_and_needs_no_distinct(env):
    tenant, user, _cases = env
    other = make_tenant()
    other_user = make_user(other, Role.REGISTRAR)
    data = {"declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}]}
    mine = case_start(tenant=tenant, user=user, process_id="three_tasks", data=data)
    case_start(tenant=other, user=other_user, process_id="three_tasks", data=data)  # same person, another municipality
    with CaptureQueriesContext(connection) as ctx:
        found = list(selectors.case_list(tenant=tenant, user=user, fiscal_code=" rssmra80a01h501u "))
    assert [c.pk for c in found] == [mine.pk]
    sql = ctx.captured_queries[-1]["sql"]
    # The subject rows are narrowed by their own tenant column: the (tenant, fiscal_code) index applies.
    assert _subjects_by_tenant(sql, tenant.pk) and "DISTINCT" not in sql
    if connection.vendor == "postgresql":
        qs = selectors.case_list(tenant=tenant, user=user, fiscal_code="RSSMRA80A01H501U")
        with connection.cursor() as cur:
            cur.execute("SET enable_seqscan = off")  # a tiny table: ask what the planner can do with an index
            try:
                plan = qs.explain()
            finally:
                cur.execute("RESET enable_seqscan")
        lines = plan.splitlines()
        scans = [i for i, line in enumerate(lines) if " on cases_casesubject" in line]
        assert scans and all("Index" in lines[i] and "Seq Scan" not in lines[i] for i in scans), plan
        condition = lines[scans[0] + 1]
        assert "Index Cond" in condition and "tenant_id" in condition and "fiscal_code" in condition, plan
    # The inbox filter by subject and a citizen's own cases go the same way.
    client = api_client(user, tenant)
    client.force_login(user)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get("/?tab=available&subject=RSSMRA80A01H501U")
    assert page.status_code == 200
    subject_sql = [q["sql"] for q in ctx.captured_queries if "cases_casesubject" in q["sql"]]
    assert subject_sql and all(_subjects_by_tenant(q, tenant.pk) for q in subject_sql)


def _subjects_by_tenant(sql: str, tenant_id: int) -> bool:
    """The subject rows (a subquery alias U0... or the table itself) filtered by their own tenant."""
    return bool(re.search(rf'(U\d+|"cases_casesubject")\."tenant_id" = {tenant_id}\b', sql))


@pytest.mark.postgres
def test_a_search_by_case_number_reads_the_trigram_index_not_every_case(env):
    """`?number=` is a substring search ("000042" finds 2026/000042): on PostgreSQL it goes through the
    trigram index on UPPER(number) (cases/migrations/0008), not a read of every case of the tenant."""
    if connection.vendor != "postgresql":
        pytest.fail("the EXPLAIN test needs PostgreSQL (DATABASE_URL)")
    tenant, user, cases = env
    wanted = cases[1].number
    assert [c.pk for c in selectors.case_list(tenant=tenant, user=user, number=wanted[-5:])] == [cases[1].pk]
    assert [c.pk for c in selectors.case_list(tenant=tenant, user=user, number=wanted.lower())] == [cases[1].pk]
    # A large municipality's year: 30,000 more cases of this tenant (copies of one, numbered 2025/...), and
    # the planner's statistics about them.
    columns = [f.column for f in Case._meta.concrete_fields if f.column not in ("id", "number", "instance_id")]
    listed = ", ".join(columns)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO cases_case (number, instance_id, {listed}) "
            f"SELECT '2025/' || lpad(g::text, 6, '0'), NULL, {', '.join('c.' + c for c in columns)} "
            f"FROM cases_case c, generate_series(1, 30000) g WHERE c.id = %s", [cases[0].pk])
        cur.execute("ANALYZE cases_case")
    qs = selectors.case_list(tenant=tenant, user=user, number="012345")
    assert [c.number for c in qs] == ["2025/012345"]
    plan = qs.explain()
    assert "case_number_trgm_idx" in plan, plan
    assert "Seq Scan on cases_case" not in plan, plan
