"""Drafts through the editor's JSON contract: files read and written with checked paths, problems
answered on every save, the palette and the expression check; another tenant's drafts are 404,
roles other than process admin 403; a shipped update is shown and taken file by file."""

from __future__ import annotations

import json

import pytest

from engine.bundles import Bundle, read_bundle
from engine.registry import process_version_publish
from studio.models import Draft
from tests.factories import second_factor_client
from tests.studio.helpers import MAIN, fork
from tests.studio.test_validation import PROCESSES

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def draft(capannori) -> Draft:
    return fork(capannori)


@pytest.fixture
def admin(capannori):
    return second_factor_client(capannori["admin"])


def test_a_file_is_read_and_saved_and_the_answer_carries_the_problems(admin, draft):
    url = f"/studio/bozze/{draft.pk}/file/"
    text = admin.get(url, {"path": MAIN})
    assert text.status_code == 200 and text.content.decode() == draft.files[MAIN]
    broken = draft.files[MAIN].replace('<bpmn:lane id="lane_police" name="police">', '<bpmn:lane id="lane_police" name="vigili">')
    answer = _post(admin, url, {"path": MAIN, "content": broken})
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True and body["revision"] == 2
    problem = next(p for p in body["problems"] if p["code"] == "unknown_role")
    assert problem == {"file": MAIN, "element_id": "police_verification", "code": "unknown_role",
                       "message": problem["message"], "severity": "error"}
    draft.refresh_from_db()
    assert draft.files[MAIN] == broken
    validated = admin.post(f"/studio/bozze/{draft.pk}/valida/")
    assert validated.status_code == 200 and any(p["code"] == "unknown_role" for p in validated.json()["problems"])


@pytest.mark.parametrize("path,code", [
    ("/etc/passwd.json", "path_not_allowed"),
    ("../evil.json", "path_not_allowed"),
    ("forms/../../evil.json", "path_not_allowed"),
    ("forms\\evil.json", "path_not_allowed"),
    ("C:/evil.json", "path_not_allowed"),
    ("forms/evil.py", "extension_not_allowed"),
    ("a/b/c/d.json", "path_not_allowed"),
    ("", "path_missing"),
    (None, "path_missing"),
])
def test_hostile_paths_are_refused_with_a_code_and_an_italian_message(admin, draft, path, code):
    answer = _post(admin, f"/studio/bozze/{draft.pk}/file/", {"path": path, "content": "{}"})
    assert answer.status_code == 400
    assert answer.json()["error"] == code and answer.json()["message"]
    draft.refresh_from_db()
    assert draft.revision == 1


def test_size_limits_and_non_text_content(admin, draft):
    url = f"/studio/bozze/{draft.pk}/file/"
    assert _post(admin, url, {"path": "forms/big.schema.json", "content": "x" * 1_000_001}).json()["error"] == "file_too_large"
    assert _post(admin, url, {"path": "forms/a.schema.json", "content": {"not": "text"}}).json()["error"] == "content_not_text"
    assert _post(admin, url, {"path": "deeds/x.docx", "content": "plain"}).json()["error"] == "binary_expected"
    assert admin.post(url, data="{not json", content_type="application/json").json()["error"] == "invalid_json"
    assert admin.post(url, data="[1]", content_type="application/json").status_code == 400


def test_palette_and_expression_check(admin, draft):
    palette = admin.get(f"/studio/bozze/{draft.pk}/tavolozza/").json()
    assert {"id": "registrar", "label": "Ufficiale d'anagrafe"} in palette["roles"]
    assert {"path": "registration.schema.json", "title": palette["forms"][[f["path"] for f in palette["forms"]].index(
        "registration.schema.json")]["title"]} in palette["forms"]
    publish = next(o for o in palette["operations"] if o["name"] == "noticeboard.publish")
    assert {"name": "title", "required": True} in publish["params"]
    assert {"id": "registration", "name": "Registrazione della dichiarazione"} in palette["tasks"]
    assert {"name": "citizen_reply"} in palette["messages"]
    assert "add_working_days" in palette["helpers"] and palette["milestones"]["registration"]
    url = f"/studio/bozze/{draft.pk}/espressione/"
    assert _post(admin, url, {"expression": "add_working_days(received_on, 2)", "kind": "due_date"}).json()["ok"] is True
    refused = _post(admin, url, {"expression": "__import__('os').system('id')", "kind": "condition"}).json()
    assert refused["ok"] is False and "non ammessa" in refused["message"]
    assert _post(admin, url, {"expression": "x = 1\ny = x + 1", "kind": "script"}).json()["ok"] is True
    assert _post(admin, url, {"expression": "'P4X'", "kind": "timer"}).json()["ok"] is False
    assert _post(admin, url, {"expression": "'P45D'", "kind": "timer"}).json()["ok"] is True
    assert _post(admin, url, {"expression": "1", "kind": "other"}).status_code == 400


def test_only_process_admins_use_the_editor_endpoints(capannori, draft):
    for who in ("supervisor", "registrar", "viewer"):
        client = second_factor_client(capannori[who])
        assert client.get(f"/studio/bozze/{draft.pk}/file/", {"path": MAIN}).status_code == 403, who
        answer = _post(client, f"/studio/bozze/{draft.pk}/file/", {"path": MAIN, "content": "x"})
        assert answer.status_code == 403 and answer.json()["error"] == "studio_edit_not_allowed", who
        assert client.get(f"/studio/bozze/{draft.pk}/tavolozza/").status_code == 403
    draft.refresh_from_db()
    assert draft.revision == 1


def test_another_tenants_draft_is_not_found_anywhere(lucca, draft):
    client = second_factor_client(lucca["admin"])
    for method, url in [("get", f"/studio/bozze/{draft.pk}/"), ("get", f"/studio/bozze/{draft.pk}/modifica/"),
                        ("get", f"/studio/bozze/{draft.pk}/file/?path={MAIN}"), ("post", f"/studio/bozze/{draft.pk}/valida/"),
                        ("get", f"/studio/bozze/{draft.pk}/tavolozza/"), ("post", f"/studio/bozze/{draft.pk}/espressione/"),
                        ("get", f"/studio/bozze/{draft.pk}/esporta/"), ("get", f"/studio/bozze/{draft.pk}/diagramma/"),
                        ("get", f"/studio/bozze/{draft.pk}/testo/?path={MAIN}"), ("get", f"/studio/differenze/?bozza={draft.pk}"),
                        ("post", f"/studio/bozze/{draft.pk}/richiesta/"), ("post", f"/studio/bozze/{draft.pk}/scarta/")]:
        assert getattr(client, method)(url).status_code == 404, url
    answer = _post(client, f"/studio/bozze/{draft.pk}/file/", {"path": MAIN, "content": "x"})
    assert answer.status_code == 404 and answer.json()["error"] == "draft_not_found"
    draft.refresh_from_db()
    assert draft.revision == 1 and draft.status == "open"


def test_a_shipped_update_is_shown_and_taken_file_by_file(capannori, admin, draft):
    # The tenant changed the registration form; the supplier ships a new version changing it and the README.
    mine = draft.files["forms/registration.schema.json"].replace('"title"', '"title"', 1) + "\n"
    _post(admin, f"/studio/bozze/{draft.pk}/file/", {"path": "forms/registration.schema.json", "content": mine})
    shipped = dict(read_bundle(PROCESSES / "residence_change").files)
    shipped["README.md"] += "\nNovità della versione distribuita.\n"
    shipped["forms/registration.schema.json"] = shipped["forms/registration.schema.json"] + " \n"
    bundle = read_bundle(PROCESSES / "residence_change")
    process_version_publish(bundle=Bundle(process_id="residence_change", files=shipped, manifest=bundle.manifest))

    page = admin.get(f"/studio/bozze/{draft.pk}/").content.decode()
    assert "Aggiornamento della versione distribuita" in page
    assert "modificato anche nella bozza" in page and "Novità della versione distribuita" in page
    admin.post(f"/studio/bozze/{draft.pk}/aggiornamento/", {"path": ["README.md"]})
    draft.refresh_from_db()
    assert draft.files["README.md"] == shipped["README.md"]
    assert draft.files["forms/registration.schema.json"] == mine  # not taken: the tenant's change stays
    admin.post(f"/studio/bozze/{draft.pk}/aggiornamento/", {"finish": "1"})
    draft.refresh_from_db()
    assert draft.shipped_base.files == shipped
    assert "Aggiornamento della versione distribuita" not in admin.get(f"/studio/bozze/{draft.pk}/").content.decode()
