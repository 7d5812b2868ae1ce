"""The studio tool pages in a real browser (Chromium), desktop and 375 px: a process administrator
opens the deed templates check, launches the scenarios and watches the report arrive by polling,
and opens a recording; axe-core finds no serious or critical violation."""

from __future__ import annotations

import pytest
import yaml

from accounts.roles import Role
from engine.bundles import read_bundle
from studio.models import Draft
from studio.models_tools import ScenarioRun
from studio.scenarios import PROCESSES
from tests.e2e import conftest as e2e
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import enrol_totp, make_tenant, make_user, totp_now

browser = e2e.browser  # the e2e suite's Chromium fixture
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _login(page, live_server, user, device) -> None:
    page.goto(f"{live_server.url}/accedi/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/accedi/verifica/**")
    page.fill("#id_code", totp_now(device))
    page.click("button:has-text('Verifica')")
    page.wait_for_url(lambda url: "/accedi/" not in url)


def test_the_studio_tool_pages_work_and_are_accessible(browser, live_server):
    from django.core.management import call_command

    from config.celery import app

    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    admin = make_user(tenant, Role.PROCESS_ADMIN, username="pia.studio")
    device = enrol_totp(admin)
    files = dict(read_bundle(PROCESSES / "residence_change").files)
    raw = yaml.safe_load(files["tests.yaml"])
    files["tests.yaml"] = yaml.safe_dump({"scenarios": raw["scenarios"][:1]}, allow_unicode=True, sort_keys=False)
    from engine.models import ProcessVersion
    from studio.services import draft_create

    shipped = ProcessVersion.objects.filter(definition__process_id="residence_change", tenant__isnull=True).latest(
        "version")
    draft = draft_create(tenant=tenant, actor=admin, version_id=shipped.pk)
    Draft.objects.filter(pk=draft.pk).update(files=files)
    recording = ScenarioRun.objects.create(
        tenant=tenant, draft_id=str(draft.pk), process_id="residence_change", kind="recording", status="done",
        spec={"name": "rec", "start": {"as": "registrar", "data": {}}, "steps": [{"deliver_outbox": True}]},
        results=[{"name": "rec", "passed": True, "message": "", "state": {
            "ready": [{"bpmn_id": "registration", "name": "Registrazione", "role": "registrar"}],
            "status": "open", "outcome": "", "number": "2026/1", "pending_calls": 1, "open_incidents": [],
            "documents": {}, "now": "2026-03-02T08:30:00+00:00"}}],
        created_at="2026-03-02T08:30:00Z")
    # The worker's code, run in the web server's thread (a real worker is tests/engine/test_celery_worker.py).
    app.conf.task_always_eager = True
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="it-IT")
        _login(page, live_server, admin, device)
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server.url}/studio/bozze/{draft.pk}/modelli/")
            assert page.locator("h1", has_text="Modelli degli atti").count() == 1
            # one clean report per shipped deed (notice of start, 10-bis notice, outcome)
            deeds = [f for f in draft.files if f.startswith("deeds/") and f.endswith(".docx")]
            assert page.locator("text=Nessun errore.").count() == len(deeds) >= 1
            check_accessibility(page, f"studio-templates-{width}")
            page.goto(f"{live_server.url}/studio/bozze/{draft.pk}/scenari/")
            check_accessibility(page, f"studio-scenarios-{width}")
            if width == 1280:
                # The run is eager here: the answer comes when the sandbox is done (slow on a loaded machine).
                page.click("button:has-text('Esegui gli scenari')", no_wait_after=True)
                page.wait_for_selector("text=1 riusciti, 0 falliti", timeout=300_000)
                check_accessibility(page, "studio-scenarios-report")
                screenshot(page, "studio-scenarios-report")
            page.goto(f"{live_server.url}/studio/bozze/{draft.pk}/scenari/registrazioni/{recording.pk}/")
            assert page.locator("#f-registration-origin, [name='registration.origin']").count() >= 1
            check_accessibility(page, f"studio-recording-{width}")
            screenshot(page, f"studio-recording-{width}")
        page.close()
    finally:
        app.conf.task_always_eager = False
