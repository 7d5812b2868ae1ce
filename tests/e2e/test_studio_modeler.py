"""The process studio's modeler and form editor in a real browser (the bundles built by `npm run build`
from frontend/studio/), against the test stand-in of the studio's JSON contract (tests/e2e/studio_stub.py).

An admin changes a lane's role, a user task's form, deadline, priority, four-eyes rule and public
milestone and a timer in the properties panel, saves, and the saved BPMN carries the spiffworkflow
properties exactly as the engine reads them (engine/bundles.py user_task_metas). Validation problems
appear on the diagram and in a list whose entries select their element. The form editor checks the
JSON as typed, inserts Italian widgets and shows the server-rendered preview. No Content-Security-Policy
violation, no script error, axe-core clean outside the canvas (desktop and 375 px)."""

from __future__ import annotations

import json

import pytest
import yaml
from lxml import etree

from accounts.roles import Role
from engine import bundles
from tests.e2e import studio_stub
from tests.e2e.conftest import AXE, ROOT, screenshot
from tests.factories import make_tenant, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.e2e.studio_stub")]

BUNDLE = ROOT / "frontend" / "build" / "studio" / "modeler.js"
DRAFT = 7001


@pytest.fixture
def draft():
    if not BUNDLE.exists():
        pytest.fail("The studio bundle is missing: run `make studio` (or `cd frontend && npm run build`)")
    files = studio_stub.load_draft(DRAFT)
    yield files
    studio_stub.STORE.pop(DRAFT, None)


@pytest.fixture
def page_for(browser, live_server):
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    admin = make_user(tenant, Role.SUPERVISOR, username="studio.e2e")
    contexts = []
    troubles: list[str] = []

    def open_page(viewport):
        context = browser.new_context(viewport=viewport, locale="it-IT")
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: troubles.append(m.text) if "Content Security Policy" in m.text or m.type == "error" else None)
        page.on("pageerror", lambda exc: troubles.append(f"page error: {exc}"))
        page.goto(f"{live_server.url}/accedi/")
        page.fill("#id_username", admin.username)
        page.fill("#id_password", "pw-test-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    open_page.url = live_server.url
    open_page.troubles = troubles
    yield open_page
    for context in contexts:
        context.close()


def check_axe_outside_canvas(page, name: str) -> None:
    """axe-core (WCAG 2.1 A/AA) on the page with the diagram canvas excluded: zero serious or critical."""
    page.evaluate(AXE.read_text() + "\n;true")
    result = page.evaluate(
        "async () => await axe.run({exclude: [['#studio-canvas']]},"
        " {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    bad = [f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(bad)


def open_modeler(page, url):
    page.goto(f"{url}/studio/bozze/{DRAFT}/modello/")
    page.wait_for_selector("#studio-modeler[data-ready=true]", timeout=30000)


def select(page, element_id):
    # The same call the problems list makes: selects the element and moves focus to the panel.
    page.evaluate("id => window.procedoStudio.focusElement(id)", element_id)
    page.wait_for_function(
        "id => { const s = window.procedoStudio.modeler.get('selection').get(); return s.length === 1 && s[0].id === id; }",
        arg=element_id)
    # ... and the panel shows it (it re-renders asynchronously: typing before would edit the previous element).
    page.wait_for_function("id => (document.querySelector('#bio-properties-panel-id') || {}).value === id", arg=element_id)


def save(page):
    page.click("[data-studio-action=save]")
    page.wait_for_function("() => document.querySelector('[data-studio-status]').textContent.startsWith('Salvato')")


def test_the_properties_panel_writes_what_the_engine_reads(page_for, draft):
    page = page_for({"width": 1400, "height": 1000})
    open_modeler(page, page_for.url)
    assert page.locator(".bjs-powered-by").count() == 1  # the bpmn.io watermark stays
    assert "Comandi del modello" == page.get_attribute("[role=toolbar]", "aria-label")

    # Lane -> role.
    select(page, "lane_police")
    page.select_option("#bio-properties-panel-procedo-role-select", "supervisor")

    # User task: a new form created from the panel, deadline through the working-days helper,
    # priority, public milestone.
    select(page, "registration")
    page.fill("#bio-properties-panel-procedo-new-form", "verifica_documenti")
    page.click("[data-entry-id=procedo-new-form] button")
    page.wait_for_function("() => document.querySelector('#bio-properties-panel-procedo-form').value === 'verifica_documenti.schema.json'")
    page.fill("#bio-properties-panel-procedo-working-days", "5")
    page.wait_for_function("() => document.querySelector('#bio-properties-panel-procedo-due-date').value === 'add_working_days(received_on, 5)'")
    page.wait_for_selector("[data-entry-id=procedo-due-date] [data-check=ok]")
    page.select_option("#bio-properties-panel-procedo-priority", "3")
    page.fill("#bio-properties-panel-procedo-milestone-label", "Dichiarazione registrata")
    page.fill("#bio-properties-panel-procedo-instructions", "Controlla i documenti allegati.")

    # A refused expression is named while typing (the sandbox's own check, through the server).
    select(page, "notice_10bis")
    page.fill("#bio-properties-panel-procedo-due-date", '__import__("os")')
    page.wait_for_selector("[data-entry-id=procedo-due-date] [data-check=error]")
    page.fill("#bio-properties-panel-procedo-due-date", "add_working_days(today(), 7)")
    page.wait_for_selector("[data-entry-id=procedo-due-date] [data-check=ok]")

    # Four-eyes: only earlier user tasks are offered.
    select(page, "evaluate_reply")
    offered = page.eval_on_selector_all("#bio-properties-panel-procedo-four-eyes option", "os => os.map(o => o.value)")
    assert "registration" in offered and "notice_10bis" in offered and "report_discrepancies" not in offered
    page.select_option("#bio-properties-panel-procedo-four-eyes", "registration")

    # Timer: an ISO 8601 duration with its Italian preview.
    select(page, "silence_timer")
    page.select_option("#bio-properties-panel-procedo-timer-type", "timeDuration")
    page.fill("#bio-properties-panel-procedo-timer-value", "P3D")
    page.wait_for_selector("[data-entry-id=procedo-timer-value] >> text=Dopo 3 giorni")
    page.select_option("#bio-properties-panel-procedo-timer-type", "timeCycle")
    page.wait_for_selector("[data-entry-id=procedo-timer-value] >> text=Ciclo ISO 8601 non valido")
    page.fill("#bio-properties-panel-procedo-timer-value", "R/PT2H")
    page.wait_for_selector("[data-entry-id=procedo-timer-value] >> text=Ogni 2 ore")
    page.select_option("#bio-properties-panel-procedo-timer-type", "timeDuration")
    page.fill("#bio-properties-panel-procedo-timer-value", "P3D")
    page.wait_for_selector("[data-entry-id=procedo-timer-value] >> text=Dopo 3 giorni")

    check_axe_outside_canvas(page, "studio modeler (timer selected)")
    select(page, "registration")
    check_axe_outside_canvas(page, "studio modeler (user task selected)")
    screenshot(page, "studio-modeler-desktop")
    save(page)

    xml = draft[studio_stub.BPMN]
    spec, subprocess_specs = bundles._parse(draft, studio_stub.PROCESS)
    metas = bundles.user_task_metas(spec, subprocess_specs)
    registration = metas["registration"]
    assert registration.form == "verifica_documenti.schema.json"
    assert registration.ui_form == "verifica_documenti.uischema.json"
    assert registration.due_expression == "add_working_days(received_on, 5)"
    assert registration.priority == 3
    assert registration.instructions == "Controlla i documenti allegati."
    assert metas["notice_10bis"].due_expression == "add_working_days(today(), 7)"
    assert metas["evaluate_reply"].not_same_user_as == "registration"
    assert metas["police_verification"].lane == "supervisor"
    assert "forms/verifica_documenti.schema.json" in draft and "forms/verifica_documenti.uischema.json" in draft
    # Everything else the engine reads survived the round trip through the modeler.
    original = bundles.read_bundle(ROOT / "processes" / studio_stub.PROCESS)
    spec0, subs0 = bundles._parse(original.files, studio_stub.PROCESS)
    before = bundles.user_task_metas(spec0, subs0)
    assert metas["report_discrepancies"] == before["report_discrepancies"]
    assert metas["silence_assent"] == before["silence_assent"]
    tree = etree.fromstring(xml.encode())
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
    timer = tree.find(".//bpmn:boundaryEvent[@id='silence_timer']/bpmn:timerEventDefinition", ns)
    assert [(etree.QName(child).localname, child.text) for child in timer] == [("timeDuration", '"P3D"')]
    operators = tree.findall(".//spiffworkflow:serviceTaskOperator", ns)
    assert len(operators) == original.files[studio_stub.BPMN].count("<spiffworkflow:serviceTaskOperator")
    # The service task's parameters come through the panel unchanged (same ids as the shipped model).
    shipped = etree.fromstring(original.files[studio_stub.BPMN].encode())
    registration_params = ".//bpmn:serviceTask[@id='anpr_registration']//spiffworkflow:parameters"
    assert {p.get("id") for p in tree.find(registration_params, ns)} == {
        p.get("id") for p in shipped.find(registration_params, ns)} >= {"declarants", "new_address", "origin"}
    # The public milestone went to manifest.yaml, the rest of the manifest untouched.
    manifest = yaml.safe_load(draft["manifest.yaml"])
    old_manifest = yaml.safe_load(original.files["manifest.yaml"])
    assert manifest["public_milestones"]["registration"] == "Dichiarazione registrata"
    assert {k: v for k, v in manifest.items() if k != "public_milestones"} == {
        k: v for k, v in old_manifest.items() if k != "public_milestones"}
    assert {k: v for k, v in manifest["public_milestones"].items() if k != "registration"} == {
        k: v for k, v in old_manifest["public_milestones"].items() if k != "registration"}
    assert "# What the citizen sees of the case" in draft["manifest.yaml"]
    assert page_for.troubles == []


def test_validation_problems_are_marked_on_the_diagram_and_listed(page_for, draft):
    page = page_for({"width": 1400, "height": 1000})
    open_modeler(page, page_for.url)
    select(page, "report_discrepancies")
    page.fill("#bio-properties-panel-procedo-due-date", "")
    page.wait_for_function("() => window.procedoStudio.dirty")
    page.click("[data-studio-action=validate]")
    item = page.locator("[data-studio-problems] li[data-code=missing_due_date]")
    item.wait_for()
    assert "Segnalazioni delle difformità" in item.inner_text()
    marked = page.locator('.djs-element.procedo-problem-error[data-element-id="report_discrepancies"]')
    assert marked.count() == 1
    badge = page.locator(".djs-overlay .procedo-problem-badge-error")
    assert badge.count() == 1 and "Errore:" in badge.inner_text()  # symbol + text for screen readers, not colour alone
    check_axe_outside_canvas(page, "studio modeler with problems")

    select(page, "registration")
    item.locator("button").click()
    page.wait_for_function(
        "() => window.procedoStudio.modeler.get('selection').get()[0].id === 'report_discrepancies'")
    assert page.evaluate("document.activeElement.id") == "studio-properties"
    page.fill("#bio-properties-panel-procedo-working-days", "3")
    page.wait_for_function("() => document.querySelector('#bio-properties-panel-procedo-due-date').value === 'add_working_days(received_on, 3)'")
    page.click("[data-studio-action=validate]")
    page.wait_for_function("() => document.querySelector('[data-studio-problems-summary]').textContent === 'Nessun problema rilevato.'")
    assert page.locator(".procedo-problem-error").count() == 0
    assert page.locator(".djs-overlay .procedo-problem-badge").count() == 0

    # The toolbar is one tab stop, arrows move along it.
    page.focus("[data-studio-action=save]")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.studioAction") == "validate"
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.dataset.studioAction") == "fit"
    assert page.evaluate("[...document.querySelectorAll('[data-studio-toolbar] button')].filter(b => b.tabIndex === 0).length") == 1
    assert page_for.troubles == []


def test_the_modeler_on_a_phone_is_accessible_outside_the_canvas(page_for, draft):
    page = page_for({"width": 375, "height": 812})
    open_modeler(page, page_for.url)
    select(page, "registration")
    check_axe_outside_canvas(page, "studio modeler (375 px)")
    screenshot(page, "studio-modeler-phone")
    assert page_for.troubles == []


@pytest.mark.parametrize("width", [1280, 375])
def test_the_form_editor_checks_json_inserts_widgets_and_previews_with_the_server_renderer(page_for, draft, width):
    page = page_for({"width": width, "height": 900})
    page.goto(f"{page_for.url}/studio/bozze/{DRAFT}/modulo/?path=forms/registration.schema.json")
    page.wait_for_selector("#studio-form-editor[data-ready=true]")
    page.wait_for_selector("[data-form-preview] >> text=Provenienza")  # rendered by forms/rendering.py

    page.select_option("#widget-kind", "fiscal_code")
    page.fill("#widget-title-input", "Codice fiscale del coniuge")
    page.fill("#widget-name", "spouse_fiscal_code")
    page.click("label[for=widget-required]")  # Bootstrap Italia draws the box on the label
    page.click("[data-widget-form] button[type=submit]")
    page.wait_for_selector("[data-widget-note] >> text=spouse_fiscal_code")
    page.fill("#pane-data", '{"origin": "same_municipality", "spouse_fiscal_code": "RSSMRA80A01H501X"}')
    page.wait_for_selector("[data-form-preview] >> text=Codice fiscale del coniuge")
    page.wait_for_selector("[data-form-preview-errors] >> text=Codice fiscale non valido")

    page.fill("#pane-ui", '{"ui:order": [}')
    page.wait_for_selector("[data-pane-message=ui] >> text=JSON non valido alla riga 1")
    assert page.get_attribute("#pane-ui", "aria-invalid") == "true"
    check_axe_outside_canvas(page, f"studio form editor ({width} px)")
    page.click("[data-form-save]")
    page.wait_for_selector("[data-form-status] >> text=Non salvato")
    page.fill("#pane-ui", "{}")
    page.click("[data-form-save]")
    page.wait_for_function("() => document.querySelector('[data-form-status]').textContent.startsWith('Salvato')")

    schema = json.loads(draft["forms/registration.schema.json"])
    assert schema["properties"]["spouse_fiscal_code"]["pattern"] == "^[A-Z0-9]{16}$"
    assert "spouse_fiscal_code" in schema["required"]
    assert json.loads(draft["forms/registration.uischema.json"]) == {}
    screenshot(page, f"studio-form-editor-{width}")
    assert page_for.troubles == []
