"""Diff between two versions: BPMN elements by id (added, removed, changed with their properties),
form fields, other files; the page draws the diagram with markers that are colour AND symbol."""

from __future__ import annotations

import json

import pytest

from engine.selectors import process_latest_version
from studio.diff import bundle_diff
from tests.factories import second_factor_client
from tests.studio.helpers import MAIN, NEW_FORM, inserted_task_bpmn
from tests.studio.test_validation import _files

pytestmark = [pytest.mark.django_db]


def test_elements_are_matched_by_id_with_their_property_changes():
    old = _files()
    bpmn = inserted_task_bpmn(old[MAIN])
    bpmn = bpmn.replace('value="add_working_days(received_on, 2)"', 'value="add_working_days(received_on, 3)"')
    bpmn = bpmn.replace('<bpmn:lane id="lane_police" name="police">', '<bpmn:lane id="lane_police" name="registrar">')
    new = {**old, MAIN: bpmn, "forms/check_documents.schema.json": NEW_FORM}
    diff = bundle_diff(old, new)
    by_id = {row["id"]: row for row in diff["elements"]}
    assert by_id["check_documents"]["status"] == "added" and by_id["check_documents"]["name"] == "Verifica dei documenti"
    assert by_id["f_checked"]["status"] == "added"
    registration = {c["property"]: (c["before"], c["after"]) for c in by_id["registration"]["changes"]}
    assert registration == {"dueDate": ("add_working_days(received_on, 2)", "add_working_days(received_on, 3)")}
    flow = {c["property"]: (c["before"], c["after"]) for c in by_id["f_registered"]["changes"]}
    assert flow["targetRef"] == ("gw_join", "check_documents")  # registration now joins the protocol branch
    assert {c["property"] for c in by_id["police_verification"]["changes"]} == {"corsia"}  # moved lane, by name
    assert by_id["lane_police"]["status"] == "changed"
    assert diff["summary"]["elements_removed"] == []
    back = bundle_diff(new, old)
    assert {r["id"] for r in back["elements"] if r["status"] == "removed"} == {"check_documents", "f_checked"}


def test_form_fields_are_compared_one_by_one():
    old = _files()
    schema = json.loads(old["forms/registration.schema.json"])
    first = next(iter(schema["properties"]))
    schema["properties"][first]["title"] = "Titolo nuovo"
    schema["properties"]["extra_field"] = {"type": "string"}
    new = {**old, "forms/registration.schema.json": json.dumps(schema)}
    rows = bundle_diff(old, new)["forms"]
    assert [r["file"] for r in rows] == ["forms/registration.schema.json"]
    fields = {f["field"]: f for f in rows[0]["fields"]}
    assert fields["extra_field"]["status"] == "added"
    assert fields[first]["status"] == "changed" and fields[first]["changes"][0]["after"] == "Titolo nuovo"


def test_hostile_xml_in_a_diff_resolves_no_entity():
    evil = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
            '<bpmn:process id="p"><bpmn:task id="t" name="&x;"/></bpmn:process></bpmn:definitions>')
    rows = bundle_diff({}, {"x.bpmn": evil})["elements"]
    assert all("root:" not in (r["name"] or "") for r in rows)


@pytest.mark.postgres
def test_the_diff_page_marks_the_diagram_and_lists_the_changes(capannori):
    from studio import services

    shipped = process_latest_version(process_id="residence_change")
    draft = services.draft_create(tenant=capannori["tenant"], actor=capannori["admin"], version_id=shipped.pk)
    services.draft_file_save(tenant=capannori["tenant"], actor=capannori["admin"], draft_id=draft.pk,
                             path="forms/check_documents.schema.json", content=NEW_FORM)
    services.draft_file_save(tenant=capannori["tenant"], actor=capannori["admin"], draft_id=draft.pk, path=MAIN,
                             content=inserted_task_bpmn(shipped.files[MAIN]).replace(
                                 '<bpmn:flowNodeRef>silence_timer</bpmn:flowNodeRef>', ''))
    page = second_factor_client(capannori["supervisor"]).get(f"/studio/differenze/?bozza={draft.pk}").content.decode()
    assert 'data-added="check_documents,f_checked"' in page
    assert 'data-changed="' in page and "f_registered" in page
    assert "+ aggiunto" in page and "~ modificato" in page  # a symbol as well as a colour
    assert "Verifica dei documenti" in page and "check_documents.schema.json" in page
    assert "bpmn-navigated-viewer.production.min.js" in page
