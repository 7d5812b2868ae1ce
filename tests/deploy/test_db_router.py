"""Read-replica routing. The `replica` alias here is a test-only mirror: a second connection to the
test database itself, so that which connection ran a query shows where it was routed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from cases.models import Case
from config import db_router
from engine.bundles import read_bundle
from engine.registry import process_version_publish
from tests.factories import api_client, make_tenant, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, databases=["default", "replica"])]
THREE_TASKS = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup):
    # Module scope: the alias must exist before the test case that lists it in `databases` is set up.
    connections.databases[db_router.REPLICA] = {**connections.databases["default"]}
    yield
    connections[db_router.REPLICA].close()
    del connections[db_router.REPLICA]
    del connections.databases[db_router.REPLICA]


@pytest.fixture
def replica():
    with CaptureQueriesContext(connections["default"]) as primary, \
            CaptureQueriesContext(connections[db_router.REPLICA]) as mirror:
        yield {"primary": primary, "replica": mirror}


def _case_reads(queries) -> int:
    return sum('FROM "cases_case"' in q["sql"] for q in queries.captured_queries)


def test_reads_stay_on_the_primary_unless_asked(replica):
    with db_router.request_scope():
        Case.objects.count()
    assert _case_reads(replica["primary"]) == 1 and _case_reads(replica["replica"]) == 0


def test_asked_for_reads_go_to_the_replica(replica):
    with db_router.request_scope(), db_router.replica_reads():
        Case.objects.count()
    assert _case_reads(replica["replica"]) == 1 and _case_reads(replica["primary"]) == 0


def test_reads_inside_a_transaction_or_after_a_write_stay_on_the_primary(replica):
    tenant = make_tenant()
    with db_router.request_scope(), db_router.replica_reads():
        with transaction.atomic():
            Case.objects.count()  # must see this transaction's own rows and locks
        assert _case_reads(replica["replica"]) == 0
        tenant.name = "Altro nome"
        tenant.save()
        Case.objects.count()  # read-your-writes: the replica may not have the change yet
    assert _case_reads(replica["replica"]) == 0 and _case_reads(replica["primary"]) == 2


def test_only_the_listed_views_read_the_replica_and_a_writer_is_pinned_to_the_primary(replica, settings):
    process_version_publish(bundle=read_bundle(THREE_TASKS))
    tenant = make_tenant()
    client = api_client(make_user(tenant, Role.REGISTRAR), tenant)
    assert "case-export" in settings.PROCEDO_REPLICA_READ_VIEWS

    assert client.post("/api/v1/cases/", {"process": "three_tasks", "data": {}}, format="json").status_code == 201
    assert _case_reads(replica["replica"]) == 0  # a write request reads its own rows on the primary
    assert client.cookies[db_router.PIN_COOKIE]["max-age"] == settings.PROCEDO_REPLICA_PIN_SECONDS

    response = client.get("/api/v1/cases/export/?format=csv")  # right after the write: still pinned
    assert response.status_code == 200, response.content
    assert _case_reads(replica["replica"]) == 0

    del client.cookies[db_router.PIN_COOKIE]  # the pin expired
    before = _case_reads(replica["primary"])
    response = client.get("/api/v1/cases/export/?format=csv")
    assert response.status_code == 200 and "/000001" in response.content.decode()
    assert _case_reads(replica["replica"]) >= 1 and _case_reads(replica["primary"]) == before
    assert db_router.PIN_COOKIE not in response.cookies  # its own audit event does not pin the reader

    client.get(f"/api/v1/cases/{Case.objects.get().pk}/")  # not a listed view
    assert _case_reads(replica["primary"]) > before
