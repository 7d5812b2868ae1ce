"""Issue 15 "Done when", end to end in Chromium against the real studio (no stub).

As process_admin.capannori: fork the residence change in the studio, add a user task in the
registrar lane (the BPMN edit goes through the draft's text page: placing a shape and re-routing a
flow by dragging on the canvas is not practical to drive; the task's new form, its deadline and the
fix of the validation error are done in the modeler's properties panel and the form editor), see
the validation errors and fix them, run the scenarios in the sandbox (the shipped ones fail on the
variant, so the draft page says approval cannot be asked yet; the admin adapts the scenarios to the
new task in the text page of tests.yaml and runs them again, green), ask for approval;
supervisor.capannori approves; the new version is live for Capannori only; a dry run then a batch
migrate the open Capannori cases that can move, the refused ones listed with reasons. axe-core zero
serious/critical on every studio page (the canvas exempt), desktop and 375 px.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.roles import Role
from cases.models import Case
from cases.services import case_start
from engine import migration
from engine.models import MigrationBatch, ProcessVersion
from engine.outbox import outbox_deliver_due
from engine.selectors import process_latest_version
from studio.models import Draft
from tests.e2e.conftest import AXE, screenshot
from tests.factories import declaration_payload, make_tenant, make_user, second_factor_client
from tests.procedures.test_scenarios import simulator_urls  # noqa: F401  (fixture: connector simulators)
from tests.studio.helpers import MAIN, inserted_task_bpmn, scenarios_with_checked_documents

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [{"width": 1280, "height": 900}, {"width": 375, "height": 812}]


def axe(page, name: str) -> None:
    """axe-core WCAG 2.1 A/AA, zero serious/critical; the bpmn-js canvas (#studio-canvas) exempt."""
    page.evaluate(AXE.read_text() + "\n;true")
    result = page.evaluate(
        "async () => await axe.run(document.querySelector('#studio-canvas') ? {exclude: [['#studio-canvas']]} : document,"
        " {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
    bad = [f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(bad)


def _page(browser, live_server, user, viewport):
    client = second_factor_client(user)  # process admins and supervisors work with a verified second factor
    context = browser.new_context(viewport=viewport, locale="it-IT", has_touch=viewport["width"] < 500)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])
    page = context.new_page()
    troubles: list[str] = []
    page.on("pageerror", lambda exc: troubles.append(f"page error: {exc}"))
    page.on("console", lambda m: troubles.append(m.text) if "Content Security Policy" in m.text else None)
    page.troubles = troubles
    return page


def _fits(page, viewport, name):
    if viewport["width"] < 500:
        wide = page.evaluate("document.documentElement.scrollWidth")
        culprits = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
        assert wide <= viewport["width"] + 1, f"{name} is {wide}px wide: {culprits}"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desktop", "phone"])
def test_a_capannori_variant_from_the_studio_to_migrated_cases(browser, live_server, viewport, simulator_urls):  # noqa: F811
    label = "phone" if viewport["width"] < 500 else "desktop"
    call_command("sync_processes", verbosity=0)
    capannori = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    lucca = make_tenant("Comune di Lucca", istat="046017", belfiore="E715")
    admin = make_user(capannori, Role.PROCESS_ADMIN, username="process_admin.capannori")
    supervisor = make_user(capannori, Role.SUPERVISOR, username="supervisor.capannori")
    registrar = make_user(capannori, Role.REGISTRAR, username="registrar.capannori")
    lucca_registrar = make_user(lucca, Role.REGISTRAR, username="registrar.lucca")
    shipped = process_latest_version(process_id="residence_change", tenant=capannori)
    assert shipped.tenant_id is None

    # Open Capannori cases on the shipped version: one waiting at the registration (its protocol
    # call delivered), one whose protocol call is still pending (it cannot move now).
    movable = case_start(tenant=capannori, user=registrar, process_id="residence_change", data=declaration_payload())
    print("outbox:", outbox_deliver_due())
    pending = case_start(tenant=capannori, user=registrar, process_id="residence_change", data=declaration_payload())

    base = live_server.url
    page = _page(browser, live_server, admin, viewport)

    # 1. The studio: fork the residence change.
    page.goto(f"{base}/studio/")
    axe(page, f"studio home ({label})")
    page.locator("tr", has_text="Cambio di residenza").locator("button", has_text="Nuova bozza").click()
    page.wait_for_url(f"{base}/studio/bozze/*/")
    draft = Draft.objects.get(tenant=capannori)
    draft_url = f"{base}/studio/bozze/{draft.pk}/"
    assert "Nessun problema" in page.inner_text("main")

    # 2. The new user task in the registrar lane, after the registration (through the draft's text page).
    page.goto(f"{draft_url}testo/?path={MAIN}")
    axe(page, f"studio text page ({label})")
    bpmn = inserted_task_bpmn(page.input_value("#file-content"), due=None)
    page.fill("#file-content", bpmn)
    page.locator("form button[type=submit]", has_text="Salva").first.click()
    page.wait_for_url(f"{draft_url}#problemi")
    problems = page.inner_text("#problem-list")
    # 3. ... the validation names what is wrong: no deadline, a form that does not exist yet.
    assert "missing_due_date" in problems and "check_documents" in problems, problems
    page.wait_for_selector('.studio-diagram [data-element-id="check_documents"].studio-error')
    axe(page, f"studio draft with errors ({label})")
    _fits(page, viewport, "draft page")
    screenshot(page, f"studio-e2e-draft-errors-{label}")

    # 4. The fix in the modeler: a new form from the properties panel, a deadline of 3 working days.
    page.goto(f"{draft_url}modifica/")
    page.wait_for_selector("#studio-modeler[data-ready=true]", timeout=30000)
    page.evaluate("id => window.procedoStudio.focusElement(id)", "check_documents")
    page.wait_for_function("() => (document.querySelector('#bio-properties-panel-id') || {}).value === 'check_documents'")
    page.fill("#bio-properties-panel-procedo-new-form", "check_documents")
    page.click("[data-entry-id=procedo-new-form] button")
    page.wait_for_function("() => document.querySelector('#bio-properties-panel-procedo-form').value === 'check_documents.schema.json'")
    page.fill("#bio-properties-panel-procedo-working-days", "3")
    page.wait_for_function("() => document.querySelector('#bio-properties-panel-procedo-due-date').value === 'add_working_days(received_on, 3)'")
    axe(page, f"studio modeler ({label})")
    screenshot(page, f"studio-e2e-modeler-{label}")
    page.click("[data-studio-action=save]")
    page.wait_for_function("() => document.querySelector('[data-studio-status]').textContent.startsWith('Salvato')")
    page.click("[data-studio-action=validate]")
    page.wait_for_function("() => document.querySelector('[data-studio-problems-summary]').textContent === 'Nessun problema rilevato.'")

    # 5. The new form in the form editor (opened from the draft's file list): one required checkbox.
    page.goto(draft_url)
    page.locator("#file a", has_text="editor dei moduli").filter(has_text="check_documents").click()
    page.wait_for_selector("#studio-form-editor[data-ready=true]")
    page.select_option("#widget-kind", "checkbox")
    page.fill("#widget-title-input", "Documenti completi")
    page.fill("#widget-name", "documents_ok")
    page.click("label[for=widget-required]")
    page.click("[data-widget-form] button[type=submit]")
    page.wait_for_selector("[data-widget-note] >> text=documents_ok")
    page.wait_for_selector("[data-form-preview] >> text=Documenti completi")  # the server's renderer
    axe(page, f"studio form editor ({label})")
    _fits(page, viewport, "form editor")
    page.click("[data-form-save]")
    page.wait_for_function("() => document.querySelector('[data-form-status]').textContent.startsWith('Salvato')")
    draft.refresh_from_db()
    schema = json.loads(draft.files["forms/check_documents.schema.json"])
    assert schema["properties"]["documents_ok"]["type"] == "boolean" and "documents_ok" in schema["required"]

    page.goto(draft_url)
    assert "Nessun problema" in page.inner_text("#problemi"), page.inner_text("#problemi")

    # 6. The scenarios, in the sandbox (the worker's part run here, as the engine worker would).
    page.goto(f"{draft_url}scenari/")
    axe(page, f"studio scenarios ({label})")
    page.click("button:has-text('Esegui gli scenari')")
    page.wait_for_selector("text=Esecuzione degli scenari avviata")
    from studio.models_tools import ScenarioRun
    from studio.scenarios import scenario_run_execute

    run = ScenarioRun.objects.filter(draft_id=draft.pk).latest("pk")
    draft.refresh_from_db()
    scenario_run_execute(run_id=run.pk, files=dict(draft.files), timeout=1800)  # a loaded CI machine
    run.refresh_from_db()
    assert run.finished and run.results, (run.status, run.error)
    page.goto(f"{draft_url}scenari/")
    report = page.inner_text("main")
    assert f"{run.passed_count} riusciti, {run.failed_count} falliti" in report
    assert all(r["name"] in report for r in run.results)
    # The shipped scenarios do not know the new task: the sandbox says so, naming it.
    assert run.failed_count and "check_documents" in report
    print("scenarios:", run.passed_count, "passed,", run.failed_count, "failed",
          [(r["name"], r.get("message")) for r in run.results if not r["passed"]][:3])
    axe(page, f"studio scenario results ({label})")
    _fits(page, viewport, "scenarios page")
    screenshot(page, f"studio-e2e-scenarios-{label}")

    # 6b. Publishing is gated on the scenarios: the draft page says why approval cannot be asked yet,
    # and asking anyway is refused.
    page.goto(draft_url)
    verdict = page.inner_text("#scenari-verdetto")
    assert "Non si può ancora chiedere l'approvazione" in verdict and "non sono riusciti" in verdict, verdict
    assert f"Esecuzione n. {run.pk}" in verdict
    axe(page, f"studio draft, scenarios failed ({label})")
    with page.expect_navigation():
        page.click("button:has-text(\"Chiedi l'approvazione per pubblicare\")")
    assert "non sono riusciti" in page.inner_text("main > .alert-danger")
    assert not draft.requests.exists()

    # 6c. The admin adapts the scenarios to the new task (tests.yaml in the draft's text page: after
    # the registration, the registrar completes the check) and runs them again: all green.
    page.goto(f"{draft_url}testo/?path=tests.yaml")
    page.fill("#file-content", scenarios_with_checked_documents(page.input_value("#file-content")))
    page.locator("form button[type=submit]", has_text="Salva").first.click()
    page.wait_for_url(f"{draft_url}#problemi")
    assert "Gli scenari non sono stati eseguiti sul contenuto attuale" in page.inner_text("#scenari-verdetto")
    page.goto(f"{draft_url}scenari/")
    page.click("button:has-text('Esegui gli scenari')")
    page.wait_for_selector("text=Esecuzione degli scenari avviata")
    green = ScenarioRun.objects.filter(draft_id=draft.pk).latest("pk")
    assert green.pk != run.pk
    draft.refresh_from_db()
    scenario_run_execute(run_id=green.pk, files=dict(draft.files), timeout=1800)
    green.refresh_from_db()
    assert green.finished and green.failed_count == 0 and green.passed_count == len(run.results), (
        green.error, [(r["name"], r.get("message")) for r in green.results if not r["passed"]][:3])
    page.goto(draft_url)
    verdict = page.inner_text("#scenari-verdetto")
    assert "scenari sono riusciti sul contenuto attuale" in verdict and f"n. {green.pk}" in verdict, verdict
    print("scenarios after the edit:", green.passed_count, "passed")

    # 7. Ask for approval.
    page.fill("#request-note", "Verifica dei documenti dopo la registrazione (Capannori).")
    page.click("button:has-text(\"Chiedi l'approvazione per pubblicare\")")
    page.wait_for_selector("text=in attesa di un responsabile")
    assert draft.requests.get().scenario_run_id == green.pk
    axe(page, f"studio draft pending ({label})")
    page.context.close()

    # 8. The supervisor approves.
    page = _page(browser, live_server, supervisor, viewport)
    page.goto(f"{base}/studio/approvazioni/")
    axe(page, f"studio approvals ({label})")
    page.click("text=Esamina e decidi")
    verdict = page.inner_text("#scenari-verdetto")
    assert "scenari sono riusciti sul contenuto attuale" in verdict and f"n. {green.pk}" in verdict, verdict
    assert all(r["name"] in verdict for r in green.results)
    axe(page, f"studio approval ({label})")
    page.click("text=Approva e pubblica")
    assert "Pubblicata la versione" in page.inner_text("main")
    page.context.close()

    # 9. Live for Capannori only.
    variant = ProcessVersion.objects.get(definition__process_id="residence_change", tenant=capannori)
    assert process_latest_version(process_id="residence_change", tenant=capannori).pk == variant.pk
    assert process_latest_version(process_id="residence_change", tenant=lucca).pk == shipped.pk
    new_case = case_start(tenant=capannori, user=registrar, process_id="residence_change", data=declaration_payload())
    lucca_case = case_start(tenant=lucca, user=lucca_registrar, process_id="residence_change", data=declaration_payload())
    assert new_case.process_version_id == variant.pk
    assert lucca_case.process_version_id == shipped.pk

    # 10. Migration of the open Capannori cases: a dry run, then the batch.
    page = _page(browser, live_server, admin, viewport)
    page.goto(f"{base}/amministrazione/migrazioni/")
    axe(page, f"migration plans ({label})")
    page.click("text=Nuovo piano di migrazione")
    page.select_option("#id_source", str(shipped.pk))
    page.select_option("#id_target", str(variant.pk))
    page.fill("#id_title", "Verso la variante di Capannori")
    page.click("button:has-text('Salva il piano')")
    page.wait_for_selector("h1:has-text('Verso la variante di Capannori')")
    plan_url = page.url
    axe(page, f"migration plan ({label})")

    page.click("button:has-text('Prova (nessuna modifica)')")
    page.wait_for_selector("#batch-bar")
    dry = MigrationBatch.objects.get(plan__tenant=capannori)
    migration.batch_run(dry.pk)  # what the engine worker does
    page.wait_for_selector("#batch-progress:has-text('esaminate su')", timeout=10000)
    page.click("text=Aggiorna l'elenco")
    rows = page.locator("tbody tr")
    assert page.locator("tbody tr .badge", has_text="Migrabile").count() >= 1
    refused = page.locator("tbody tr", has_text="servizio esterno")
    assert refused.count() >= 1, page.inner_text("main")
    assert rows.count() >= 2
    axe(page, f"migration dry run ({label})")
    _fits(page, viewport, "dry run")
    screenshot(page, f"studio-e2e-dry-run-{label}")
    assert Case.objects.get(pk=movable.pk).process_version_id == shipped.pk

    page.goto(plan_url)
    page.click("button:has-text('Esegui la migrazione')")
    page.wait_for_selector("#batch-bar")
    real = MigrationBatch.objects.filter(plan__tenant=capannori).latest("pk")
    assert real.pk != dry.pk and real.mode != dry.mode
    migration.batch_run(real.pk)
    page.wait_for_selector("#batch-progress:has-text('esaminate su')", timeout=10000)
    assert Case.objects.get(pk=movable.pk).process_version_id == variant.pk
    assert Case.objects.get(pk=pending.pk).process_version_id == shipped.pk
    assert Case.objects.get(pk=lucca_case.pk).process_version_id == shipped.pk
    page.click("text=Aggiorna l'elenco")
    assert page.locator("tbody tr", has_text="servizio esterno").count() >= 1
    axe(page, f"migration batch ({label})")
    screenshot(page, f"studio-e2e-batch-{label}")
    assert page.troubles == []
