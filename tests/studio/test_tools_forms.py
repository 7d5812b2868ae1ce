"""The form editor's live preview (POST /studio/bozze/<draft>/anteprima-modulo/) renders with the
product's own renderer, answers every bad input with Italian errors (never a 500), escapes whatever
the admin types, and the widget palette's snippets all render."""

from __future__ import annotations

import json

import pytest

from studio import forms_preview
from studio.scenarios import PROCESSES
from tests.factories import second_factor_client
from tests.studio import test_tools_support

make_draft = test_tools_support.make_draft  # fixtures shared by the studio tool tests
admin_client = test_tools_support.admin_client

pytestmark = pytest.mark.django_db

REGISTRATION = json.loads((PROCESSES / "residence_change" / "forms" / "registration.schema.json").read_text())


def _preview(client, draft, body, **extra):
    url = f"/studio/bozze/{draft.pk}/anteprima-modulo/"
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(url, data=raw, content_type="application/json", **extra)


def test_it_renders_a_shipped_form_as_the_task_page_does(office, admin_client, make_draft):
    draft = make_draft(office["tenant"])
    response = _preview(admin_client, draft, {"schema": REGISTRATION, "ui_schema": {}, "data": {}})
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] == []
    # The same field template the operators' task page uses: labels, inputs named after the fields.
    for key, prop in REGISTRATION["properties"].items():
        assert f'name="{key}' in body["html"], key
        assert prop.get("title", key).split("'")[0] in body["html"]


def test_sample_data_fills_the_fields_and_reports_its_errors_per_field(office, admin_client, make_draft):
    draft = make_draft(office["tenant"])
    schema = {"type": "object", "required": ["nome"],
              "properties": {"nome": {"type": "string", "title": "Nome"},
                             "nascita": {"type": "string", "format": "date", "title": "Data di nascita"},
                             "comune": {"type": "string", "format": "municipality", "title": "Comune"}}}
    body = _preview(admin_client, draft, {"schema": schema, "data": {"nascita": "1980-01-31", "comune": "046007"}}).json()
    assert body["errors"] == []
    assert 'value="31/01/1980"' in body["html"]  # Italian date, as operators see it
    assert "Capannori" in body["html"]  # the municipality picker shows the name of the ISTAT code
    assert body["data_errors"] == {"nome": ["Campo obbligatorio."]}
    assert "Campo obbligatorio." in body["html"]


def test_hostile_titles_enum_labels_and_help_are_escaped(office, admin_client, make_draft):
    draft = make_draft(office["tenant"])
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    schema = {"type": "object", "properties": {
        "a": {"type": "string", "title": evil, "description": evil},
        "b": {"type": "string", "title": "B", "enum": ["x", evil]},
        "c": {"type": "array", "title": evil, "items": {"type": "object", "properties": {"d": {"type": "string", "title": evil}}}},
    }}
    ui = {"b": {"ui:enumNames": [evil, "ok"]}, "a": {"ui:help": evil}}
    body = _preview(admin_client, draft, {"schema": schema, "ui_schema": ui, "data": {"a": evil}}).json()
    assert body["errors"] == []
    assert "<script>" not in body["html"] and "<img" not in body["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body["html"]


@pytest.mark.parametrize(("payload", "expected"), [
    ({"schema": {"type": "strin", "properties": {}}}, "Lo schema JSON non è valido"),
    ({"schema": {"type": "object", "properties": {"a": {"type": "string", "minLength": -1}}}}, "Lo schema JSON non è valido"),
    ({"schema": ["not", "an", "object"]}, "Lo schema del modulo deve essere un oggetto JSON."),
    ({"schema": {"type": "object", "properties": {"a": True}}}, "Il campo «a» deve essere un oggetto"),
    ({"schema": {"type": "object", "properties": {}}}, "deve elencare i campi"),
    ({"schema": {"type": "object", "properties": {"a": {"type": "string"}}}, "ui_schema": {"a": "textarea"}},
     "Lo schema UI del campo «a» deve essere un oggetto."),
    ({"schema": {"type": "object", "properties": {"a": {"type": "string"}}}, "ui_schema": {"ui:order": "a"}},
     "«ui:order» deve essere un elenco"),
    ({"schema": {"type": "object", "properties": {"a": {"type": "string"}}}, "data": [1, 2]},
     "I dati di esempio devono essere un oggetto JSON."),
    ({"schema": {"type": "object", "properties": {"f": {"type": "object", "format": "file", "x-accept": ["exe"]}}}},
     "Campo file non valido"),
    ({"schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "["}}}}, "Lo schema JSON non è valido"),
])
def test_an_invalid_form_is_an_italian_error_never_a_500(office, admin_client, make_draft, payload, expected):
    draft = make_draft(office["tenant"])
    response = _preview(admin_client, draft, payload)
    assert response.status_code == 200
    body = response.json()
    assert body["html"] == "" and any(expected in e for e in body["errors"]), body["errors"]


@pytest.mark.parametrize(("raw", "expected"), [
    (b"{not json", "La richiesta non è un JSON valido."),
    (b"[1]", "oggetto JSON"),
    (b'{"schema": ' + b"[" * 50 + b"]" * 50 + b"}", "annidato troppo"),  # the middleware stops 64+
    (json.dumps({"schema": {"description": "x" * 300_000}}).encode(), "troppo grande"),
])
def test_a_request_that_is_not_a_small_json_object_is_refused_with_a_reason(office, admin_client, make_draft, raw,
                                                                           expected):
    draft = make_draft(office["tenant"])
    response = _preview(admin_client, draft, raw)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and expected in response.json()["message"]


def test_a_form_with_too_many_inputs_is_refused_before_rendering(office, admin_client, make_draft):
    draft = make_draft(office["tenant"])
    row = {"type": "object", "properties": {f"f{i}": {"type": "string"} for i in range(60)}}
    schema = {"type": "object", "properties": {"g": {"type": "array", "items": row}}}
    body = _preview(admin_client, draft, {"schema": schema, "data": {"g": [{}] * 30}}).json()
    assert body["html"] == "" and "troppi campi" in body["errors"][0]


def test_a_catastrophic_pattern_is_reported_not_run_to_the_end(office, admin_client, make_draft):
    draft = make_draft(office["tenant"])
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a|aa)+$"}}}
    body = _preview(admin_client, draft, {"schema": schema, "data": {"a": "a" * 40 + "!"}}).json()
    assert any("richiede troppo tempo" in e for e in body["errors"]), body["errors"]
    ok = _preview(admin_client, draft, {"schema": {"type": "object", "properties": {
        "cap": {"type": "string", "pattern": "^[0-9]{5}$"}}}, "data": {"cap": "5501"}}).json()
    assert ok["errors"] == [] and ok["data_errors"] == {"cap": ["Formato non valido."]}


def test_only_the_tenants_process_admins_reach_a_draft(office, other_office, admin_client, make_draft, client):
    mine = make_draft(office["tenant"])
    theirs = make_draft(other_office["tenant"])
    payload = {"schema": REGISTRATION}
    assert _preview(admin_client, theirs, payload).status_code == 404
    registrar = second_factor_client(office["registrar"])
    assert _preview(registrar, mine, payload).json()["error"] == "permission_denied"
    assert _preview(client, mine, payload).status_code in (302, 401)


def test_the_palette_offers_the_italian_widgets_and_each_snippet_renders(office, admin_client):
    response = admin_client.get("/studio/widget/")
    assert response.status_code == 200
    widgets = {w["id"]: w for w in response.json()["widgets"]}
    assert set(widgets) >= {"date", "fiscal_code", "municipality", "file", "email", "select"}
    expected_input = {"date": 'placeholder="GG/MM/AAAA"', "fiscal_code": 'maxlength="16"',
                      "municipality": 'role="combobox"', "file": 'type="file"', "email": 'type="email"',
                      "select": "<select"}
    for wid, widget in widgets.items():
        preview = forms_preview.form_preview({"type": "object", "properties": {widget["name"]: widget["schema"]}},
                                             {widget["name"]: widget["ui"]})
        assert preview.errors == [], (wid, preview.errors)
        assert expected_input[wid] in preview.html, wid
    # The fiscal-code widget's field name gets the product's checksum check.
    cf = widgets["fiscal_code"]
    checked = forms_preview.form_preview({"type": "object", "properties": {cf["name"]: cf["schema"]}}, {},
                                         {cf["name"]: "RSSMRA80A01H501X"})
    assert checked.data_errors[cf["name"]] == ["Codice fiscale non valido (controlla il carattere di controllo)."]
