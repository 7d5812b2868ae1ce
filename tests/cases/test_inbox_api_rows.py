"""The inbox API's rows (cases.api.work_item_rows, cases.selectors.inbox_api_rows): exactly what
WorkItemSerializer gives, read without the case's data snapshot and subjects or the task's instructions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from cases import selectors
from cases.api import WorkItemSerializer, work_item_rows
from cases.models import WorkItem
from cases.services import case_start, work_item_claim
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
    big = {"declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
           "notes": "x" * 5000}
    cases = [case_start(tenant=tenant, user=user, process_id="three_tasks", data=big) for _ in range(3)]
    items = list(WorkItem.objects.filter(case__in=cases).order_by("id"))
    work_item_claim(work_item_id=items[0].pk, tenant=tenant, user=user)
    WorkItem.objects.filter(pk=items[1].pk).update(due_at=dt.date(2027, 1, 15), priority=1,
                                                   completed_at=timezone.now())
    return tenant, user, items


def test_a_row_is_what_the_serializer_gives(env):
    tenant, user, items = env
    for scope in ("mine", "available", "all"):
        rows = work_item_rows(selectors.inbox_api_rows(tenant=tenant, user=user, scope=scope))
        items = selectors.inbox_for_user(tenant=tenant, user=user, scope=scope)
        assert rows == [dict(r) for r in WorkItemSerializer(items, many=True).data] and rows, scope
    # The page the API sends, in JSON, is what the serializer's would be.
    response = api_client(user, tenant).get("/api/v1/tasks/?scope=available")
    expected = WorkItemSerializer(selectors.inbox_for_user(tenant=tenant, user=user, scope="available"), many=True).data
    assert response.status_code == 200 and response.json()["results"] == json.loads(json.dumps(expected, cls=DjangoJSONEncoder))


def test_the_inbox_api_reads_no_case_data_and_answers_as_before(env):
    tenant, user, items = env
    client = api_client(user, tenant)
    with CaptureQueriesContext(connection) as ctx:
        mine = client.get("/api/v1/tasks/?scope=mine")
        available = client.get("/api/v1/tasks/?scope=available")
    assert mine.status_code == available.status_code == 200
    assert [r["id"] for r in mine.json()["results"]] == [items[0].pk]
    assert mine.json()["results"][0]["assignee"] == user.username and mine.json()["results"][0]["claimed_at"]
    assert {r["id"] for r in available.json()["results"]} == {items[1].pk, items[2].pk}
    listed = [q["sql"] for q in ctx.captured_queries if 'FROM "cases_workitem"' in q["sql"] and "COUNT" not in q["sql"]]
    assert len(listed) == 2
    for sql in listed:
        assert '"cases_case"."data"' not in sql and '"cases_case"."subjects"' not in sql
        assert '"cases_workitem"."instructions"' not in sql


def test_one_work_item_and_a_case_answer_what_their_serializers_give(env):
    """The claim/complete answer (work_item_payload) and a case's fields (case_fields) are built without
    the serializers, for speed; they must stay exactly what the serializers (the API schema) give."""
    from cases.api import CaseSerializer, case_fields, work_item_payload
    from cases.models import Case

    tenant, user, items = env
    for item in WorkItem.objects.filter(pk__in=[i.pk for i in items]).select_related("case", "assignee"):
        assert work_item_payload(item) == dict(WorkItemSerializer(item).data), item.pk
    case = Case.objects.get(pk=items[0].case_id)
    Case.objects.filter(pk=case.pk).update(
        closed_at=timezone.now(), legal_due_date=dt.date(2027, 2, 1), status="closed", outcome="accolta",
        subjects=[{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
        has_open_incident=True,
    )
    for case in Case.objects.filter(tenant=tenant):
        assert case_fields(case) == dict(CaseSerializer(case).data), case.pk
        open_items = case.work_items.filter(status="open").select_related("assignee", "case").order_by("due_at", "id")
        assert work_item_rows(selectors.case_open_task_rows(case_id=case.pk)) == [
            dict(r) for r in WorkItemSerializer(open_items, many=True).data], case.pk
    # A case start answers with its open tasks.
    started = api_client(user, tenant).post("/api/v1/cases/", {"process": "three_tasks", "data": {}}, format="json")
    assert started.status_code == 201
    open_items = WorkItem.objects.filter(case_id=started.json()["id"], status="open").select_related("assignee", "case")
    assert started.json()["tasks"] == json.loads(json.dumps(WorkItemSerializer(open_items, many=True).data,
                                                            cls=DjangoJSONEncoder)) != []
    # What the API answers to a claim and a completion, in JSON.
    client = api_client(user, tenant)
    claimed = client.post(f"/api/v1/tasks/{items[1].pk}/claim/")
    assert claimed.status_code == 200
    item = WorkItem.objects.select_related("case", "assignee").get(pk=items[1].pk)
    assert claimed.json() == json.loads(json.dumps(WorkItemSerializer(item).data, cls=DjangoJSONEncoder))
    assert claimed.json()["assignee"] == user.username
    done = client.post(f"/api/v1/tasks/{items[1].pk}/complete/", {"data": {"ok": True}}, format="json")
    assert done.status_code == 200
    item = WorkItem.objects.select_related("case", "assignee").get(pk=items[1].pk)
    expected = json.loads(json.dumps(WorkItemSerializer(item).data, cls=DjangoJSONEncoder))
    answer = done.json()
    # The answer's completion time is a second clock reading of the service (cases/services.py sets
    # item.completed_at after the projection stored its own), a few ms after the stored one.
    answered_at, stored_at = answer.pop("completed_at"), expected.pop("completed_at")
    assert answer == expected and answer["status"] == "completed"
    assert abs(dt.datetime.fromisoformat(answered_at) - dt.datetime.fromisoformat(stored_at)) < dt.timedelta(seconds=5)
