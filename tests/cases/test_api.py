"""The REST contract: status codes and shapes that other programs rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.roles import Role
from audit.models import AuditEvent
from engine.bundles import read_bundle
from engine.registry import process_version_publish
from tests.factories import api_client, make_tenant, make_user

pytestmark = pytest.mark.django_db
BENCH = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"


@pytest.fixture
def env():
    process_version_publish(bundle=read_bundle(BENCH))
    tenant = make_tenant()
    return {
        "tenant": tenant,
        "registrar": make_user(tenant, Role.REGISTRAR),
        "registrar2": make_user(tenant, Role.REGISTRAR),
        "supervisor": make_user(tenant, Role.SUPERVISOR),
        "viewer": make_user(tenant, Role.VIEWER),
        "police": make_user(tenant, Role.POLICE),
    }


def _start(env, who="registrar"):
    response = api_client(env[who], env["tenant"]).post(
        "/api/v1/cases/", {"process": "three_tasks", "data": {}}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_start_returns_number_status_and_open_tasks(env):
    body = _start(env)
    assert body["number"].endswith("/000001") and body["status"] == "open"
    assert [t["bpmn_id"] for t in body["tasks"]] == ["first"]
    assert body["tasks"][0]["role"] == "registrar" and body["tasks"][0]["due_at"]
    assert _start(env)["number"].endswith("/000002")


def test_unknown_process_and_bad_body_are_400_not_500(env):
    client = api_client(env["registrar"], env["tenant"])
    r = client.post("/api/v1/cases/", {"process": "nope", "data": {}}, format="json")
    assert r.status_code == 400 and r.json()["error"]["fields"]["process"]
    r = client.post("/api/v1/cases/", {"data": {}}, format="json")
    assert r.status_code == 400 and "process" in r.json()["error"]["fields"]
    r = client.post("/api/v1/cases/", "not json", content_type="application/json")
    assert r.status_code == 400


def test_viewer_cannot_start_or_act_403(env):
    body = _start(env)
    viewer = api_client(env["viewer"], env["tenant"])
    assert viewer.post("/api/v1/cases/", {"process": "three_tasks", "data": {}}, format="json").status_code == 403
    task = body["tasks"][0]["id"]
    assert viewer.post(f"/api/v1/tasks/{task}/claim/").status_code == 403
    assert viewer.post(f"/api/v1/tasks/{task}/complete/", {"data": {"ok": True}}, format="json").status_code == 403
    assert viewer.get(f"/api/v1/cases/{body['id']}/").status_code == 200


def test_a_role_that_is_not_the_tasks_lane_gets_403(env):
    task = _start(env)["tasks"][0]["id"]
    r = api_client(env["police"], env["tenant"]).post(f"/api/v1/tasks/{task}/complete/", {"data": {"ok": True}}, format="json")
    assert r.status_code == 403


def test_invalid_task_data_gives_per_field_messages(env):
    task = _start(env)["tasks"][0]["id"]
    r = api_client(env["registrar"], env["tenant"]).post(
        f"/api/v1/tasks/{task}/complete/", {"data": {"ok": "yes", "surprise": 1}}, format="json"
    )
    assert r.status_code == 400
    fields = r.json()["error"]["fields"]["data"]
    assert fields["ok"] == ["Tipo di dato non valido."] and fields["surprise"] == ["Campo non previsto."]


def test_task_detail_carries_its_json_schema(env):
    task = _start(env)["tasks"][0]["id"]
    body = api_client(env["registrar"], env["tenant"]).get(f"/api/v1/tasks/{task}/").json()
    assert body["form"]["required"] == ["ok"]


def test_claim_by_someone_else_and_second_completion_are_409(env):
    body = _start(env)
    task = body["tasks"][0]["id"]
    a = api_client(env["registrar"], env["tenant"])
    b = api_client(env["registrar2"], env["tenant"])
    assert a.post(f"/api/v1/tasks/{task}/claim/").status_code == 200
    r = b.post(f"/api/v1/tasks/{task}/claim/")
    assert r.status_code == 409 and r.json()["error"]["code"] == "claimed_by_other"
    assert b.post(f"/api/v1/tasks/{task}/complete/", {"data": {"ok": True}}, format="json").status_code == 409
    assert a.get("/api/v1/tasks/?scope=mine").json()["count"] == 1
    assert b.get("/api/v1/tasks/?scope=available").json()["count"] == 0
    assert a.post(f"/api/v1/tasks/{task}/complete/", {"data": {"ok": True}}, format="json").status_code == 200
    r = a.post(f"/api/v1/tasks/{task}/complete/", {"data": {"ok": True}}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_completed"
    case = a.get(f"/api/v1/cases/{body['id']}/").json()
    assert [t["bpmn_id"] for t in case["tasks"]] == ["second"]


def test_supervisor_assigns_and_others_may_not(env):
    task = _start(env)["tasks"][0]["id"]
    r = api_client(env["registrar"], env["tenant"]).post(
        f"/api/v1/tasks/{task}/assign/", {"user": env["registrar2"].username}, format="json"
    )
    assert r.status_code == 403
    sup = api_client(env["supervisor"], env["tenant"])
    r = sup.post(f"/api/v1/tasks/{task}/assign/", {"user": env["police"].username}, format="json")
    assert r.status_code == 400  # police does not hold the task's role
    r = sup.post(f"/api/v1/tasks/{task}/assign/", {"user": env["registrar2"].username}, format="json")
    assert r.status_code == 200 and r.json()["assignee"] == env["registrar2"].username
    mine = api_client(env["registrar2"], env["tenant"]).get("/api/v1/tasks/?scope=mine").json()
    assert [t["id"] for t in mine["results"]] == [task]


def test_unclaim_returns_the_task_to_the_pool(env):
    task = _start(env)["tasks"][0]["id"]
    a = api_client(env["registrar"], env["tenant"])
    a.post(f"/api/v1/tasks/{task}/claim/")
    assert api_client(env["registrar2"], env["tenant"]).post(f"/api/v1/tasks/{task}/unclaim/").status_code == 403
    assert a.post(f"/api/v1/tasks/{task}/unclaim/").json()["assignee"] is None


def test_case_detail_has_data_history_and_the_read_is_audited(env):
    body = _start(env)
    client = api_client(env["registrar"], env["tenant"])
    task = body["tasks"][0]["id"]
    client.post(f"/api/v1/tasks/{task}/complete/", {"data": {"ok": True, "note": "visto"}}, format="json")
    detail = client.get(f"/api/v1/cases/{body['id']}/").json()
    assert detail["data"]["first"] == {"ok": True, "note": "visto"}
    actions = [h["action"] for h in detail["history"]]
    assert actions[0] == "create" and "complete" in actions
    assert AuditEvent.objects.filter(action="read", object_type="case", object_id=str(body["id"])).count() == 1


def test_case_search_filters(env):
    first = _start(env)
    _start(env)
    client = api_client(env["registrar"], env["tenant"])
    assert client.get("/api/v1/cases/", {"number": first["number"]}).json()["count"] == 1
    assert client.get("/api/v1/cases/", {"status": "closed"}).json()["count"] == 0
    assert client.get("/api/v1/cases/", {"process": "three_tasks"}).json()["count"] == 2
    r = client.get("/api/v1/cases/", {"due_before": "not-a-date"})
    assert r.status_code == 400 and "due_before" in r.json()["error"]["fields"]


def test_non_numeric_ids_are_404(env):
    client = api_client(env["registrar"], env["tenant"])
    assert client.get("/api/v1/cases/abc/").status_code == 404
    assert client.post("/api/v1/tasks/abc/claim/").status_code == 404


def test_token_authentication_with_the_management_command(env, capsys):
    call_command("create_api_token", env["registrar"].username)
    token = capsys.readouterr().out.strip()
    client = APIClient()
    assert client.get("/api/v1/cases/").status_code in (401, 403)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/cases/").status_code == 200


def test_openapi_schema_and_docs_are_served(env):
    client = api_client(env["registrar"])
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_searches_and_task_reads_are_audited(env):
    body = _start(env)
    client = api_client(env["registrar"], env["tenant"])
    client.get("/api/v1/cases/", {"fiscal_code": "RSSMRA80A01H501U"})
    client.get(f"/api/v1/tasks/{body['tasks'][0]['id']}/")
    reads = AuditEvent.objects.filter(action="read", actor=env["registrar"])
    assert reads.filter(object_type="case_list", object_repr__contains="fiscal_code=RSSMRA80A01H501U").count() == 1
    assert reads.filter(object_type="work_item", object_id=str(body["tasks"][0]["id"])).count() == 1


@pytest.mark.parametrize("action", ["cancel", "comments", "messages"])
@pytest.mark.parametrize("body", [[1, 2], "testo", 3])
def test_non_object_bodies_on_case_actions_are_400(env, action, body):
    case = _start(env)
    client = api_client(env["supervisor"], env["tenant"])
    r = client.post(f"/api/v1/cases/{case['id']}/{action}/", body, format="json")
    assert r.status_code == 400, r.content


@pytest.mark.parametrize("action", ["assign", "complete"])
def test_non_object_bodies_on_task_actions_are_400(env, action):
    task = _start(env)["tasks"][0]["id"]
    r = api_client(env["supervisor"], env["tenant"]).post(f"/api/v1/tasks/{task}/{action}/", [1], format="json")
    assert r.status_code == 400, r.content


def test_nul_characters_are_refused_with_400(env):
    client = api_client(env["supervisor"], env["tenant"])
    case = _start(env)
    assert client.get("/api/v1/audit/?actor=a%00b").status_code == 400
    r = client.post(f"/api/v1/cases/{case['id']}/comments/", {"text": "a\u0000b"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_characters"
    assert client.post(f"/api/v1/cases/{case['id']}/comments/", {"text": "sconto 100%00"}, format="json").status_code == 201


def test_a_citizen_files_only_for_themselves(env):
    citizen = make_user(env["tenant"], Role.CITIZEN, fiscal_code="RSSMRA80A01H501U")
    call_command("sync_processes", verbosity=0)
    declaration = {
        "declarants": [{"fiscal_code": "PRVGNN90R10H501Q", "given_name": "Giovanni", "family_name": "Prova"}],
        "new_address": {"street": "Via Roma", "house_number": "1", "municipality_istat": "046007"},
        "declaration_date": "2026-03-01",
    }
    client = api_client(citizen, env["tenant"])
    r = client.post("/api/v1/cases/", {"process": "residence_change", "data": declaration}, format="json")
    assert r.status_code == 403
    declaration["declarants"][0] = {"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}
    r = client.post("/api/v1/cases/", {"process": "residence_change", "data": declaration}, format="json")
    assert r.status_code == 201
    # and sees only their own cases
    assert [c["id"] for c in client.get("/api/v1/cases/").json()["results"]] == [r.json()["id"]]


@pytest.mark.parametrize("fmt", ["csv", "xml", "ods", "odt", "xlsx"])
def test_case_list_exports_with_the_same_filters(env, fmt):
    _start(env)
    _start(env)
    client = api_client(env["supervisor"], env["tenant"])
    response = client.get(f"/api/v1/cases/?format={fmt}&status=open")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Disposition"].endswith(f'pratiche.{fmt}"')
    body = response.content
    if fmt == "csv":
        lines = body.decode("utf-8-sig").strip().splitlines()
        assert lines[0].startswith("Numero,Procedimento") and len(lines) == 3
    elif fmt == "xml":
        from lxml import etree

        assert len(etree.fromstring(body).findall("pratica")) == 2
    elif fmt == "xlsx":
        import io

        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(body)).active
        assert sheet.max_row == 3 and sheet["A1"].value == "Numero"
    else:
        import io
        import zipfile

        content = zipfile.ZipFile(io.BytesIO(body)).read("content.xml").decode()
        assert "Numero" in content and content.count("/000") == 2
    # nothing matches: only the header
    empty = client.get(f"/api/v1/cases/export/?format={fmt}&status=closed")
    assert empty.status_code == 200
    assert AuditEvent.objects.filter(action="export", object_type="case_list").count() == 2


def test_export_errors_and_other_actions_stay_json(env):
    case = _start(env)
    client = api_client(env["supervisor"], env["tenant"])
    r = client.get("/api/v1/cases/?format=ods&due_before=ieri")
    assert r.status_code == 400 and r.json()["error"]["fields"]["due_before"]
    assert client.get(f"/api/v1/cases/{case['id']}/?format=csv").status_code == 404
    full = client.get("/api/v1/cases/export/?format=json").json()
    assert [c["number"] for c in full] == [case["number"]]
