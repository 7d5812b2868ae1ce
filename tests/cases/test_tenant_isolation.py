"""A user of municipality A never reads or changes municipality B's data: 404, never 403."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from cases.models import WorkItem
from cases.services import case_start
from engine.models import Incident
from tests.engine_models import publish_bundle
from tests.factories import api_client, make_tenant, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    a = make_tenant("Comune A")
    b = make_tenant("Comune B")
    publish_bundle("three_tasks")
    publish_bundle("broken_script")
    b_registrar = make_user(b, Role.REGISTRAR)
    case_b = case_start(tenant=b, user=b_registrar, process_id="three_tasks", data={})
    broken_b = case_start(tenant=b, user=b_registrar, process_id="broken_script", data={})  # script error
    item_b = WorkItem.objects.get(case=case_b)
    incident_b = Incident.objects.get(instance=broken_b.instance)
    # A's supervisor holds every role that could act, so only tenancy can refuse
    a_user = make_user(a, Role.SUPERVISOR, Role.REGISTRAR, Role.PROCESS_ADMIN)
    a_case = case_start(tenant=a, user=a_user, process_id="three_tasks", data={})
    return {"a": a, "b": b, "a_user": a_user, "case_b": case_b, "item_b": item_b,
            "incident_b": incident_b, "a_case": a_case, "b_registrar": b_registrar}


def test_lists_never_show_another_tenants_objects(world):
    client = api_client(world["a_user"], world["a"])
    cases = client.get("/api/v1/cases/").json()["results"]
    assert [c["number"] for c in cases] == [world["a_case"].number]
    for scope in ("mine", "available", "all"):
        tasks = client.get(f"/api/v1/tasks/?scope={scope}").json()["results"]
        assert all(t["case_id"] == world["a_case"].pk for t in tasks)
    incidents = client.get("/api/v1/incidents/").json()["results"]
    assert incidents == []
    audit = client.get("/api/v1/audit/").json()["results"]
    assert audit
    b_objects = {("case", str(world["case_b"].pk)), ("work_item", str(world["item_b"].pk))}
    assert not [e for e in audit if (e["object_type"], e["object_id"]) in b_objects]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/cases/{case}/", None),
        ("post", "/api/v1/cases/{case}/cancel/", {"reason": "x"}),
        ("get", "/api/v1/cases/{case}/comments/", None),
        ("post", "/api/v1/cases/{case}/comments/", {"text": "x"}),
        ("post", "/api/v1/cases/{case}/messages/", {"message": "m"}),
        ("get", "/api/v1/tasks/{item}/", None),
        ("post", "/api/v1/tasks/{item}/claim/", None),
        ("post", "/api/v1/tasks/{item}/unclaim/", None),
        ("post", "/api/v1/tasks/{item}/assign/", {"user": "{b_user}"}),
        ("post", "/api/v1/tasks/{item}/complete/", {"data": {"ok": True}}),
        ("post", "/api/v1/incidents/{incident}/retry/", None),
    ],
)
def test_every_object_endpoint_answers_404_for_another_tenant(world, method, path, body):
    client = api_client(world["a_user"], world["a"])
    url = path.format(case=world["case_b"].pk, item=world["item_b"].pk, incident=world["incident_b"].pk)
    if body and body.get("user") == "{b_user}":
        body = {"user": world["b_registrar"].username}
    response = getattr(client, method)(url, body, format="json")
    assert response.status_code == 404, response.content
    item = WorkItem.objects.get(pk=world["item_b"].pk)
    assert item.status == "open" and item.assignee_id is None


def test_asking_for_a_tenant_you_do_not_belong_to_gives_404(world):
    client = api_client(world["a_user"], world["b"])  # header names tenant B
    assert client.get("/api/v1/cases/").status_code == 404
    assert client.get(f"/api/v1/cases/{world['case_b'].pk}/").status_code == 404
