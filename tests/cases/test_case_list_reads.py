"""The case search and the case read leave the process bundle (every BPMN and form of the version,
100-200 KB of JSON) in the database: bench/scale measured it as most of a search page's time."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from cases import selectors
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
