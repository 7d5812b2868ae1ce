"""Two people complete the same task at the same moment: exactly one wins."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.roles import Role
from cases.models import Case, WorkItem
from cases.services import case_start
from engine.models import WorkflowInstance
from tests.engine_models import publish_bundle
from tests.factories import api_client, make_tenant, make_user


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_completions_one_200_one_409_case_advanced_once():
    tenant = make_tenant()
    publish_bundle("three_tasks")
    alice = make_user(tenant, Role.REGISTRAR)
    bruno = make_user(tenant, Role.REGISTRAR)
    case = case_start(tenant=tenant, user=alice, process_id="three_tasks", data={})
    item = WorkItem.objects.get(case=case, bpmn_id="first")
    revision_before = WorkflowInstance.objects.get(pk=case.instance_id).revision

    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def complete(user, value):
        try:
            client = api_client(user, tenant)
            barrier.wait(timeout=10)
            response = client.post(f"/api/v1/tasks/{item.pk}/complete/", {"data": {"ok": True, "note": f"by {value}"}}, format="json")
            statuses.append(response.status_code)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=complete, args=(u, v)) for u, v in ((alice, 1), (bruno, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(statuses) == [200, 409]

    instance = WorkflowInstance.objects.get(pk=case.instance_id)
    assert instance.revision == revision_before + 1
    assert WorkItem.objects.filter(case=case, bpmn_id="second", status="open").count() == 1
    assert WorkItem.objects.get(pk=item.pk).status == "completed"
    case = Case.objects.get(pk=case.pk)
    assert case.data["first"]["note"] in ("by 1", "by 2")
