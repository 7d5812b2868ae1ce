"""The studio's pages in a real browser, desktop and phone: the draft's diagram marks the element
with an error, the diff marks added and changed elements (colour and symbol), the approvals page;
axe-core finds nothing serious or critical (the canvas included)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.roles import Role
from engine.selectors import process_latest_version
from studio import services
from tests.e2e.conftest import check_accessibility, screenshot
from tests.factories import make_tenant, make_user, second_factor_client
from tests.studio.helpers import MAIN, NEW_FORM, inserted_task_bpmn, scenarios_passed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _signed_in(browser, live_server, user, viewport):
    client = second_factor_client(user)  # process admins work only with a verified second factor
    context = browser.new_context(viewport=viewport, locale="it-IT", has_touch=viewport["width"] < 500)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    return context


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 812}],
                         ids=["desktop", "phone"])
def test_studio_pages_mark_the_diagram_and_are_accessible(browser, live_server, viewport):
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    admin = make_user(tenant, Role.PROCESS_ADMIN)
    supervisor = make_user(tenant, Role.SUPERVISOR)
    shipped = process_latest_version(process_id="residence_change")
    draft = services.draft_create(tenant=tenant, actor=admin, version_id=shipped.pk)
    services.draft_file_save(tenant=tenant, actor=admin, draft_id=draft.pk, path="forms/check_documents.schema.json",
                             content=NEW_FORM)
    services.draft_file_save(tenant=tenant, actor=admin, draft_id=draft.pk, path=MAIN,
                             content=inserted_task_bpmn(shipped.files[MAIN], due=None))
    phone = viewport["width"] < 500
    suffix = "phone" if phone else "desktop"

    context = _signed_in(browser, live_server, admin, viewport)
    page = context.new_page()
    page.goto(f"{live_server.url}/studio/")
    assert "Cambio di residenza" in page.inner_text("main")
    check_accessibility(page, f"studio home ({suffix})")

    page.goto(f"{live_server.url}/studio/bozze/{draft.pk}/")
    page.wait_for_selector(".studio-diagram .djs-container svg")
    page.wait_for_selector('.studio-diagram [data-element-id="check_documents"].studio-error')
    assert page.locator(".studio-diagram .studio-error-badge").count() >= 1
    assert "missing_due_date" in page.inner_text("#problem-list")
    if phone:
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    check_accessibility(page, f"studio draft ({suffix})")
    screenshot(page, f"studio-draft-{suffix}")

    page.goto(f"{live_server.url}/studio/differenze/?bozza={draft.pk}")
    page.wait_for_selector('.studio-diagram [data-element-id="check_documents"].studio-added')
    assert page.locator('.studio-diagram [data-element-id="f_registered"].studio-changed').count() == 1
    assert page.locator(".studio-diagram .studio-added-badge").first.inner_text() == "+"
    check_accessibility(page, f"studio diff ({suffix})")
    screenshot(page, f"studio-diff-{suffix}")
    context.close()

    services.draft_file_save(tenant=tenant, actor=admin, draft_id=draft.pk, path=MAIN,
                             content=inserted_task_bpmn(shipped.files[MAIN]))
    # The scenarios' green run on this content (the real sandbox run is tests/e2e/test_studio.py's).
    scenarios_passed({"tenant": tenant, "admin": admin}, draft)
    services.publish_request_create(tenant=tenant, actor=admin, draft_id=draft.pk)
    context = _signed_in(browser, live_server, supervisor, viewport)
    page = context.new_page()
    page.goto(f"{live_server.url}/studio/approvazioni/")
    page.click("text=Esamina e decidi")
    assert "Approva e pubblica" in page.inner_text("main")
    check_accessibility(page, f"studio approval ({suffix})")
    page.click("text=Approva e pubblica")
    assert "Pubblicata la versione" in page.inner_text("main")
    check_accessibility(page, f"studio approvals ({suffix})")
    context.close()
